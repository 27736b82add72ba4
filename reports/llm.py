"""The report's language-model section: one row per LLM job that finished, and two figures
(decode tokens/s per model, backend and precision; peak memory against weights + KV cache).

Pure: frame rows (``reports.frame.rows``, with their ``llm_*`` columns) in, plain dicts and
``Cell`` out. A number the record lacks is a dash with the record's reason, never a zero.
"""

from __future__ import annotations

from typing import Any

from npubench.reports import cells
from npubench.reports.cells import DASH, Cell
from npubench.reports.frame import LLM_COLUMNS

LLM_TASK = "text-generation"
MIB = 2**20  # "MB" in the report, as memory_peak_mb
NOTE_PREFIX = "llm-note"
_PRECISION_ORDER = ("fp32", "fp16", "bf16", "int8", "int4")

TABLE_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("Workload", "the model, with its parameter count under it"),
    ("Precision", "precision of the model's weights"),
    ("Device", None),
    ("Backend", None),
    ("Prompt / gen tokens", "prompt tokens processed (prefill) / tokens generated (decode), "
     "per repetition"),
    ("Load ms", "loading the model until it is ready to run"),
    ("TTFT ms", "time to first token: the prompt's prefill until the first generated token"),
    ("Prefill tok/s", "prompt tokens processed per second"),
    ("Decode tok/s", "tokens generated per second"),
    ("ms/token p50", "latency per generated token over every decode step of every "
     "repetition: median, with the 90th and 99th percentiles under it"),
    ("Peak memory MB", "peak resident memory of the job (MB = 2^20 bytes)"),
    ("Weights + KV MB", "the model's weights plus its KV cache at prompt + generated tokens"),
    ("Peak ÷ model", "peak memory ÷ (weights + KV cache): above 1, what the runtime, its "
     "buffers and activations add"),
    ("Energy mJ/token", "energy per generated token, idle power subtracted"),
)


def is_llm_row(row: dict[str, Any]) -> bool:
    """A text-generation job, or a record with an ``llm`` block or an LLM metric."""
    return (
        row["workload_task"] == LLM_TASK
        or bool(row["has_llm"])
        or any(cells.is_number(row[c]) for c in LLM_COLUMNS)
    )


def llm_section(ok: list[dict[str, Any]], multi_device: bool = False) -> dict[str, Any] | None:
    """The LLM section of the report (None when no LLM job finished): ``columns``, ``rows``,
    ``notes`` (why an energy figure is missing, numbered from 1), ``figures``, ``simulated``."""
    jobs = sorted((r for r in ok if is_llm_row(r)), key=_sort_key)
    if not jobs:
        return None
    notes: list[str] = []
    rows = [{"simulated": r["simulated"], "job_id": r["job_id"], "cells": _cells(r, notes)}
            for r in jobs]
    repetitions = sorted({int(r["llm_repetitions"]) for r in jobs
                          if cells.is_number(r["llm_repetitions"])})
    return {
        "columns": list(TABLE_COLUMNS),
        "rows": rows,
        "notes": notes,
        "note_prefix": NOTE_PREFIX,
        "repetitions": ", ".join(map(str, repetitions)),
        "figures": llm_figures(jobs, multi_device),
        "simulated": any(r["simulated"] for r in jobs),
    }


def _sort_key(row: dict[str, Any]) -> tuple:
    precision = str(row["workload_precision"] or "")
    rank = _PRECISION_ORDER.index(precision) if precision in _PRECISION_ORDER else 99
    return (model_name(row), str(row["device_id"] or ""), str(row["backend"] or ""), rank,
            precision, str(row["workload"] or ""),
            row["index"] if cells.is_number(row["index"]) else 0)


def model_name(row: dict[str, Any]) -> str:
    """The workload's name less a ``_<precision>`` suffix naming its own precision (presets are
    named ``PRESET_PRECISION``), so one model's precisions sit together."""
    name, precision = str(row["workload"] or DASH), row["workload_precision"]
    suffix = f"_{precision}"
    if precision and name.endswith(suffix) and len(name) > len(suffix):
        return name[: -len(suffix)]
    return name


def summary(row: dict[str, Any], name: str) -> tuple[Any, Any, Any, Any]:
    """``(median, ci95_low, ci95_high, n)`` of one of the ``llm`` block's distributions; the
    median from the record's top-level field where it has one."""
    top = row.get(name)
    median = top if cells.is_number(top) else row[f"llm_{name}_median"]
    return (median, row[f"llm_{name}_ci95_low"], row[f"llm_{name}_ci95_high"],
            row[f"llm_{name}_n"])


def _cells(r: dict[str, Any], notes: list[str]) -> list[Cell]:
    precision = r["workload_precision"] or DASH
    return [
        _workload_cell(r),
        Cell(precision, sort=precision),
        cells.device_cell(r["device_label"], r["device_id"], r["simulated"]),
        Cell(r["backend"] or DASH, sort=r["backend"] or "", title=_backend_title(r)),
        _tokens_cell(r),
        cells.num_cell(r["llm_load_ms"] if cells.is_number(r["llm_load_ms"]) else r["init_ms"]),
        cells.median_cell(*summary(r, "ttft_ms")),
        cells.median_cell(*summary(r, "prefill_tokens_per_s")),
        cells.median_cell(*summary(r, "decode_tokens_per_s")),
        _token_latency_cell(r),
        cells.num_cell(r["memory_peak_mb"], title=r["memory_source"]),
        _model_memory_cell(r),
        _memory_ratio_cell(r),
        _energy_cell(r, notes),
    ]


def _workload_cell(r: dict[str, Any]) -> Cell:
    """The workload's name, its parameter count under it (``1.10 B params``)."""
    workload = r["workload"] or DASH
    parts = [str(p) for p in (r["workload_format"], r["workload_task"]) if p]
    if r["workload_synthetic"]:
        parts.append("synthetic model")
    params = r["llm_params"]
    if cells.is_number(params):
        parts.append(f"{int(params):,} parameters")
        lines = [f"{cells.fmt_count(params)} params"]
    else:
        parts.append("parameter count not recorded")
        lines = []
    return Cell(workload, sort=workload, title=" · ".join(parts), lines=lines)


def _backend_title(r: dict[str, Any]) -> str | None:
    library = " ".join(str(p) for p in (r["library"], r["library_version"]) if p)
    parts = [library] if library else []
    if r["llm_source"]:
        parts.append(f"figures from {r['llm_source']}")
    return "; ".join(parts) or None


def _tokens_cell(r: dict[str, Any]) -> Cell:
    prompt, gen, reps = r["llm_prompt_tokens"], r["llm_gen_tokens"], r["llm_repetitions"]
    if not (cells.is_number(prompt) or cells.is_number(gen)):
        return Cell(DASH, title="token counts not recorded")
    text = " / ".join(f"{int(v):,}" if cells.is_number(v) else DASH for v in (prompt, gen))
    title = f"{int(reps)} repetition{'s' if reps != 1 else ''}" if cells.is_number(reps) else None
    return Cell(text, sort=float(prompt) if cells.is_number(prompt) else None, title=title)


def _token_latency_cell(r: dict[str, Any]) -> Cell:
    """p50 per generated token, p90 and p99 under it, from ``llm.token_latency_ms``; else from
    the record's ``latency_ms`` (per generated token too for an LLM job)."""
    stats = ("median", "p90", "p99")
    n = r["llm_token_latency_ms_n"]
    p50, p90, p99 = (r[f"llm_token_latency_ms_{s}"] for s in stats)
    source = f"over {int(n):,} decode steps" if cells.is_number(n) else "llm.token_latency_ms"
    if not cells.is_number(p50):
        p50, p90, p99, n = r["median_ms"], r["p90_ms"], r["p99_ms"], r["n"]
        source = f"latency_ms over {int(n):,} tokens" if cells.is_number(n) else "latency_ms"
    if not cells.is_number(p50):
        return Cell(DASH, title="per-token latency not recorded")
    return Cell(cells.fmt_num(p50), sort=float(p50), title=f"p50, p90, p99 {source}",
                lines=[f"p90 {cells.fmt_num(p90)}", f"p99 {cells.fmt_num(p99)}"])


def model_memory_mb(r: dict[str, Any]) -> tuple[float, float] | None:
    """``(weights MB, KV cache MB)``, or None when the record lacks either."""
    weights, kv = r["llm_weight_bytes"], r["llm_kv_cache_bytes"]
    if not (cells.is_number(weights) and cells.is_number(kv)):
        return None
    return weights / MIB, kv / MIB


def _model_memory_cell(r: dict[str, Any]) -> Cell:
    model = model_memory_mb(r)
    if model is None:
        return Cell(DASH, title="weight or KV-cache bytes not recorded")
    weights, kv = model
    tokens = r["llm_prompt_tokens"], r["llm_gen_tokens"]
    at = (f" at {int(tokens[0]) + int(tokens[1]):,} tokens"
          if all(cells.is_number(t) for t in tokens) else "")
    fit = _fit_text(r)
    return Cell(cells.fmt_num(weights + kv), sort=weights + kv,
                title=f"weights {cells.fmt_num(weights)} MB + KV cache {cells.fmt_num(kv)} MB{at}"
                + (f"; {fit}" if fit else ""),
                lines=[f"{cells.fmt_num(weights)} + {cells.fmt_num(kv)}"])


def _fit_text(r: dict[str, Any]) -> str | None:
    """The plan's memory fit: the estimate against the device's limit and where it is from."""
    need, limit = r.get("memory_fit_need_bytes"), r.get("memory_fit_limit_bytes")
    if not (cells.is_number(need) and cells.is_number(limit)):
        return None
    return (f"estimated need {cells.fmt_num(need / MIB)} MB (weights + KV + runtime) of a "
            f"{cells.fmt_num(limit / MIB)} MB limit ({r.get('memory_fit_limit_source')})")


def memory_ratio(r: dict[str, Any]) -> float | None:
    model = model_memory_mb(r)
    peak = r["memory_peak_mb"]
    if model is None or not cells.is_number(peak) or sum(model) <= 0:
        return None
    return peak / sum(model)


def _memory_ratio_cell(r: dict[str, Any]) -> Cell:
    ratio = memory_ratio(r)
    if ratio is None:
        return Cell(DASH, title="needs the peak memory and the weight and KV-cache bytes")
    return Cell(f"{ratio:.2f}×", sort=ratio,
                title="peak memory / (weights + KV cache)" + (f": {_breakdown(r)}"
                                                              if _breakdown(r) else ""))


def _breakdown(r: dict[str, Any]) -> str | None:
    """Where the peak goes beyond weights + KV (the record's ``llm.memory``), as measured."""
    parts = [(r.get(f"llm_memory_{key}_mb"), words) for key, words in (
        ("before_load", "the worker before loading"),
        ("block_sums", "ORT's pre-packed int4 block sums"),
        ("rest", "the rest (activations, the KV cache's second copy, arena)"))]
    if not any(cells.is_number(v) for v, _ in parts):
        return None
    text = " + ".join(f"{cells.fmt_num(v)} MB {words}" for v, words in parts
                      if cells.is_number(v) and v)
    released = r.get("llm_memory_released_mb")
    if cells.is_number(released):
        text += f"; {cells.fmt_num(released)} MB of mapped weights handed back after load"
    return text


def _energy_cell(r: dict[str, Any], notes: list[str]) -> Cell:
    value = r["energy_mj_per_token"]
    if cells.is_number(value):
        return Cell(cells.fmt_num(value), sort=float(value), title=r["power_source"] or None)
    reason = str(r["energy_missing_reason"] or r["power_missing_reason"]
                 or "energy was not measured for this job")
    if reason not in notes:
        notes.append(reason)
    return Cell(DASH, title=reason, note=notes.index(reason) + 1, note_prefix=NOTE_PREFIX)


def llm_figures(jobs: list[dict[str, Any]], multi_device: bool) -> list[dict[str, Any]]:
    """The decode tokens/s figure and the memory figure (each left out with no data), with
    the jobs each one lacks."""
    from npubench.reports.figures import MemoryBar, RateBar, memory_svg, rates_svg

    figures = []
    bars, missing = [], []
    for r in jobs:
        median, low, high, _n = summary(r, "decode_tokens_per_s")
        device = f"\n{r['device_label']}" if multi_device else ""
        if not cells.is_number(median) or median <= 0:
            missing.append(r["job_id"] or r["workload"] or DASH)
            continue
        ci = cells.is_number(low) and cells.is_number(high)
        bars.append(RateBar(
            label=f"{model_name(r)} · {r['workload_precision'] or DASH} · {r['backend']}{device}",
            value=float(median), section=model_name(r) + device.replace("\n", " · "),
            group=str(r["backend"]),
            low=float(low) if ci else None, high=float(high) if ci else None,
            simulated=r["simulated"]))
    if bars or missing:
        figures.append({
            "id": "llm-decode", "title": "Decode tokens/s",
            "caption": "Median tokens generated per second of each job, by model, backend "
            "(colour) and precision; whiskers: 95% confidence interval of the median.",
            "svg": rates_svg(bars, "decode tokens/s (median)") if bars else "",
            "missing": missing, "simulated": any(b.simulated for b in bars)})
    memory, missing = [], []
    for r in jobs:
        model = model_memory_mb(r)
        if model is None or not cells.is_number(r["memory_peak_mb"]):
            missing.append(r["job_id"] or r["workload"] or DASH)
            continue
        device = f"\n{r['device_label']}" if multi_device else ""
        memory.append(MemoryBar(
            f"{r['workload'] or DASH} · {r['backend']}{device}", float(r["memory_peak_mb"]),
            model[0], model[1], simulated=r["simulated"]))
    if memory or missing:
        figures.append({
            "id": "llm-memory", "title": "Memory against model size",
            "caption": "Per job: the model's weights and its KV cache at prompt + generated "
            "tokens (upper bar) against the job's peak resident memory (lower bar); the number "
            "is peak / (weights + KV cache).",
            "svg": memory_svg(memory) if memory else "",
            "missing": missing, "simulated": any(b.simulated for b in memory)})
    return figures
