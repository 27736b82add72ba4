"""Result records -> one flat pandas DataFrame, one row per record. Pure: no file I/O.

Records are schema v1 dicts (``npubench.results``). Unknown fields are ignored and missing
optional ones become NA, so records from later harness versions (LLM fields, tools, delegation)
still load. Phone records add ``delegation``, ``accuracy``, ``thermal``, ``tool`` rounds,
``iterations``, ``telemetry`` and ``preconditions``; ONNX Runtime host records of an fp16
model add ``precision`` (what the CPU provider ran at fp32); LLM records add top-level medians
(``ttft_ms``, ``prefill_tokens_per_s``, ``decode_tokens_per_s``, ``energy_mj_per_token``) and an
``llm`` block (token counts, model size, distributions: ``llm_*`` columns); each is optional.
The speed-up of a backend is measured against the CPU backend of the same runtime family
(``tflite:cpu`` for ``tflite:*``, ``ort:cpu`` for ``ort:*``) on the same device and workload.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# (column, path into the record). Order is the column order of the frame.
_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("index", ("index",)),
    ("job_id", ("job_id",)),
    ("run_id", ("run_id",)),
    ("status", ("status",)),
    ("started_at", ("started_at",)),
    ("duration_s", ("duration_s",)),
    ("workload", ("workload", "name")),
    ("workload_format", ("workload", "format")),
    ("workload_task", ("workload", "task")),
    ("workload_precision", ("workload", "precision")),
    ("workload_synthetic", ("workload", "synthetic")),
    ("backend", ("backend", "spec")),
    ("library", ("backend", "library")),
    ("library_version", ("backend", "library_version")),
    ("device_id", ("device", "id")),
    ("device_kind", ("device", "kind")),
    ("simulated", ("device", "simulated")),
    ("simulated_timing", ("device", "simulated_timing")),
    ("n", ("latency_ms", "n")),
    ("mean_ms", ("latency_ms", "mean")),
    ("median_ms", ("latency_ms", "median")),
    ("p90_ms", ("latency_ms", "p90")),
    ("p99_ms", ("latency_ms", "p99")),
    ("std_ms", ("latency_ms", "std")),
    ("min_ms", ("latency_ms", "min")),
    ("max_ms", ("latency_ms", "max")),
    ("ci95_low_ms", ("latency_ms", "ci95_low")),
    ("ci95_high_ms", ("latency_ms", "ci95_high")),
    ("init_ms", ("init_ms",)),
    ("first_inference_ms", ("first_inference_ms",)),
    ("warmup_iterations", ("warmup", "iterations")),
    ("warmup_mean_ms", ("warmup", "mean_ms")),
    ("stop_reason", ("stop_reason",)),
    ("measured_s", ("measured_s",)),
    ("memory_peak_mb", ("memory_peak_mb",)),
    ("memory_source", ("memory_source",)),
    ("energy_mj_per_inference", ("power", "energy_mj_per_inference")),
    ("power_source", ("power", "source")),
    ("power_sample_rate_hz", ("power", "sample_rate_hz")),
    ("idle_mw", ("power", "idle_mw")),
    ("active_mw", ("power", "active_mw")),
    ("power_missing_reason", ("power_missing_reason",)),
    ("thermal_source", ("thermal", "source")),
    ("thermal_start_c", ("thermal", "start_c")),
    ("thermal_end_c", ("thermal", "end_c")),
    ("thermal_max_c", ("thermal", "max_c")),
    ("throttled", ("thermal", "throttled")),
    ("thermal_missing_reason", ("thermal_missing_reason",)),
    ("delegate", ("delegation", "delegate")),
    ("nodes_total", ("delegation", "nodes_total")),
    ("nodes_delegated", ("delegation", "nodes_delegated")),
    ("delegation_fallback", ("delegation", "fallback")),
    ("delegation_status", ("delegation", "status")),
    ("delegation_kernels", ("delegation", "kernels")),
    ("delegation_expected", ("delegation", "expected")),
    ("delegation_delegates", ("delegation", "delegates")),
    ("precision_model", ("precision", "model")),
    ("precision_provider", ("precision", "provider")),
    ("precision_executed", ("precision", "executed")),
    ("precision_nodes_total", ("precision", "nodes_total")),
    ("precision_nodes_at_fp32", ("precision", "nodes_at_fp32")),
    ("precision_ops_at_fp32", ("precision", "ops_at_fp32")),
    ("precision_missing_reason", ("precision", "missing_reason")),
    ("precision_source", ("precision", "source")),
    ("thermal_hottest_zone", ("thermal", "hottest_zone")),
    ("accuracy_reference", ("accuracy", "reference")),
    ("accuracy_max_abs_error", ("accuracy", "max_abs_error")),
    ("accuracy_cosine", ("accuracy", "cosine_similarity")),
    ("accuracy_outputs", ("accuracy", "outputs")),
    ("accuracy_missing_reason", ("accuracy", "missing_reason")),
    ("tool_name", ("tool", "name")),
    ("tool_version", ("tool", "version")),
    ("tool_rounds", ("tool", "rounds")),
    ("tool_wall_s", ("tool", "wall_s")),
    ("iterations", ("iterations",)),
    ("telemetry_rate_hz", ("telemetry", "rate_hz")),
    ("telemetry_max_gap_ms", ("telemetry", "max_gap_ms")),
    ("cooldown_reached", ("preconditions", "cooldown", "reached")),
    ("cooldown_waited_s", ("preconditions", "cooldown", "waited_s")),
    ("cooldown_threshold_c", ("preconditions", "cooldown", "threshold_c")),
    ("cooldown_end_c", ("preconditions", "cooldown", "end_c")),
    ("cooldown_reason", ("preconditions", "cooldown", "reason")),
    ("validity", ("validity",)),
    ("error_kind", ("error", "kind")),
    ("error_message", ("error", "message")),
    ("error_infrastructure", ("error", "infrastructure")),
    ("samples_path", ("samples_path",)),
    ("log_path", ("log_path",)),
    ("ttft_ms", ("ttft_ms",)),
    ("prefill_tokens_per_s", ("prefill_tokens_per_s",)),
    ("decode_tokens_per_s", ("decode_tokens_per_s",)),
    ("energy_mj_per_token", ("energy_mj_per_token",)),
    ("energy_missing_reason", ("energy_missing_reason",)),
    ("llm_prompt_tokens", ("llm", "prompt_tokens")),
    ("llm_gen_tokens", ("llm", "gen_tokens")),
    ("llm_repetitions", ("llm", "repetitions")),
    ("llm_params", ("llm", "params")),
    ("llm_weight_bytes", ("llm", "weight_bytes")),
    ("llm_kv_cache_bytes", ("llm", "kv_cache_bytes")),
    ("llm_load_ms", ("llm", "load_ms")),
    ("llm_source", ("llm", "source")),
    ("llm_memory_before_load_mb", ("llm", "memory", "parts_mb", "before_load")),
    ("llm_memory_block_sums_mb", ("llm", "memory", "parts_mb", "prepacked_block_sums")),
    ("llm_memory_rest_mb", ("llm", "memory", "parts_mb", "rest")),
    ("llm_memory_released_mb", ("llm", "memory", "measured_mb", "released_after_load_mb")),
    ("memory_fit_need_bytes", ("memory_fit", "need_bytes")),
    ("memory_fit_limit_bytes", ("memory_fit", "limit_bytes")),
    ("memory_fit_limit_source", ("memory_fit", "limit_source")),
)
# The ``llm`` block's distributions (``harness.stats.summarize``): ``llm_<name>_<stat>`` columns.
LLM_SUMMARIES = ("ttft_ms", "prefill_tokens_per_s", "decode_tokens_per_s", "token_latency_ms")
LLM_STATS = ("n", "median", "p90", "p99", "ci95_low", "ci95_high")
_FIELDS += tuple(
    (f"llm_{name}_{stat}", ("llm", name, stat)) for name in LLM_SUMMARIES for stat in LLM_STATS
)
# Derived columns, added by ``flatten_record`` / ``add_speedup``.
_DERIVED = (
    "runtime",
    "accelerator",
    "options_key",
    "device_label",
    "has_delegation",
    "has_accuracy",
    "has_thermal",
    "has_llm",
    "validity_reasons",
    "speedup_vs_cpu",
    "speedup_baseline",
)
COLUMNS: tuple[str, ...] = tuple(name for name, _ in _FIELDS) + _DERIVED
LLM_COLUMNS = ("ttft_ms", "prefill_tokens_per_s", "decode_tokens_per_s", "energy_mj_per_token")


def _get(record: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def backend_parts(backend: dict[str, Any] | None) -> tuple[str | None, str | None, str]:
    """``(runtime, accelerator, options_key)`` of a record's backend; the spec string
    ``RUNTIME:ACCELERATOR?opt=v`` fills in what the dict leaves out."""
    backend = backend if isinstance(backend, dict) else {}
    spec = str(backend.get("spec") or "")
    head, _, query = spec.partition("?")
    spec_runtime, _, spec_accel = head.partition(":")
    runtime = backend.get("runtime") or spec_runtime or None
    accelerator = backend.get("accelerator") or spec_accel or None
    options = backend.get("options")
    if isinstance(options, dict):
        options_key = json.dumps(options, sort_keys=True, default=str)
    else:
        options_key = query
    return runtime, accelerator, options_key


def device_label(device: dict[str, Any] | None) -> str:
    """A short human name for a device: manufacturer and model, and the SoC when known."""
    device = device if isinstance(device, dict) else {}
    model = device.get("model") or device.get("id") or "unknown device"
    maker = device.get("manufacturer")
    name = f"{maker} {model}" if maker and not str(model).startswith(str(maker)) else str(model)
    soc = _get(device, ("soc", "name"))
    if soc and str(soc) not in name:
        name = f"{name} · {soc}"
    return name


def flatten_record(record: dict[str, Any], position: int = 0) -> dict[str, Any]:
    """One record as a flat dict with the frame's columns (missing values are None)."""
    row = {name: _get(record, path) for name, path in _FIELDS}
    if row["index"] is None:
        row["index"] = position
    row["runtime"], row["accelerator"], row["options_key"] = backend_parts(record.get("backend"))
    if row["backend"] is None and row["runtime"]:
        row["backend"] = f"{row['runtime']}:{row['accelerator'] or '?'}"
    row["device_label"] = device_label(record.get("device"))
    for name in ("delegation", "accuracy", "thermal", "llm"):  # the block is there, even if empty
        row[f"has_{name}"] = isinstance(record.get(name), dict)
    row["simulated"] = bool(row["simulated"])
    reasons = record.get("validity_reasons") or []
    row["validity_reasons"] = [str(r) for r in reasons] if isinstance(reasons, list) else [
        str(reasons)
    ]
    row["speedup_vs_cpu"] = None
    row["speedup_baseline"] = None
    return row


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """All records as a DataFrame (columns ``COLUMNS``), with the speed-up against CPU."""
    import pandas as pd

    rows = [flatten_record(r, i) for i, r in enumerate(records)]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return add_speedup(frame)


def add_speedup(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill ``speedup_vs_cpu`` (CPU median / this median) and ``speedup_baseline`` (the CPU
    job's id) for ok rows that have a CPU row of the same runtime, device and workload.

    Where several CPU rows qualify, the one with the same backend options wins (so
    ``tflite:xnnpack?threads=4`` compares with ``tflite:cpu?threads=4``), else the first.
    """
    frame = frame.copy()
    speedups: list[float | None] = []
    baselines: list[str | None] = []
    base: dict[tuple[Any, ...], tuple[float, str]] = {}
    measured = [
        row
        for row in frame.to_dict("records")
        if row["status"] == "ok" and _positive(row["median_ms"])
    ]
    for row in measured:
        if row["accelerator"] != "cpu":
            continue
        key = (row["device_id"], row["workload"], row["runtime"])
        value = (float(row["median_ms"]), row["job_id"])
        base.setdefault((*key, row["options_key"]), value)
        base.setdefault(key, value)
    for row in frame.to_dict("records"):
        key = (row["device_id"], row["workload"], row["runtime"])
        found = base.get((*key, row["options_key"])) or base.get(key)
        if row["status"] != "ok" or not _positive(row["median_ms"]) or found is None:
            speedups.append(None)
            baselines.append(None)
            continue
        speedups.append(found[0] / float(row["median_ms"]))
        baselines.append(found[1])
    import numpy as np

    frame["speedup_vs_cpu"] = np.array(
        [math.nan if v is None else v for v in speedups], dtype="float64"
    )
    frame["speedup_baseline"] = np.array(baselines, dtype="object")
    return frame


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isna(value) and value > 0


def isna(value: Any) -> bool:
    """True for None, NaN and pandas' NA/NaT (never for lists and other containers)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (list, tuple, dict, str, bool, int)):
        return False
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame as plain dicts, NA turned back into None (for templates and exports)."""
    return [{k: (None if isna(v) else v) for k, v in r.items()} for r in frame.to_dict("records")]


def has_llm_fields(frame: pd.DataFrame) -> bool:
    """True when any record carries an LLM metric or an ``llm`` block."""
    if not len(frame):
        return False
    return bool(frame[list(LLM_COLUMNS)].notna().any().any()) or bool(frame["has_llm"].any())
