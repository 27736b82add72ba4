"""One job on a phone: push the tool, model and libraries (by content), discover what the phone
offers, run a profiling round (delegation coverage, outputs for accuracy) and then measured
rounds of the tool while the phone's own sampler records power, temperature and memory.

Runs in the harness process: the tool runs on the phone, and every call to it has a timeout.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from npubench.devices.android import WORK_DIR, AndroidDevice, q
from npubench.devices.cpu_topology import DEFAULT_THREADS, CpuPlan
from npubench.errors import DeviceError, DeviceLost, NpubenchError, ToolError
from npubench.harness import device_commands as cmds
from npubench.harness import phone_tools, stats
from npubench.harness.backends import BackendSpec
from npubench.harness.settings import MeasureSettings
from npubench.harness.tools import ToolConfig
from npubench.workloads.ort_session import inspection_session

if TYPE_CHECKING:
    from npubench.harness.phone_run import PhoneRun


@dataclass
class DeviceJobOptions:
    require_npu: bool = False
    measure_power: bool = True
    cooldown_c: float = 40.0
    cooldown_timeout_s: float = 60.0


class DelegateFailed(ToolError):
    kind = "delegate"
    infrastructure = False


class ToolFailed(ToolError):
    """The tool ran and failed on this model (a crash, an error exit): a product failure,
    the same on any phone of the kind, so a farm does not retry it. A tool that hangs past its
    timeout is a plain ``ToolError`` (infrastructure)."""

    infrastructure = False


def fix_onnx_input_shapes(model: Path, input_specs: dict, out_dir: Path) -> Path:
    """A copy of an ONNX model whose dynamic input dimensions are fixed to the workload's
    input shapes (onnxruntime_perf_test's random inputs make every free dimension 1, and
    unnamed ones cannot be set with -f). The model itself is returned when nothing is free."""
    import hashlib

    import onnx

    proto = onnx.load(str(model), load_external_data=False)
    initializers = {i.name for i in proto.graph.initializer}
    changed = False
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        shape = getattr(input_specs.get(value.name), "shape", None)
        dims = value.type.tensor_type.shape.dim
        for index, dim in enumerate(dims):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                continue
            size = shape[index] if shape is not None and index < len(shape) else (
                1 if index == 0 else None)
            if size is None:
                continue  # perf_test will make it 1; the record's model is still the same
            dim.Clear()
            dim.dim_value = int(size)
            changed = True
    if not changed:
        return model
    data = proto.SerializeToString()
    try:  # fixed shapes must still pass ONNX Runtime's type inference (an LSTM may not)
        inspection_session(data)
    except Exception:
        return model
    out = out_dir / f"fixed-{hashlib.sha256(data).hexdigest()[:12]}" / model.name
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    return out


def onnx_test_data(model: Path, input_specs: dict, seed: int, work: Path) -> dict[str, Path]:
    """Seeded inputs of the workload's dtype, range and values (e.g. a sample rate), written
    as ``test_data_set_0/input_N.pb`` TensorProtos; empty when the host cannot make them."""
    from onnx import numpy_helper

    from npubench.workloads.inputs import TensorSpec, concrete_shape, make_inputs, specs_from_ort

    try:
        session = inspection_session(model)
        specs = [TensorSpec(s.name, concrete_shape(s, input_specs.get(s.name)), s.dtype)
                 for s in specs_from_ort(session.get_inputs())]
        feeds = make_inputs(specs, input_specs, seed=seed)
    except Exception:  # perf_test's own random inputs (-I) are the fallback
        return {}
    folder = work / f"ort-inputs-{model.stem}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for index, spec in enumerate(specs):
        path = folder / f"input_{index}.pb"
        path.write_bytes(numpy_helper.from_array(feeds[spec.name], spec.name)
                         .SerializeToString())
        files[f"test_data_set_0/input_{index}.pb"] = path
    return files


def remote_model_name(workload_name: str, model: Path) -> str | None:
    """The model's file name on the phone: the workload's name with the file's suffix, so that
    the phone's tools and logs name the workload (a built-in model file is often just
    ``model.onnx``); None (the file's own name) when the workload's name is not a plain file
    name or is already the file's stem."""
    if model.stem == workload_name or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*",
                                                       workload_name):
        return None
    return f"{workload_name}{model.suffix}"


class PhoneJob:
    """Everything one (workload, backend) needs on one phone."""

    def __init__(self, device: AndroidDevice, model: Path, backend: BackendSpec,
                 settings: MeasureSettings, tools: ToolConfig, work: Path, log: Path,
                 options: DeviceJobOptions, input_specs: dict | None = None,
                 run: PhoneRun | None = None, model_name: str | None = None):
        self.device = device
        self.model_name = model_name
        """The model's file name on the phone (``remote_model_name``); None: its own."""
        self.run = run
        """The run's state for this phone (its session, the host's per-model work), or None:
        this job then prepares and restores the phone on its own."""
        self.model = model
        self.backend = backend
        self.settings = settings
        self.tools = tools
        self.work = work
        self.log = log
        self.options = options
        self.input_specs = input_specs or {}
        self.token = secrets.token_hex(3)
        self.pid_file = f"{WORK_DIR}/tool-{self.token}.pid"
        self.tool_wall_s = 0.0
        """Wall time of the tool's own invocations (the rest of a job is the harness's)."""
        explicit = backend.options.get("threads")
        self.cpu = (run.session.cpu_plan(explicit) if run is not None else
                    CpuPlan(explicit or DEFAULT_THREADS, None, "?threads" if explicit else
                            f"no phone session: {DEFAULT_THREADS} threads, not pinned"))
        """Threads and the cores the tool is pinned to (``devices.cpu_topology``)."""

    def measurement(self, expect_active_s: float | None = None):
        """The context of the measured part of the job (``devices.phone_session``): the run's
        session of this phone, or one of its own."""
        opts = self.options
        if self.run is not None:
            return self.run.session.measure(pid_file=self.pid_file,
                                            idle_s=self.settings.idle_baseline_s,
                                            expect_active_s=expect_active_s,
                                            label=self.log.stem)
        from npubench.devices.phone_session import prepare_power_measurement

        return prepare_power_measurement(
            self.device, measure_power=opts.measure_power, cooldown_c=opts.cooldown_c,
            cooldown_timeout_s=opts.cooldown_timeout_s,
            idle_s=self.settings.idle_baseline_s, pid_file=self.pid_file)

    def runtime_cpus(self) -> dict[str, Any]:
        """The record's ``runtime_details`` about threads and cores."""
        return {"threads": self.cpu.threads, "cpus": list(self.cpu.cpus) if self.cpu.cpus
                else None, "taskset_mask": self.cpu.mask, "cpu_source": self.cpu.source}

    # --- preparation -----------------------------------------------------------------------

    def prepare(self) -> None:
        device = self.device
        self.tool_name = cmds.tool_for(self.backend)
        self.tool_remote = phone_tools.tool_path(device, self.tools, self.tool_name)
        self.ort_test_data = False
        if self.backend.runtime == "ort":
            model, data = self._ort_inputs()
            name = self.model_name or model.name
            if data:  # the model and its seeded inputs, in the layout perf_test reads
                folder = device.push_folder_by_content({name: model, **data})
                self.model_remote = f"{folder}/{name}"
                self.ort_test_data = True
            else:
                self.model_remote = device.push_by_content(model, name=name).remote
        else:
            self.model_remote = device.push_by_content(self.model, name=self.model_name).remote
        self.qnn_dir = None
        if self.backend.accelerator == "qnn-htp":
            self.qnn_dir = phone_tools.qnn_libs(device, self.tools)
        self.nnapi_accelerator = None
        if self.backend.base == "tflite:nnapi":
            self.nnapi_accelerator = self._nnapi_accelerator()

    def _ort_inputs(self) -> tuple[Path, dict[str, Path]]:
        """The ONNX model with fixed input shapes and its seeded test data: made once per model
        in a run (the same for every ORT backend of it)."""
        key = ("ort-inputs", str(self.model), repr(sorted(self.input_specs.items())),
               self.settings.seed)
        cache = self.run.host_cache if self.run is not None else {}
        if key not in cache:
            model = fix_onnx_input_shapes(self.model, self.input_specs, self.work)
            cache[key] = (model, onnx_test_data(model, self.input_specs, self.settings.seed,
                                                self.work))
        return cache[key]

    def _nnapi_accelerator(self) -> str | None:
        """Asked of the phone once (benchmark_model prints the list), then chosen by the SoC
        catalogue's preference: never hard-coded."""
        cache = getattr(self.device, "_nnapi_available", None)
        if cache is None:
            from npubench.devices import soc

            inv = cmds.benchmark_model(self.model_remote, BackendSpec("tflite", "nnapi"),
                                       threads=1, num_runs=1, min_secs=0, warmup_runs=0)
            parsed, _ = self._run_tool(inv, timeout_s=60)
            cache = parsed.get("nnapi_accelerators") or []
            entry = soc.lookup(self.device.getprops())
            self.device._nnapi_available = cache
            self.device._nnapi_preferred = entry.nnapi_accelerators if entry else ()
        return cmds.choose_nnapi_accelerator(cache, self.device._nnapi_preferred)

    # --- running the tool ------------------------------------------------------------------

    def invocation(self, *, runs: int, min_secs: float, warmup_runs: int, profiling: bool,
                   inputs=None, output_file=None) -> cmds.ToolInvocation:
        threads = self.cpu.threads
        if self.backend.runtime == "tflite":
            return cmds.benchmark_model(
                self.model_remote, self.backend, threads=threads, num_runs=runs,
                min_secs=min_secs, warmup_runs=warmup_runs,
                nnapi_accelerator=self.nnapi_accelerator, qnn_dir=self.qnn_dir,
                require_full_delegation=self.options.require_npu, op_profiling=profiling,
                inputs=inputs, output_file=output_file)
        return cmds.ort_perf_test(self.model_remote, self.backend, threads=threads, runs=runs,
                                  qnn_dir=self.qnn_dir,
                                  require_full_delegation=self.options.require_npu,
                                  seed=self.settings.seed,
                                  random_inputs=not self.ort_test_data)

    def _run_tool(self, inv: cmds.ToolInvocation, timeout_s: float) -> tuple[dict, int]:
        from npubench.harness.parsers import parse

        line = cmds.shell_line(f"{WORK_DIR}", self.tool_remote, inv, self.pid_file,
                               self.cpu.mask)
        started = time.monotonic()
        try:
            result = self.device.run(line, timeout_s=timeout_s, check=False)
        except DeviceLost:
            raise
        except DeviceError as exc:
            if "timed out" in str(exc):
                self._kill_tool()
                raise ToolError(self.device.spec, f"{self.tool_name} did not finish within "
                                f"{timeout_s:.0f} s and was killed on the phone") from None
            raise
        self.tool_wall_s += time.monotonic() - started
        self.last_output = result.text  # for fields the parser does not keep (llama-bench)
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(f"$ {line}\n{result.text}\n[exit {result.exit_code}]\n")
        parsed = parse(self.tool_name, result.text)
        return parsed, result.exit_code

    def output_file(self) -> str:
        """Where the tool writes the outputs of the accuracy check on the phone."""
        return f"{WORK_DIR}/outputs-{self.token}.bin"

    def cleanup(self) -> None:
        """Remove the job's files from the phone's work folder (the tool's pid file, its
        outputs): nothing of a job stays on the phone. Never raises (a lost link leaves them to
        the run's end, ``harness.phone_run``, or to ``npubench clean``)."""
        try:
            self.device.run(f"rm -f {q(self.pid_file)} {q(self.output_file())}",
                            check=False, timeout_s=10)
        except Exception:
            pass

    def _kill_tool(self) -> None:
        try:
            self.device.run(f"kill -9 $(cat {self.pid_file}) 2>/dev/null", timeout_s=10,
                            check=False)
        except NpubenchError:
            pass

    def check(self, parsed: dict, code: int) -> None:
        """A tool run that failed, or whose delegate failed to apply, is an error."""
        delegation = parsed.get("delegation") or {}
        failed = code != 0 or parsed.get("failed")
        error = str(parsed.get("error") or "")
        if "Disallowed CPU fallback" in error:
            raise DelegateFailed(self.device.spec, f"{self.backend.base}: part of the graph "
                                 "would run on the CPU and full delegation was required "
                                 f"({error})")
        if delegation.get("status") == "failed" or (failed and "delegate" in error.lower()):
            raise DelegateFailed(self.device.spec, f"{self.backend.base}: the delegate failed "
                                 f"to apply: {error or 'see the log'}")
        if code != 0 or parsed.get("failed") or not parsed.get("latency_ms"):
            reason = parsed.get("error") or f"exit code {code}"
            if code in (139, 134, 136):
                reason = f"the tool crashed (exit {code}): {reason}"
            raise ToolFailed(self.device.spec, f"{self.tool_name} failed: {reason}")

    # --- rounds ----------------------------------------------------------------------------

    def measured_rounds(self) -> tuple[list[dict], str]:
        """Repeat the tool until the median of the rounds' means is known to the target
        precision, or the limits: a distribution of rounds, not one average."""
        s = self.settings
        rounds: list[dict] = []
        begin = time.monotonic()
        reason = "max_rounds"
        while len(rounds) < s.device_rounds_max:
            inv = self.invocation(runs=s.device_round_runs, min_secs=s.device_round_min_secs,
                                  warmup_runs=s.device_round_warmup_runs, profiling=False)
            parsed, code = self._run_tool(inv, timeout_s=s.job_timeout_s)
            self.check(parsed, code)
            rounds.append(parsed)
            means = [r["latency_ms"]["mean"] for r in rounds]
            if len(rounds) >= s.device_rounds_min:
                if stats.relative_half_width(means) <= s.target_precision:
                    reason = "precision"
                    break
                if time.monotonic() - begin >= s.max_seconds:
                    reason = "max_seconds"
                    break
        return rounds, reason


def telemetry_fields(tele: dict[str, Any]) -> dict[str, Any]:
    """The result fields a phone job takes from its power session's ``result`` as they are:
    power, thermal, telemetry quality, preconditions (each missing one with its reason)."""
    keys = ("memory_missing_reason", "power", "power_missing_reason", "thermal",
            "thermal_missing_reason", "telemetry", "preconditions")
    return {key: tele.get(key) for key in keys}


def summarize_rounds(rounds: list[dict]) -> dict[str, Any]:
    """The record's latency fields from the rounds (each round's mean is one sample)."""
    means = [r["latency_ms"]["mean"] for r in rounds]
    iterations = sum(r["latency_ms"]["n"] for r in rounds)
    inference_ms = sum(r["latency_ms"]["n"] * r["latency_ms"]["mean"] for r in rounds)
    first = rounds[0]
    return {
        "latency_ms": stats.summarize(means),
        "init_ms": first.get("init_ms") or first.get("session_creation_ms"),
        "first_inference_ms": first.get("first_inference_ms"),
        "warmup": {"iterations": None, "mean_ms": first.get("warmup_mean_ms")},
        "iterations": iterations,
        "measured_s": inference_ms / 1e3,
        "samples": {"latency_ms": means,
                    "rounds": [r["latency_ms"] for r in rounds]},
    }


def phone_backends(device: AndroidDevice, tools: ToolConfig) -> dict[str, str | None]:
    """The backends worth trying on this phone's SoC, each with None when its tool is at hand
    (configured on this computer, or installed on the phone) or the reason it is not."""
    from npubench.harness.device_llm import lib_dir_reason

    out: dict[str, str | None] = {}
    offered = device.backends()
    for base in offered:
        spec = BackendSpec(*base.split(":", 1))
        reason = phone_tools.tool_reason(device, tools, cmds.tool_for(spec))
        if reason is None and spec.accelerator == "qnn-htp":
            reason = phone_tools.qnn_reason(device, tools)
        if reason is None and spec.runtime == "llama" and spec.accelerator != "cpu":
            reason = lib_dir_reason(device, tools)
        out[base] = reason
    if "llama:htp" not in offered:  # say why, rather than "does not run on PHONE"
        info = device.info()
        out["llama:htp"] = (
            "llama:htp needs a Hexagon NPU that llama.cpp's Hexagon backend supports "
            "(libggml-htp-v73/v75/v79/v81; the SoC catalogue lists it for Snapdragon 8 Gen 2 "
            f"and newer), and this phone has {info.soc.name or info.soc.part or 'an unknown SoC'}"
            f" with NPU {info.npu or 'unknown'}")
    return out
