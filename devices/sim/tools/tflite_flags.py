"""benchmark_model's command-line flags: parsing (``--name=value``) and the parameter echo.

The table follows ``BenchmarkModel::DefaultParams``, ``BenchmarkTfLiteModel::DefaultParams``
and the delegate providers (default, GPU, NNAPI, XNNPACK, external, Neuron), with the labels
their ``LogParams`` print. A parameter is echoed when it was given on the command line (or with
``--verbose=true``). Flags the real tool knows but the simulation ignores are still accepted
and echoed; unknown ones are left "unconsumed" with the real tool's warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from npubench.devices.sim.tools.common import g


@dataclass(frozen=True)
class Flag:
    name: str
    kind: type  # bool | int | float | str
    default: object
    label: str | None  # LogParams label; None: never echoed
    group: str = "model"  # benchmark | model | default | gpu | nnapi | xnnpack | external | neuron


def _f(name, kind, default, label, group="model") -> Flag:
    return Flag(name, kind, default, label, group)


FLAGS: tuple[Flag, ...] = (
    _f("num_runs", int, 50, "Min num runs", "benchmark"),
    _f("min_secs", float, 1.0, "Min runs duration (seconds)", "benchmark"),
    _f("max_secs", float, 150.0, "Max runs duration (seconds)", "benchmark"),
    _f("run_delay", float, -1.0, "Inter-run delay (seconds)", "benchmark"),
    _f("run_frequency", float, -1.0, "Number of prorated runs per second", "benchmark"),
    _f("num_threads", int, -1, "Num threads", "benchmark"),
    _f("use_caching", bool, False, "Use caching", "benchmark"),
    _f("benchmark_name", str, "", "Benchmark name", "benchmark"),
    _f("output_prefix", str, "", "Output prefix", "benchmark"),
    _f("warmup_runs", int, 1, "Min warmup runs", "benchmark"),
    _f("warmup_min_secs", float, 0.5, "Min warmup runs duration (seconds)", "benchmark"),
    _f("verbose", bool, False, None, "benchmark"),
    _f("dry_run", bool, False, "Run w/o invoking kernels", "benchmark"),
    _f("report_peak_memory_footprint", bool, False, "Report the peak memory footprint",
       "benchmark"),
    _f("memory_footprint_check_interval_ms", int, 50, "Memory footprint check interval (ms)",
       "benchmark"),
    _f("graph", str, "", "Graph"),
    _f("signature_to_run_for", str, "", "Signature to run"),
    _f("list_signatures", bool, False, None),
    _f("input_layer", str, "", "Input layers"),
    _f("input_layer_shape", str, "", "Input shapes"),
    _f("input_layer_value_range", str, "", "Input value ranges"),
    _f("input_layer_value_files", str, "", "Input value files"),
    _f("allow_fp16", bool, False, "Allow fp16"),
    _f("require_full_delegation", bool, False, "Require full delegation"),
    _f("enable_op_profiling", bool, False, "Enable op profiling"),
    _f("op_profiling_output_mode", str, "stdout", "Op profiling output mode."),
    _f("op_profiling_output_file", str, "", "Op profiling output file."),
    _f("max_profiling_buffer_entries", int, 1024, "Max initial profiling buffer entries"),
    _f("print_preinvoke_state", bool, False, "Print pre-invoke interpreter state"),
    _f("print_postinvoke_state", bool, False, "Print post-invoke interpreter state"),
    _f("release_dynamic_tensors", bool, False, "Release dynamic tensor memory"),
    _f("output_filepath", str, "", "File path to export outputs layer to"),
    _f("help", bool, False, None, "default"),
    _f("num_threads", int, -1, "#threads used for CPU inference", "default"),
    _f("max_delegated_partitions", int, 0, "Max number of delegated partitions", "default"),
    _f("min_nodes_per_partition", int, 0, "Min nodes per partition", "default"),
    _f("delegate_serialize_dir", str, "", "Directory for delegate serialization", "default"),
    _f("delegate_serialize_token", str, "",
       "Model-specific token/key for delegate serialization.", "default"),
    _f("use_gpu", bool, False, "Use gpu", "gpu"),
    _f("gpu_precision_loss_allowed", bool, True, "Allow lower precision in gpu", "gpu"),
    _f("gpu_experimental_enable_quant", bool, True, "Enable running quant models in gpu", "gpu"),
    _f("gpu_inference_for_sustained_speed", bool, False,
       "Prefer maximizing the throughput in gpu", "gpu"),
    _f("gpu_backend", str, "", "GPU backend", "gpu"),
    _f("use_nnapi", bool, False, "Use NNAPI", "nnapi"),
    _f("nnapi_execution_preference", str, "", "NNAPI execution preference", "nnapi"),
    _f("nnapi_execution_priority", str, "", "Model execution priority in nnapi", "nnapi"),
    _f("nnapi_accelerator_name", str, "", "NNAPI accelerator name", "nnapi"),
    _f("disable_nnapi_cpu", bool, True, "Disable NNAPI cpu", "nnapi"),
    _f("nnapi_allow_fp16", bool, False, "Allow fp16 in NNAPI", "nnapi"),
    _f("use_xnnpack", bool, False, "Use xnnpack", "xnnpack"),
    _f("xnnpack_force_fp16", bool, False, "xnnpack_force_fp16", "xnnpack"),
    _f("external_delegate_path", str, "", "External delegate path", "external"),
    _f("external_delegate_options", str, "", "External delegate options", "external"),
    _f("use_neuron", bool, False, "Use neuron", "neuron"),
    _f("neuron_allow_fp16", bool, False, "Neuron allow FP16", "neuron"),
    _f("neuron_execution_preference", str, "", "Neuron execution preference", "neuron"),
    _f("neuron_optimization_hint", int, 1, "Neuron optimization hint", "neuron"),
)
BY_NAME = {f.name: f for f in FLAGS}


class FlagError(Exception):
    """A flag's value could not be parsed (the real tool then prints its usage)."""


@dataclass
class Params:
    values: dict[str, object] = field(default_factory=dict)
    given: dict[str, int] = field(default_factory=dict)  # name -> position on the command line
    unconsumed: list[str] = field(default_factory=list)

    def __getitem__(self, name: str):
        return self.values.get(name, BY_NAME[name].default)

    def is_set(self, name: str) -> bool:
        return name in self.given


def parse(args: list[str]) -> Params:
    """``--name=value`` for every flag; bools take true/false/1/0. Anything else is left
    unconsumed. Raises ``FlagError`` for a known flag with a bad value."""
    params = Params()
    for position, arg in enumerate(args):
        name, eq, text = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        flag = BY_NAME.get(name)
        if flag is None or not eq:
            params.unconsumed.append(arg)
            continue
        params.values[name] = _value(flag, text, arg)
        params.given[name] = position
    return params


def _value(flag: Flag, text: str, arg: str) -> object:
    try:
        if flag.kind is bool:
            if text not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text in ("true", "1")
        return flag.kind(text)
    except ValueError:
        raise FlagError(f"Failed to parse flag '{flag.name}' against argv '{arg}'") from None


def echo(params: Params, nnapi_devices: list[str]) -> list[str]:
    """The parameter lines ``LogParams`` prints, in the real order."""
    verbose = bool(params["verbose"])
    lines = [f"Log parameter values verbosely: [{int(verbose)}]"]
    for flag in FLAGS:
        if flag.label is None:
            continue
        group_on = {"nnapi": params["use_nnapi"], "neuron": params["use_neuron"]}
        if flag.group in group_on and flag.name not in ("use_nnapi", "use_neuron") \
                and not group_on[flag.group]:
            continue
        always = flag.name in ("graph", "signature_to_run_for")
        if verbose or always or params.is_set(flag.name):
            lines.append(f"{flag.label}: [{_show(params[flag.name])}]")
        if flag.name == "nnapi_accelerator_name" and params["use_nnapi"] and nnapi_devices:
            lines.append(f"NNAPI accelerators available: [{','.join(nnapi_devices)}]")
    return lines


def neuron_echo(params: Params) -> list[str]:
    """``NeuronDelegateProvider::CreateTfLiteDelegate`` logs its parameters verbosely again."""
    return [f"{f.label}: [{_show(params[f.name])}]" for f in FLAGS if f.group == "neuron"]


def _show(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return g(value)
    return str(value)


def usage(argv0: str) -> str:
    """A short usage text in the format of ``tflite::Flags::Usage``."""
    rows = "".join(f"\t--{f.name}={_show(f.default)}\t{f.kind.__name__}\toptional\n"
                   for f in FLAGS if f.group != "default" or f.name != "num_threads")
    return f"usage: {argv0}\nFlags:\n{rows}"
