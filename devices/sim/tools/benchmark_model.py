"""The simulated phone's ``benchmark_model`` (TFLite/LiteRT benchmark tool, modern output).

It runs for real: the ``.tflite`` file from the phone's storage is loaded with LiteRT on the
host (XNNPACK on unless ``--use_xnnpack=false``, ``--num_threads``), fed the
``--input_layer_value_files`` (raw little-endian bytes per input, in input order) or random
data, and invoked for the warm-up
and regular runs under the tool's min/max seconds and run-count rules. Its output is the real
tool's text (stdout for the tool's INFO/WARN lines, stderr for ERROR lines and for the runtime's
own log lines). Delegates (GPU, NNAPI with an accelerator name, QNN HTP through
``--external_delegate_path``, Neuron) take the nodes the phone's profile says they support
(``tflite_delegates.py``) but the work still runs on the host CPU: **every latency is a host
latency**. Op profiling: LiteRT's Python API has no per-op profiler, so each regular run's
measured time is apportioned over the nodes by an operation-cost estimate (multiply-accumulates
of convolutions and fully-connected layers, tensor sizes otherwise); the table's format is the
real one, its per-op split is an estimate. Memory lines and ``/proc/<pid>/status`` are the
simulated footprint of ``common.Footprint``.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from typing import NoReturn

import numpy as np

from npubench.devices.sim.cmdio import Invocation
from npubench.devices.sim.native_stderr import runtime_lines_held
from npubench.devices.sim.slowdown import backend_of_benchmark_model
from npubench.devices.sim.timing import sha256_bytes, wait
from npubench.devices.sim.tools import tflite_flags as flags
from npubench.devices.sim.tools.common import Aborted, Crashed, Footprint, ToolRun, g, program
from npubench.devices.sim.tools.delegation import Node, nnapi_devices
from npubench.devices.sim.tools.tflite_delegates import Applier, Graph, Item, Log
from npubench.devices.sim.tools.tfstats import Row, profile_report, stat_line

NAME = "benchmark_model"
BASE_KB, BASE_FILE_KB = 5_632, 3_904
"""Simulated footprint of the tool itself before it loads a model (its code and heap)."""


def main(inv: Invocation, run: ToolRun) -> int:
    log = Log(inv.out, inv.err)
    log.info("STARTING!")
    try:
        params = flags.parse(inv.args)
    except flags.FlagError as exc:
        log.error(str(exc))
        log.error(flags.usage(inv.argv[0]))
        log.error("Benchmarking failed.")
        return 1
    if params.unconsumed:
        log.warn("Unconsumed cmdline flags: " + " ".join(params.unconsumed))
    devices = list(nnapi_devices(inv.userland.profile.delegates))
    message = _validate(params)
    if message is not None:
        log.error(message)
        error: int | None = 1
    elif not _check_value_files(params, log):
        error = 1
    else:
        for line in flags.echo(params, devices):
            log.info(line)
        error = Benchmark(inv, run, params, log).run()
    if error:
        log.error("Benchmarking failed.")
        return error
    return 0


def _validate(params: flags.Params) -> str | None:
    """BenchmarkTfLiteModel::ValidateParams: the error message, or None."""
    if not params["graph"]:
        return "Please specify the name of your TF Lite input file with --graph"
    names = [n for n in str(params["input_layer"]).split(",") if n]
    shapes = [s for s in str(params["input_layer_shape"]).split(":") if s]
    if len(names) != len(shapes):
        return (f"The number of items in --input_layer_shape ({params['input_layer_shape']}, "
                f"with {len(shapes)} items) must match the number of items in --input_layer "
                f"({params['input_layer']}, with {len(names)} items). For example "
                "--input_layer=input1,input2 --input_layer_shape=1,224,224,4:1,20")
    return None


def split_value_file_item(item: str) -> tuple[str, str]:
    """``SplitInputLayerNameAndValueFile``: ``NAME:PATH`` split at the one ':' that is not
    doubled, then ``::`` -> ``:`` in both parts (``input::0:/tmp/in`` -> ``input:0``,
    ``/tmp/in``). ValueError with the tool's message for no delimiter or more than one."""
    delim, i = -1, 0
    while i < len(item) - 1:  # like the tool, the last character is never a delimiter
        if item[i] == ":":
            if item[i + 1] == ":":
                i += 1
            elif delim == -1:
                delim = i
            else:
                raise ValueError(f"{item} contains more than one delimiter.")
        i += 1
    if delim == -1:
        raise ValueError(f"{item} doesn't contain any delimiter.")
    return item[:delim].replace("::", ":"), item[delim + 1:].replace("::", ":")


def _value_file_items(params: flags.Params) -> list[str]:
    return [x for x in str(params["input_layer_value_files"]).split(",") if x]


def _check_value_files(params: flags.Params, log: Log) -> bool:
    """``PopulateInputValueFiles`` (part of ValidateParams): a malformed item is an error, a
    name that is not in ``--input_layer`` is FATAL (abort)."""
    names = [n for n in str(params["input_layer"]).split(",") if n]
    for item in _value_file_items(params):
        try:
            name, _ = split_value_file_item(item)
        except ValueError as exc:
            log.error(str(exc))
            log.error(f"Wrong input value file item specified: {item}")
            log.error("1")  # the tool logs the TfLiteStatus as a number
            return False
        if name not in names:
            log.runtime(f"Cannot find the corresponding input_layer name({name}) in "
                        f"--input_layer as {params['input_layer']}", "FATAL")
            raise Aborted()
    return True


class _Pace:
    """The sleep after each run: ``--run_delay`` seconds, or with ``--run_frequency`` F > 0
    until the next 1/F slot of a schedule that starts at the loop's start (as the real tool:
    a negative wait returns at once and the schedule is not moved)."""

    def __init__(self, delay_s: float, frequency: float, start: float):
        self.delay_s = delay_s
        self.gap_s = 1.0 / frequency if frequency > 0 else None
        self.next_s = start + (self.gap_s or 0.0)

    def wait(self, sleep) -> None:
        delay = self.delay_s
        if self.gap_s is not None:
            delay = self.next_s - time.perf_counter()
            self.next_s += self.gap_s
        if delay > 0:
            sleep(delay)


class Benchmark:
    def __init__(self, inv: Invocation, run: ToolRun, params: flags.Params, log: Log):
        self.inv, self.run_, self.params, self.log = inv, run, params, log
        self.userland = inv.userland
        import ai_edge_litert.interpreter  # noqa: F401  (loading the runtime is not the model's)

        self.memory = Footprint(BASE_KB)
        threads = int(params["num_threads"])
        self.threads = threads if threads > 0 else 1
        self._shapes: dict[int, tuple[int, ...]] = {}
        self.factor = 1.0
        self.modeled = None
        """A ``timing.ModeledRun`` under ``--timing modeled``: the loops wait, not compute."""
        self._run_load = None
        """Paced runs: the physics load of one run (entered around each run only)."""

    def run(self) -> int | None:
        p, log, fs = self.params, self.log, self.userland.fs
        graph_arg = str(p["graph"])
        start = time.perf_counter()
        host = fs.host_path(self.inv.path(graph_arg))
        data = host.read_bytes() if host is not None and host.is_file() else None
        if data is None or data[4:8] != b"TFL3":
            log.runtime(f"Could not open '{graph_arg}'." if data is None else
                        "The model is not a valid Flatbuffer buffer", "ERROR")
            log.error(f"Failed to load model {graph_arg}")
            return 1
        log.info(f"Loaded model {graph_arg}")
        # the ground-truth slowdown knob (devices/sim/slowdown.py): scales every time measured
        self.factor = self.userland.slowdown.factor(self.inv.path(graph_arg),
                                                    backend_of_benchmark_model(p), NAME)
        if self.run_.faults.hang:
            self.run_.hang()
        interp, graph, alloc_us, alloc_kb = self._interpreter(str(host), data)
        if interp is None:
            return 1
        delegation = Applier(graph, p, self.userland.profile.delegates, log, self._file_bytes,
                             self.userland.props.get("ro.product.cpu.abilist", "arm64-v8a"),
                             set(self.run_.faults.refuse_delegates)).run(flags.neuron_echo(p))
        if delegation.failed:
            return 1
        init_s = time.perf_counter() - start
        timing = self.userland.timing
        if timing.modeled:  # --timing modeled (devices/sim/timing.py): wait, do not compute
            sha = sha256_bytes(data)
            init_s = timing.init_s(sha, backend_of_benchmark_model(p), init_s)
            wait(self.run_.sleep, init_s, start)
        init_us = int(init_s * 1e6 * self.factor)
        init_kb = self.memory.growth_kb(self._estimate_kb(interp, len(data)))
        self.run_.proc.update(BASE_KB + init_kb, BASE_FILE_KB + len(data) // 1024,
                              self.threads + 1)
        log.info(f"The input model file size (MB): {g(len(data) / 1e6)}")
        log.info(f"Initialized session in {g(init_us / 1e3)}ms.")
        inputs = self._inputs(interp)
        if timing.modeled:
            self._input_details = interp.get_input_details()
            self.modeled = timing.run(NAME, sha, backend_of_benchmark_model(p),
                                      lambda: self._time_once(interp, inputs),
                                      shares=self._shares(graph, delegation.units))
        if p["dry_run"]:
            p.values.update(warmup_runs=0, warmup_min_secs=-1.0, num_runs=0, min_secs=-1.0)
        # paced runs (--run_frequency/--run_delay) load the phone only while they compute
        self._paced = float(p["run_frequency"]) > 0 or float(p["run_delay"]) > 0
        load = self._load(graph, delegation.units)
        self._run_load = load if self._paced else None
        with nullcontext() if self._paced else load():
            warmup = self._loop(interp, inputs, int(p["warmup_runs"]),
                                float(p["warmup_min_secs"]), crash=self.run_.faults.crash)
            regular = None if warmup is None else self._loop(
                interp, inputs, int(p["num_runs"]), float(p["min_secs"]))
        if regular is None:
            return 1
        overall_kb = max(self.memory.growth_kb(init_kb), init_kb)
        self.run_.proc.update(BASE_KB + overall_kb)
        self._summary(init_us, warmup, regular, init_kb, overall_kb, len(data))
        if p["enable_op_profiling"]:
            self._profiles(graph, delegation.plan, regular, alloc_us, alloc_kb)
        if p["output_filepath"]:
            self._save_outputs(interp)
        return None

    # --- LiteRT on the host ------------------------------------------------------------------

    def _interpreter(self, model_path: str, data: bytes):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        p = self.params
        xnnpack_off = p.is_set("use_xnnpack") and not p["use_xnnpack"]
        resolver = (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if xnnpack_off
                    else OpResolverType.AUTO)
        stage = "Failed to initialize the interpreter"
        try:
            with runtime_lines_held():  # the phone's log has them; the host's terminal not
                interp = Interpreter(model_path=model_path,
                                     experimental_op_resolver_type=resolver,
                                     num_threads=int(p["num_threads"]) if p["num_threads"] > 0
                                     else None)
                ops = interp._get_ops_details()
                if self._resize(interp) is False:
                    return None, None, 0, 0
                before_kb = self.memory.growth_kb()
                stage = "Failed to allocate tensors!"
                t0 = time.perf_counter()
                interp.allocate_tensors()
                alloc_us = int((time.perf_counter() - t0) * 1e6)
        except (ValueError, RuntimeError) as exc:
            # LiteRT joins the error reporter's messages; the phone prints one ERROR: each
            for report in str(exc).strip().replace(" Node number ", "\0Node number ").split("\0"):
                self.log.runtime(report, "ERROR")
            self.log.error(stage)
            return None, None, 0, 0
        nodes = tuple(Node(o["index"], o["op_name"], tuple(int(t) for t in o["inputs"]),
                           tuple(int(t) for t in o["outputs"])) for o in ops)
        after = interp._get_ops_details()[len(ops):]
        kernels = [Node(o["index"], o["op_name"], tuple(int(t) for t in o["inputs"]),
                        tuple(int(t) for t in o["outputs"])) for o in after]
        from npubench.devices.sim.tools.delegation import covered_nodes

        details = interp.get_tensor_details()
        self._shapes = {d["index"]: tuple(int(x) for x in d["shape"]) for d in details}
        graph = Graph(nodes, {d["index"]: d["name"] for d in details},
                      tuple(int(d["index"]) for d in interp.get_output_details()),
                      _subgraph_name(data), frozenset(covered_nodes(nodes, kernels)))
        return interp, graph, alloc_us, max(self.memory.growth_kb() - before_kb, 0)

    def _resize(self, interp) -> bool | None:
        names = [n for n in str(self.params["input_layer"]).split(",") if n]
        shapes = [s for s in str(self.params["input_layer_shape"]).split(":") if s]
        details = interp.get_input_details()
        for j, (name, shape_text) in enumerate(zip(names, shapes, strict=True)):
            if j >= len(details):
                break
            t = details[j]
            if name != t["name"]:
                self.log.warn(f"Tensor # {t['index']} is named {t['name']} but flags call it "
                              f"{name}")
            shape = [int(x) for x in shape_text.split(",")]
            if len(shape) != len(t["shape"]):
                self.log.error(f"Input tensor #{t['index']} should have {len(t['shape'])} "
                               "dimensions!")
                return False
            if list(t["shape"]) != shape:
                interp.resize_tensor_input(t["index"], shape)
        return None

    def _inputs(self, interp) -> list[np.ndarray]:
        """PrepareInputData: the value files (raw bytes) or random data, per input."""
        files = dict(split_value_file_item(x) for x in _value_file_items(self.params))
        names = [n for n in str(self.params["input_layer"]).split(",") if n]
        rng = np.random.default_rng()
        arrays = []
        for j, t in enumerate(interp.get_input_details()):
            shape, dtype = tuple(int(d) for d in t["shape"]), np.dtype(t["dtype"])
            path = files.get(names[j]) if j < len(names) else None
            if path is not None:
                raw = self._file_bytes(path)
                nbytes = int(np.prod(shape)) * dtype.itemsize
                if raw is None:
                    self._fatal(f"Failed to read the input_layer_value_file:{path}")
                if len(raw) != nbytes:
                    self._fatal(f"The size of {path} is {len(raw)} bytes. It should be "
                                       f"{nbytes} bytes.")
                arrays.append(np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(shape)
                              .astype(dtype))
            else:
                arrays.append(_random(rng, shape, dtype))
        return arrays

    def _fatal(self, message: str) -> NoReturn:
        self.inv.err(f"FATAL: {message}\n")  # TFLITE_LOG(FATAL) then abort()
        raise Aborted()

    def _loop(self, interp, inputs, min_runs: int, min_secs: float, crash: bool = False):
        max_secs = float(self.params["max_secs"])
        self.log.info(f"Running benchmark for at least {min_runs} iterations and at least "
                      f"{g(min_secs)} seconds but terminate if exceeding {g(max_secs)} seconds.")
        if crash:
            raise Crashed()
        details = interp.get_input_details()
        now = time.perf_counter()
        # BenchmarkModel::Run: --run_frequency (over --run_delay) sleeps until the next slot
        # of a fixed schedule; a run that overran its slot is followed at once (catch-up)
        pace = _Pace(float(self.params["run_delay"]), float(self.params["run_frequency"]), now)
        min_finish, max_finish = now + min_secs, now + max_secs
        samples: list[int] = []
        while (len(samples) < min_runs or now < min_finish) and now <= max_finish:
            self.run_.check()
            busy = self._run_load() if self._run_load is not None else nullcontext()
            if self.modeled is not None:  # modeled timing: wait the modeled time
                modeled_s = self.modeled.next_s()
                with busy:
                    self.run_.sleep(modeled_s)
                samples.append(int(modeled_s * 1e6 * self.factor))
                pace.wait(self.run_.sleep)
                now = time.perf_counter()
                continue
            for t, array in zip(details, inputs, strict=True):
                interp.set_tensor(t["index"], array)
            t0 = time.perf_counter_ns()
            try:
                with busy:
                    interp.invoke()
            except RuntimeError as exc:
                for line in str(exc).strip().splitlines():
                    self.log.runtime(line, "ERROR")
                return None
            samples.append(int((time.perf_counter_ns() - t0) * self.factor) // 1000)
            pace.wait(self.run_.sleep)
            now = time.perf_counter()
        self.log.info(stat_line(samples) + "\n")
        return samples

    def _time_once(self, interp, inputs) -> float:
        """One real inference on the host, seconds (the modeled timing's calibration)."""
        for t, array in zip(self._input_details, inputs, strict=True):
            interp.set_tensor(t["index"], array)
        t0 = time.perf_counter()
        interp.invoke()
        return time.perf_counter() - t0

    def _shares(self, graph: Graph, units: dict[int, str]) -> dict[str, float]:
        """The share of the work on each unit (by the cost estimate)."""
        weights = _weights(graph, self._shapes)
        share = {"cpu": 0.0, "gpu": 0.0, "npu": 0.0}
        for node in graph.nodes:
            share[units.get(node.index, "cpu")] += weights[node.index]
        return share

    def _load(self, graph: Graph, units: dict[int, str]):
        """Physics load while the runs go (a context-manager factory): the share of the work
        on each unit (by cost)."""
        share = self._shares(graph, units)
        accelerated = share["gpu"] + share["npu"] > 0
        cores = max(self.threads * share["cpu"], 0.2 if accelerated else 0.0)
        physics = self.userland.physics
        return lambda: physics.load(cores=cores, gpu=share["gpu"], npu=share["npu"])

    # --- output ------------------------------------------------------------------------------

    def _summary(self, init_us, warmup, regular, init_kb, overall_kb, model_bytes) -> None:
        log = self.log
        first = warmup[0] if warmup else 0
        log.info(f"Inference timings in us: Init: {init_us}, First inference: {first}, "
                 f"Warmup (avg): {g(_avg(warmup))}, Inference (avg): {g(_avg(regular))}")
        log.info("Note: as the benchmark tool itself affects memory footprint, the following is "
                 "only APPROXIMATE to the actual memory footprint of the model at runtime. Take "
                 "the information at your discretion.")
        log.info(f"Memory footprint delta from the start of the tool (MB): "
                 f"init={g(init_kb / 1024.0)} overall={g(overall_kb / 1024.0)}")
        if self.params["report_peak_memory_footprint"]:
            peak_kb = BASE_KB + max(self.memory.peak_growth_kb, overall_kb)
            rss_mb = (BASE_KB + overall_kb) // 1024
            shared_mb = (BASE_FILE_KB + model_bytes // 1024) // 1024
            log.info(f"Overall peak memory footprint (MB) via periodic monitoring: "
                     f"{g(peak_kb / 1024.0)}")
            log.info("Memory status at the end of exeution:")
            log.info(f"- VmRSS              : {rss_mb} MB")
            log.info(f"+ RssAnnon           : {rss_mb - shared_mb} MB")
            log.info(f"+ RssFile + RssShmem : {shared_mb} MB")

    def _profiles(self, graph: Graph, plan: list[Item], regular, alloc_us, alloc_kb) -> None:
        init = [Row("AllocateTensors", "AllocateTensors/0", (alloc_us,), float(alloc_kb))]
        self.inv.out("INFO: Profiling Info for Benchmark Initialization:\n"
                     + profile_report(init) + "\n\n")
        if not regular:
            return
        weights = _weights(graph, self._shapes)
        rows = []
        for item in plan:
            share = sum(weights[n] for n in item.covers)
            names = ", ".join(graph.tensor_names.get(t, str(t)) for t in item.outputs)
            rows.append(Row(item.type, f"[{names}]:{item.index}",
                            tuple(round(total * share) for total in regular)))
        self.inv.out("INFO: Operator-wise Profiling Info for Regular Benchmark Runs:\n"
                     + profile_report(rows) + "\n\n")

    def _save_outputs(self, interp) -> None:
        """OutputSaver: the output tensors' raw bytes, concatenated in output order."""
        payload = b"".join(np.ascontiguousarray(interp.get_tensor(t["index"])).tobytes()
                           for t in interp.get_output_details())
        try:
            with self.userland.fs.open_write(self.inv.path(str(self.params["output_filepath"])),
                                             0o666) as fh:
                fh.write(payload)
        except OSError:
            pass  # std::ofstream that is not good(): the real tool writes nothing, silently

    # --- helpers ------------------------------------------------------------------------------

    def _file_bytes(self, path: str) -> bytes | None:
        try:
            return self.userland.fs.read_bytes(self.inv.path(path))
        except OSError:
            return None

    def _estimate_kb(self, interp, model_bytes: int) -> int:
        tensors = sum(int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize
                      for d in interp.get_tensor_details() if d["dtype"] is not np.object_)
        return (model_bytes + tensors) // 1024


def _subgraph_name(data: bytes) -> str:
    try:
        from ai_edge_litert import schema_py_generated as schema

        name = schema.Model.GetRootAs(data, 0).Subgraphs(0).Name()
        return name.decode() if name else ""
    except Exception:  # an unusual flatbuffer: the name is cosmetic
        return ""


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """CreateRandomTensorData's ranges: floats in [-0.5, 0.5), ints 0..99, uint8 0..254,
    int8 -127..127, bools 0..1."""
    if dtype.kind == "f":
        return rng.uniform(-0.5, 0.5, shape).astype(dtype)
    if dtype == np.uint8:
        return rng.integers(0, 255, shape).astype(dtype)
    if dtype == np.int8:
        return rng.integers(-127, 128, shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(dtype)
    return rng.integers(0, 100, shape).astype(dtype)


def _avg(samples: list[int]) -> float:
    return sum(samples) / len(samples) if samples else math.nan


COST_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL"}


def _weights(graph: Graph, shapes: dict[int, tuple[int, ...]]) -> dict[int, float]:
    """Each node's share of a run, from an operation-cost estimate (documented above)."""

    def elems(t: int) -> int:
        return int(np.prod(shapes.get(t, ()))) if t >= 0 else 0

    costs = {}
    for node in graph.nodes:
        out = sum(elems(t) for t in node.outputs)
        moved = out + sum(elems(t) for t in node.inputs)
        macs = 0
        if node.op in COST_OPS and len(node.inputs) > 1:
            w = shapes.get(node.inputs[1], ())
            per_output = {"CONV_2D": w[1:], "DEPTHWISE_CONV_2D": w[1:3],
                          "FULLY_CONNECTED": w[-1:], "TRANSPOSE_CONV": w[1:],
                          "BATCH_MATMUL": shapes.get(node.inputs[0], ())[-1:]}[node.op]
            macs = out * int(np.prod(per_output)) if per_output else 0
        costs[node.index] = macs + 2 * moved + 2_000
    total = sum(costs.values()) or 1
    return {index: cost / total for index, cost in costs.items()}


command = program(NAME, main, BASE_KB, BASE_FILE_KB)
