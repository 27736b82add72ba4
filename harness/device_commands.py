"""Command lines of the on-device tools, per backend (DEVICE_TOOLS.md sections 1 to 4).
Pure: names and numbers in, argument lists out; quoting happens in ``shell_line``."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from npubench.errors import BackendUnavailable
from npubench.harness.backends import BackendSpec

QNN_HTP_PERFORMANCE_BURST = 2  # TfLiteQnnDelegateHtpPerformanceMode: 2 = burst (not 6)
ADSP_SYSTEM_DIRS = ("/vendor/dsp/cdsp", "/vendor/lib/rfsa/adsp", "/system/lib/rfsa/adsp", "/dsp")


@dataclass(frozen=True)
class ToolInvocation:
    tool: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    delegate: str | None = None
    """The delegate whose coverage matters (None: CPU backends)."""
    accelerator: str = "cpu"  # cpu | gpu | npu


def tool_for(backend: BackendSpec) -> str:
    if backend.runtime == "tflite":
        return ("benchmark_model_plus_neuron_delegate" if backend.accelerator == "neuron"
                else "benchmark_model")
    if backend.runtime == "ort":
        return "onnxruntime_perf_test"
    if backend.runtime == "llama":
        return "llama-bench"
    raise BackendUnavailable(f"{backend.base}: no on-device tool for runtime {backend.runtime}")


def benchmark_model(
    model: str,
    backend: BackendSpec,
    *,
    threads: int,
    num_runs: int,
    min_secs: float,
    warmup_runs: int,
    nnapi_accelerator: str | None = None,
    qnn_dir: str | None = None,
    require_full_delegation: bool = False,
    op_profiling: bool = False,
    inputs: list[tuple[str, tuple[int, ...], str]] | None = None,
    output_file: str | None = None,
) -> ToolInvocation:
    """TFLite's benchmark_model for ``backend`` (``inputs``: name, shape, file on the phone)."""
    args = [f"--graph={model}", f"--num_threads={threads}", f"--num_runs={num_runs}",
            f"--min_secs={min_secs:g}", "--max_secs=150", f"--warmup_runs={warmup_runs}",
            "--warmup_min_secs=0", f"--enable_op_profiling={str(op_profiling).lower()}"]
    env: dict[str, str] = {}
    delegate, accelerator = None, "cpu"
    kind = backend.accelerator
    if kind == "cpu":
        args.append("--use_xnnpack=false")
    elif kind == "xnnpack":
        args.append("--use_xnnpack=true")
    elif kind == "gpu":
        args.append("--use_gpu=true")
        delegate, accelerator = "GPU", "gpu"
    elif kind == "nnapi":
        args.append("--use_nnapi=true")
        if nnapi_accelerator:
            args.append(f"--nnapi_accelerator_name={nnapi_accelerator}")
        delegate, accelerator = "NNAPI", "npu"
    elif kind == "qnn-htp":
        if not qnn_dir:
            raise BackendUnavailable("tflite:qnn-htp needs the QNN SDK libraries",
                                     hint="pass --tool qnn_sdk=PATH_TO_QAIRT")
        options = ";".join([
            "backend_type:htp", f"library_path:{qnn_dir}/libQnnHtp.so",
            f"skel_library_dir:{qnn_dir}",
            f"htp_performance_mode:{QNN_HTP_PERFORMANCE_BURST}",
        ])
        args += [f"--external_delegate_path={qnn_dir}/libQnnTFLiteDelegate.so",
                 f"--external_delegate_options={options}"]
        env = qnn_env(qnn_dir)
        delegate, accelerator = "EXTERNAL", "npu"
    elif kind == "neuron":
        args += ["--use_neuron=true", "--neuron_execution_preference=fast_single_answer"]
        delegate, accelerator = "NeuronDelegate", "npu"
    else:
        raise BackendUnavailable(f"{backend.base}: benchmark_model has no such delegate")
    if require_full_delegation and delegate:
        args.append("--require_full_delegation=true")
    if inputs:
        args += ["--input_layer=" + ",".join(name for name, _, _ in inputs),
                 "--input_layer_shape=" + ":".join(",".join(map(str, shape))
                                                   for _, shape, _ in inputs),
                 "--input_layer_value_files=" + ",".join(value_file_item(name, path)
                                                         for name, _, path in inputs)]
    if output_file:
        args.append(f"--output_filepath={output_file}")
    return ToolInvocation(tool_for(backend), args, env, delegate, accelerator)


def value_file_item(name: str, path: str) -> str:
    """One ``--input_layer_value_files`` item, ``NAME:PATH``. benchmark_model splits it at the
    one ':' that is not doubled (``SplitInputLayerNameAndValueFile``), so a ':' inside the name
    (TFLite tensor names such as ``serving_default_input:0``) or the path is written ``::``."""
    return f"{name.replace(':', '::')}:{path.replace(':', '::')}"


def ort_perf_test(
    model: str,
    backend: BackendSpec,
    *,
    threads: int,
    runs: int,
    qnn_dir: str | None = None,
    require_full_delegation: bool = False,
    free_dims: dict[str, int] | None = None,
    seed: int = 0,
    random_inputs: bool = True,
) -> ToolInvocation:
    """onnxruntime_perf_test for ``backend``, a fixed count of runs; inputs random (-I) or
    from the test_data_set_0/ folder beside the model (``random_inputs=False``)."""
    provider = {"cpu": "cpu", "nnapi": "nnapi", "qnn-htp": "qnn", "xnnpack": "xnnpack"}.get(
        backend.accelerator)
    if provider is None:
        raise BackendUnavailable(f"{backend.base}: onnxruntime_perf_test has no such provider")
    args = (["-I"] if random_inputs else []) + [
        "-m", "times", "-r", str(runs), "-x", str(threads), "-y", "1", "-e", provider,
        "-S", str(seed), "-s"]
    env: dict[str, str] = {}
    delegate, accelerator = None, "cpu"
    if provider == "qnn":
        if not qnn_dir:
            raise BackendUnavailable("ort:qnn-htp needs the QNN SDK libraries",
                                     hint="pass --tool qnn_sdk=PATH_TO_QAIRT")
        args += ["-i", f"backend_path|{qnn_dir}/libQnnHtp.so htp_performance_mode|burst"]
        env = qnn_env(qnn_dir)
        delegate, accelerator = "QNN", "npu"
    elif provider == "nnapi":
        args += ["-i", "NNAPI_FLAG_CPU_DISABLED"]
        delegate, accelerator = "NNAPI", "npu"
    if require_full_delegation and delegate:
        args += ["-C", "session.disable_cpu_ep_fallback|1"]
    for name, value in (free_dims or {}).items():
        args += ["-f", f"{name}:{value}"]
    args.append(model)
    return ToolInvocation("onnxruntime_perf_test", args, env, delegate, accelerator)


LLAMA_DEVICES = {
    # accelerator: (ggml device for -dev, the backend llama-bench names, delegate, accelerator)
    # "none": no ggml device, so nothing is offloaded, not even the big matrix products of the
    # prompt (llama.cpp's own Snapdragon CI runs its CPU case with --device none:
    # ggml-org/llama.cpp scripts/snapdragon/qdc/tests/test_bench.py)
    "cpu": ("none", "CPU", None, "cpu"),
    # ggml-org/llama.cpp ggml/src/ggml-opencl/ggml-opencl.cpp:
    # ggml_backend_opencl_device_get_name() returns "GPUOpenCL"; the registry is "OpenCL"
    "gpu": ("GPUOpenCL", "OpenCL", "OpenCL", "gpu"),
    # docs/backend/snapdragon/README.md: D=HTP0 maps to --device; the registry is "HTP"
    "htp": ("HTP0", "HTP", "HTP", "npu"),
}
LLAMA_ALL_LAYERS = 99  # -ngl: more than any model's layers, as llama.cpp's scripts pass


def llama_bench(
    model: str,
    backend: BackendSpec,
    *,
    threads: int,
    n_prompt: int,
    n_gen: int,
    repetitions: int,
    lib_dir: str | None = None,
) -> ToolInvocation:
    """llama.cpp's llama-bench: one pp test of ``n_prompt`` tokens and/or one tg test of
    ``n_gen`` tokens (0: none), ``repetitions`` times, JSON on stdout. ``lib_dir``: the pushed
    ``lib/`` of the llama.cpp install (its ggml backends and, for the NPU, the Hexagon
    libraries), found through LD_LIBRARY_PATH and ADSP_LIBRARY_PATH (DEVICE_TOOLS.md 3.4)."""
    if backend.accelerator not in LLAMA_DEVICES:
        raise BackendUnavailable(f"{backend.base}: llama-bench has no such device",
                                 hint="use llama:cpu, llama:gpu or llama:htp")
    device, _backend, delegate, accelerator = LLAMA_DEVICES[backend.accelerator]
    layers = 0 if accelerator == "cpu" else LLAMA_ALL_LAYERS
    args = ["-m", model, "-p", str(n_prompt), "-n", str(n_gen), "-r", str(repetitions),
            "-t", str(threads), "-ngl", str(layers), "-dev", device, "-o", "json"]
    env: dict[str, str] = {}
    if lib_dir:
        env["LD_LIBRARY_PATH"] = lib_dir
        if accelerator == "npu":  # FastRPC loads libggml-htp-vNN.so onto the DSP from here
            env["ADSP_LIBRARY_PATH"] = lib_dir
    return ToolInvocation("llama-bench", args, env, delegate, accelerator)


def llama_expected_backend(backend: BackendSpec) -> str:
    """The ``backends`` value of llama-bench's output when ``backend``'s device is in use."""
    return LLAMA_DEVICES[backend.accelerator][1]


def qnn_env(qnn_dir: str) -> dict[str, str]:
    """LD_LIBRARY_PATH is ':'-separated; ADSP_LIBRARY_PATH is ';'-separated (DEVICE_TOOLS 4.1).
    Set per command: exporting /vendor/lib64 in a whole adb shell breaks the linker."""
    return {"LD_LIBRARY_PATH": qnn_dir,
            "ADSP_LIBRARY_PATH": ";".join((qnn_dir, *ADSP_SYSTEM_DIRS))}


def shell_line(workdir: str, tool_path: str, invocation: ToolInvocation, pid_file: str,
               cpu_mask: str | None = None) -> str:
    """``cd WORKDIR && ENV=... sh -c 'echo $$ > PIDFILE; exec [taskset MASK] TOOL ARGS'``: the
    tool's pid (for its /proc/PID/status) is the shell's, since exec keeps it (and taskset
    execs the tool in turn). Every piece is quoted."""
    pin = f"taskset {shlex.quote(cpu_mask)} " if cpu_mask else ""
    inner = (f"echo $$ > {shlex.quote(pid_file)}; exec {pin}{shlex.quote(tool_path)} "
             + " ".join(shlex.quote(a) for a in invocation.args))
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(invocation.env.items()))
    return f"cd {shlex.quote(workdir)} && {env + ' ' if env else ''}sh -c {shlex.quote(inner)}"


def choose_nnapi_accelerator(available: list[str], preferred: tuple[str, ...]) -> str | None:
    """The accelerator to ask for: the SoC catalogue's preference that the phone reports, else
    the first vendor one it reports (never the CPU reference)."""
    names = [a for a in available if a and a != "nnapi-reference"]
    for name in preferred:
        if name in names:
            return name
    return names[0] if names else None
