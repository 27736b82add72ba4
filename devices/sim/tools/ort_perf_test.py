"""The simulated phone's ``onnxruntime_perf_test`` (getopt-style options, single or double dash).

It runs for real with ONNX Runtime's CPU execution provider on the host and prints the real
tool's lines (``performance_runner.cc``: the nine result lines, the ``DumpToFile`` block and the
latency percentiles in seconds, ``sorted[int(total * q)]``). Execution providers are emulated
from the phone's profile (``delegates.nnapi.onnx_ops``, ``delegates.qnn_htp.onnx_ops``): with
``-C "session.disable_cpu_ep_fallback|1"`` a model with an op the EP does not take fails the way
ORT fails; without it the run goes on (on the host CPU either way: latencies are host
latencies). QNN exists only where the profile has ``qnn_htp``. Memory: ``common.Footprint``.
"""

from __future__ import annotations

import os
import posixpath
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from npubench.devices.sim.cmdio import Invocation
from npubench.devices.sim.slowdown import BACKEND_CLASS, backend_of_ort
from npubench.devices.sim.timing import sha256_bytes, wait
from npubench.devices.sim.tools.common import Crashed, Footprint, ToolRun, g, program
from npubench.devices.sim.tools.delegation import delegate_specs

NAME = "onnxruntime_perf_test"
BASE_KB, BASE_FILE_KB = 9_216, 6_144
OPTIONS = "k:b:m:e:r:t:p:x:y:c:d:o:u:i:f:F:S:T:C:AMPIDZvhsqzn"
WITH_VALUE = {c for c, nxt in zip(OPTIONS, OPTIONS[1:] + " ", strict=True) if nxt == ":"}
FLAGS_ONLY = set(OPTIONS.replace(":", "")) - WITH_VALUE
FALLBACK_ERROR = ("This session contains graph nodes that are assigned to the default CPU EP, "
                  "but fallback to CPU EP has been explicitly disabled by the user.")
EP_SPEC = {"nnapi": "nnapi", "qnn": "qnn_htp"}
ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
             "tensor(double)": np.float64, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
             "tensor(int16)": np.int16, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
             "tensor(bool)": np.bool_}


class UsageError(Exception):
    pass


@dataclass
class Config:
    opts: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    free_dims: dict[str, int] = field(default_factory=dict)
    session_config: dict[str, str] = field(default_factory=dict)
    positional: list[str] = field(default_factory=list)


def parse(argv0: str, args: list[str]) -> Config:
    """getopt(3) over ``OPTIONS`` (``--e`` is read as ``-e``); raises UsageError with
    bionic getopt's message."""
    cfg, i = Config(), 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            cfg.positional.extend(args[i + 1:])
            break
        if arg.startswith("--") and len(arg) > 2:
            arg = arg[1:]
        if not arg.startswith("-") or arg == "-":
            cfg.positional.append(arg)
            i += 1
            continue
        j = 1
        while j < len(arg):
            c = arg[j]
            if c in FLAGS_ONLY:
                cfg.flags.add(c)
                j += 1
                continue
            if c not in WITH_VALUE:
                raise UsageError(f"{argv0}: unknown option -- {c}")
            value = arg[j + 1:]
            if not value:
                i += 1
                if i >= len(args):
                    raise UsageError(f"{argv0}: option requires an argument -- {c}")
                value = args[i]
            _option(cfg, c, value)
            break
        i += 1
    if not cfg.positional:
        raise UsageError("")
    return cfg


def _option(cfg: Config, c: str, value: str) -> None:
    if c == "f":
        name, _, dim = value.partition(":")
        cfg.free_dims[name] = int(dim)
    elif c == "C":
        for pair in value.split():
            key, _, val = pair.partition("|")
            cfg.session_config[key] = val
    else:
        if c == "r":
            cfg.opts["m"] = "times"
        elif c == "t":
            cfg.opts["m"] = "duration"
        cfg.opts[c] = value


def main(inv: Invocation, run: ToolRun) -> int:
    try:
        cfg = parse(inv.argv[0], inv.args)
    except (UsageError, ValueError) as exc:
        if str(exc):
            inv.err(f"{exc}\n")
        inv.out("perf_test [options...] model_path [result_file]\n"
                "Options are getopt letters: -m duration|times -r runs -t seconds -e provider "
                "-x intra-op threads -y inter-op threads -I -S seed -f name:value "
                "-C 'key|value' -i 'key|value' -s -v -h\n")
        inv.err("See 'onnxruntime_perf_test --help'.")
        return 255
    try:
        return PerfTest(inv, run, cfg).run()
    except OrtError as exc:
        inv.err(f"{exc}\n")
        return 255


class OrtError(Exception):
    """What ``main`` catches from ORT: printed on stderr, exit status 255 (-1)."""


class RunFailed(Exception):
    """An inference failed: ``Run failed:MESSAGE`` on stdout, exit status 255."""


class PerfTest:
    def __init__(self, inv: Invocation, run: ToolRun, cfg: Config):
        self.inv, self.run_, self.cfg = inv, run, cfg
        self.userland = inv.userland
        import onnx  # noqa: F401  (loading the runtime is not the model's footprint)
        import onnxruntime  # noqa: F401

        self.memory = Footprint(BASE_KB)
        self.factor = 1.0
        self.modeled = None
        """A ``timing.ModeledRun`` under ``--timing modeled``: runs wait, not compute."""

    def run(self) -> int:
        cfg, out = self.cfg, self.inv.out
        model_arg = cfg.positional[0]
        host = self.userland.fs.host_path(self.inv.path(model_arg))
        if host is None or not host.is_file():
            raise OrtError(f"Load model from {model_arg} failed:Load model {model_arg} failed. "
                           "File doesn't exist")
        threads = int(cfg.opts.get("x", "0"))
        if threads > 0:
            out(f"Setting intra_op_num_threads to {threads}\n")
        if "Z" in cfg.flags:
            out("Disabling intra-op thread spinning between runs\n")
        share = self._provider(str(host))
        # the ground-truth slowdown knob (devices/sim/slowdown.py): scales every time measured
        self.factor = self.userland.slowdown.factor(
            self.inv.path(model_arg), backend_of_ort(cfg.opts.get("e", "cpu")), NAME)
        started = time.perf_counter()
        session, create_s = self._session(str(host), threads)
        timing = self.userland.timing
        backend = backend_of_ort(cfg.opts.get("e", "cpu"))
        if timing.modeled:  # --timing modeled (devices/sim/timing.py): wait, do not compute
            sha = sha256_bytes(host.read_bytes())
            modeled_s = timing.init_s(sha, backend, create_s / self.factor)
            wait(self.run_.sleep, modeled_s, started)
            create_s = modeled_s * self.factor
        if self.run_.faults.hang:
            self.run_.hang()
        if "I" in cfg.flags:
            feeds = self._inputs(session)
        else:  # the test_data_set_N/input_N.pb layout beside the model, as the real tool reads
            feeds = self._test_data(str(host), session)
            if feeds is None:
                name = posixpath.basename(posixpath.dirname(self.inv.path(model_arg)))
                out(f"there is no test data for model {name.removeprefix('test_')}\n")
                out("Run failed:failed to initialize.\n")
                return 255
        if timing.modeled:
            self.modeled = timing.run(NAME, sha, backend, lambda: self._host_once(session, feeds),
                                      shares={"npu": share, "cpu": 1 - share}
                                      if BACKEND_CLASS.get(backend) == "npu" else None)
        if self.run_.faults.crash:
            raise Crashed()
        try:
            self._measure(session, feeds, threads, share, create_s)
        except RunFailed as exc:
            out(f"Run failed:{exc}\n")
            return 255
        return 0

    def _measure(self, session, feeds, threads: int, share: float, create_s: float) -> None:
        """The warm-up run, then the timed runs (``-m times -r N`` or ``-m duration -t S``)."""
        cfg = self.cfg
        cores = threads if threads > 0 else self.userland.profile.cpu_count
        with self.userland.physics.load(cores=max(cores * (1 - share), 0.2), npu=share):
            first_s = self._once(session, feeds)
            costs, started = [], time.perf_counter()
            mode = cfg.opts.get("m", "duration")
            repeats, duration = int(cfg.opts.get("r", "1000")), float(cfg.opts.get("t", "600"))
            cpu0 = os.times()
            while (len(costs) < repeats if mode == "times"
                   else time.perf_counter() - started < duration):
                self.run_.check()
                costs.append(self._once(session, feeds))
            run_s = (sum(costs) if self.modeled is not None
                     else (time.perf_counter() - started) * self.factor)
            cpu1 = os.times()
        grown = self.memory.growth_kb()
        self.run_.proc.update(BASE_KB + grown)
        self._report(create_s, first_s, costs, run_s,
                     cpu1.user + cpu1.system - cpu0.user - cpu0.system, BASE_KB + grown)

    # --- ONNX Runtime on the host -------------------------------------------------------------

    def _provider(self, model_path: str) -> float:
        """Emulate the requested EP: the share of the nodes it takes (0..1); raise like ORT
        when CPU fallback is disabled and it does not take them all."""
        ep = self.cfg.opts.get("e", "cpu")
        if ep in ("cpu", "xnnpack"):
            return 0.0
        if ep not in EP_SPEC:
            raise OrtError(f"{ep} is not supported in this build")
        specs = delegate_specs(self.userland.profile.delegates)
        spec = specs.get(EP_SPEC[ep])
        refused = ep in self.run_.faults.refuse_delegates
        ep_options = dict(pair.partition("|")[::2] for pair in self.cfg.opts.get("i", "").split())
        backend = ep_options.get("backend_path")
        missing = ep == "qnn" and backend and self.userland.fs.stat(self.inv.path(backend)) is None
        if spec is None or refused or missing:  # simulated wording
            what = ("QNN SetupBackend failed Failed to create device. Error: 14001"
                    if ep == "qnn" else "NNAPI model compilation failed: "
                    "ANEURALNETWORKS_OP_FAILED")
            if missing:
                what = (f"QNN SetupBackend failed Unable to load backend. error: dlopen failed: "
                        f"library \"{backend}\" not found")
                spec = None
            self._ort_log("E", "qnn_execution_provider.cc:590 GetCapability" if ep == "qnn"
                          else "nnapi_execution_provider.cc:210 GetCapability", what)
        import onnx

        ops = [n.op_type for n in onnx.load(model_path, load_external_data=False).graph.node]
        taken = 0 if spec is None or refused else sum(op in spec.onnx_ops for op in ops)
        if taken < len(ops):
            if self.cfg.session_config.get("session.disable_cpu_ep_fallback") == "1":
                raise OrtError(FALLBACK_ERROR)
            self._ort_log("W", "session_state.cc:1166 VerifyEachNodeIsAssignedToAnEp",
                          "Some nodes were not assigned to the preferred execution providers "
                          "which may or may not have an negative impact on performance. e.g. "
                          "ORT explicitly assigns shape related ops to CPU to improve perf.")
            self._ort_log("W", "session_state.cc:1168 VerifyEachNodeIsAssignedToAnEp",
                          "Rerunning with verbose output on a non-minimal build will show node "
                          "assignments.")
        return taken / len(ops) if ops else 0.0

    def _ort_log(self, severity: str, where: str, message: str) -> None:
        stamp = datetime.fromtimestamp(self.userland.epoch_s()).strftime("%Y-%m-%d %H:%M:%S.%f")
        self.inv.err(f"{stamp} [{severity}:onnxruntime:Default, {where}] {message}\n")

    def _session(self, model_path: str, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 4  # the host's ORT logs are not the phone's
        if threads > 0:
            options.intra_op_num_threads = threads
        if int(self.cfg.opts.get("y", "0")) > 0:
            options.inter_op_num_threads = int(self.cfg.opts["y"])
        level = {"0": "ORT_DISABLE_ALL", "1": "ORT_ENABLE_BASIC", "2": "ORT_ENABLE_EXTENDED"}
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, level.get(self.cfg.opts.get("o", "99"), "ORT_ENABLE_ALL"))
        for key, value in self.cfg.session_config.items():
            if key != "session.disable_cpu_ep_fallback":  # the EP is emulated, ORT's is CPU
                options.add_session_config_entry(key, value)
        started = time.perf_counter()
        try:
            session = ort.InferenceSession(model_path, options,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT's Fail / InvalidGraph: what() on stderr
            raise OrtError(str(exc).split(" : ", 3)[-1]) from None
        create_s = (time.perf_counter() - started) * self.factor
        self.run_.proc.update(BASE_KB + self.memory.growth_kb(os.path.getsize(model_path) / 1024),
                              BASE_FILE_KB, max(threads, 1) + 2)
        return session, create_s

    @staticmethod
    def _test_data(model_host_path: str, session) -> dict[str, np.ndarray] | None:
        """Inputs from ``test_data_set_0/input_*.pb`` (TensorProto files) next to the model."""
        import glob

        import onnx
        from onnx import numpy_helper

        folder = os.path.join(os.path.dirname(model_host_path), "test_data_set_0")
        files = sorted(glob.glob(os.path.join(folder, "input_*.pb")),
                       key=lambda f: int(os.path.basename(f)[6:-3] or 0))
        if not files:
            return None
        names = [meta.name for meta in session.get_inputs()]
        feeds = {}
        for index, file in enumerate(files):
            tensor = onnx.TensorProto()
            with open(file, "rb") as fh:
                tensor.ParseFromString(fh.read())
            name = tensor.name or (names[index] if index < len(names) else str(index))
            feeds[name] = numpy_helper.to_array(tensor)
        return feeds

    def _inputs(self, session) -> dict[str, np.ndarray]:
        """``-I``: random inputs, free dimensions 1 unless ``-f name:value``; ``-S`` seeds."""
        seed = int(self.cfg.opts.get("S", "-1"))
        rng = np.random.default_rng(None if seed < 0 else seed)
        feeds = {}
        for meta in session.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else self.cfg.free_dims.get(str(d), 1)
                     for d in meta.shape]
            dtype = ORT_TYPES.get(meta.type, np.float32)
            if np.dtype(dtype).kind == "f":
                feeds[meta.name] = rng.random(shape).astype(dtype)
            else:
                feeds[meta.name] = rng.integers(0, 2 if dtype is np.bool_ else 100,
                                                shape).astype(dtype)
        return feeds

    def _host_once(self, session, feeds) -> float:
        """One real inference on the host, seconds (the modeled timing's calibration)."""
        started = time.perf_counter()
        session.run(None, feeds)
        return time.perf_counter() - started

    def _once(self, session, feeds) -> float:
        if self.modeled is not None:  # modeled timing: wait the modeled time
            modeled_s = self.modeled.next_s()
            self.run_.sleep(modeled_s)
            return modeled_s * self.factor
        started = time.perf_counter()
        try:
            session.run(None, feeds)
        except Exception as exc:
            raise RunFailed(str(exc).split(" : ", 3)[-1]) from None
        return (time.perf_counter() - started) * self.factor

    # --- output -----------------------------------------------------------------------------

    def _report(self, create_s, first_s, costs, run_s, cpu_s, footprint_kb) -> None:
        n, total = len(costs), sum(costs)
        cpu = int(cpu_s / (run_s * self.userland.profile.cpu_count) * 100) if run_s > 0 else 0
        peak = footprint_kb * 1024
        lines = [f"Session creation time cost: {g(create_s)} s",
                 f"First inference time cost: {int(first_s * 1000)} ms",
                 f"Total inference time cost: {g(total)} s",
                 f"Total inference requests: {n}",
                 f"Average inference time cost: {g(total / n * 1000) if n else 'nan'} ms",
                 f"Total inference run time: {g(run_s)} s",
                 f"Number of inferences per second: {g(n / run_s) if run_s else 'inf'} ",
                 f"Avg CPU usage: {cpu} %", f"Peak working set size: {peak} bytes"]
        self.inv.out("\n".join(lines) + "\n")
        result_file = self.cfg.positional[1] if len(self.cfg.positional) > 1 else None
        stats = "s" in self.cfg.flags or result_file is None
        if result_file is None:
            self.inv.out(f"Avg CPU usage:{cpu}\nPeak working set size:{peak}\nRuns:{n}\n")
        if not costs or not stats:
            return
        ordered = sorted(costs)
        q = {name: ordered[int(n * frac)] for name, frac in
             (("P50", 0.5), ("P90", 0.9), ("P95", 0.95), ("P99", 0.99), ("P999", 0.999))}
        text = (f"Min Latency: {g(ordered[0])} s\nMax Latency: {g(ordered[-1])} s\n"
                + "".join(f"{name} Latency: {g(v)} s\n" for name, v in q.items()))
        if result_file is not None:
            self._append(result_file, costs, peak, cpu, text)
        self.inv.out(text)

    def _append(self, path: str, costs, peak: int, cpu: int, stats: str) -> None:
        fs, device_path = self.userland.fs, self.inv.path(path)
        name = posixpath.basename(posixpath.dirname(self.inv.path(self.cfg.positional[0])))
        rows = "".join(f"{name},{g(c)},{peak},{cpu},{i}\n" for i, c in enumerate(costs))
        try:
            old = fs.read_bytes(device_path) if fs.stat(device_path) else b""
            with fs.open_write(device_path, 0o666) as fh:
                fh.write(old + (rows + "\n" + stats).encode())
        except OSError:
            self.inv.err(f"failed to open result file '{path}'. will dump stats to output.\n")


command = program(NAME, main, BASE_KB, BASE_FILE_KB)
