"""What the HTML report shows, gathered from a run folder's files into plain dicts.

Everything here is read from ``results.jsonl``, ``run.json`` and ``samples/`` (never from the
memory of the process that ran the jobs), so an interrupted run still has a report. The values
are plain text and numbers; the template escapes all of them.
"""

from __future__ import annotations

import shlex
from collections import Counter
from pathlib import Path
from typing import Any

from npubench.reports import cells
from npubench.reports.cells import DASH, Cell
from npubench.reports.frame import device_label, records_frame, rows
from npubench.reports.framerate import framerate_section
from npubench.reports.llm import is_llm_row, llm_section
from npubench.reports.pipeline import pipeline_section
from npubench.results import RESULTS_FILE, read_records, read_run_info, read_samples

SIMULATED_NOTE = cells.SIMULATED_NOTE


def load_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(run_info, records)``. A run stopped before its first record has no results file
    yet; with a ``run.json`` beside it, that is an empty run, not an error."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    if info and not (run_dir / RESULTS_FILE).exists():
        return info, []
    return info, read_records(run_dir)


def build_context(run_dir: Path) -> dict[str, Any]:
    """Everything the template needs for the report of the run in ``run_dir``."""
    run_dir = Path(run_dir)
    info, records = load_run(run_dir)
    frame = records_frame(records)
    table = rows(frame)
    ok = [r for r in table if r["status"] == "ok"]
    multi_device = len({r["device_id"] for r in table}) > 1
    extra = {name: any(r[f"has_{name}"] for r in ok)
             for name in ("delegation", "accuracy", "thermal")}
    extra["thermal"] = extra["thermal"] or any(cells.is_number(r["thermal_max_c"]) for r in ok)
    summary, footnotes = summary_rows(ok, extra)
    return {
        "header": header(info, records, table),
        "fallbacks": fallback_jobs(table),
        "summary_columns": summary_columns(extra),
        "summary": summary,
        "footnotes": footnotes,
        "multi_device": multi_device,
        "figures": latency_figures(run_dir, records, table, multi_device),
        "problems": problem_rows(table),
        "details": detail_rows(table),
        "detail_extra": detail_extra(ok),
        "llm": llm_section(ok, multi_device),
        "llm_in_summary": any(is_llm_row(r) for r in ok),
        "pipelines": pipeline_section(records),
        "framerate": framerate_section(run_dir, records),
        "environment": environment(info, records),
        "simulated_note": SIMULATED_NOTE,
    }


def header(info: dict[str, Any], records: list[dict], table: list[dict]) -> dict[str, Any]:
    counts = Counter(r["status"] or "unknown" for r in table)
    run_id = info.get("run_id") or next((r["run_id"] for r in table if r["run_id"]), None)
    started, finished = info.get("started_at"), info.get("finished_at")
    start_t, end_t = cells.parse_time(started), cells.parse_time(finished)
    duration = (end_t - start_t).total_seconds() if start_t and end_t else None
    devices: dict[Any, dict[str, Any]] = {}
    for record, row in zip(records, table, strict=True):
        devices.setdefault(
            row["device_id"],
            {"label": row["device_label"], "id": row["device_id"], "simulated": row["simulated"],
             "kind": (record.get("device") or {}).get("kind"),
             "sim_label": cells.simulated_label(row["simulated"], row.get("simulated_timing"))},
        )
    if not devices and isinstance(info.get("host"), dict):
        host = info["host"]
        devices[host.get("id")] = {"label": device_label(host), "id": host.get("id"),
                                   "simulated": bool(host.get("simulated")),
                                   "kind": host.get("kind")}
    simulated_jobs = sum(1 for r in table if r["simulated"])
    return {
        "run_id": run_id or "unknown run",
        "started": cells.fmt_time(started),
        "finished": cells.fmt_time(finished) if finished else None,
        "duration": cells.fmt_duration(duration) if duration is not None else None,
        "suite": info.get("suite"),
        "devices": list(devices.values()),
        "counts": [(status, counts.get(status, 0)) for status in ("ok", "failed", "skipped")]
        + sorted((s, n) for s, n in counts.items() if s not in ("ok", "failed", "skipped")),
        "total": len(table),
        "no_run_info": not info,
        "interrupted": bool(info) and (bool(info.get("interrupted")) or not finished),
        "simulated_jobs": simulated_jobs,
        "modeled_jobs": sum(1 for r in table
                            if r["simulated"] and r.get("simulated_timing") == "modeled"),
    }


def _job_sort_key(row: dict[str, Any]) -> tuple:
    return (
        str(row["workload"] or ""),
        str(row["device_id"] or ""),
        str(row["runtime"] or ""),
        row["accelerator"] != "cpu",
        str(row["backend"] or ""),
        row["index"] if cells.is_number(row["index"]) else 0,
    )


def fallback_jobs(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Jobs whose delegate left part (or all) of the graph to the CPU."""
    return [
        {"job_id": r["job_id"] or DASH, "simulated": r["simulated"],
         "coverage": cells.delegation_text(r["delegation_status"], r["nodes_delegated"],
                                           r["nodes_total"])}
        for r in sorted(table, key=_job_sort_key)
        if cells.is_true(r["delegation_fallback"])
    ]


SUMMARY_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("Workload", None), ("Backend", None), ("Device", None), ("Median ms", None),
    ("p90 ms", None), ("CI95 of median ms", None), ("n", None), ("Init ms", None),
    ("First inference ms", None), ("Peak memory MB", None), ("Energy mJ/inference", None),
)
EXTRA_COLUMNS: dict[str, tuple[str, str]] = {
    "thermal": ("Max °C", "hottest CPU/SoC temperature while the job ran"),
    "delegation": ("Delegation", "graph nodes the delegate took: delegated/total"),
    "accuracy": ("Accuracy vs CPU", "cosine similarity of the outputs with a CPU reference "
                 "run on the same inputs, and the largest absolute difference"),
}


def summary_columns(extra: dict[str, bool]) -> list[tuple[str, str | None]]:
    """``(header, tooltip)`` of the summary table; the phone columns only when some job has
    their field."""
    columns = list(SUMMARY_COLUMNS)
    if extra.get("thermal"):
        columns.append(EXTRA_COLUMNS["thermal"])
    columns.append(("Speed-up vs CPU", None))
    columns.extend(EXTRA_COLUMNS[k] for k in ("delegation", "accuracy") if extra.get(k))
    columns.append(("Validity", None))
    return columns


def summary_rows(
    ok: list[dict[str, Any]], extra: dict[str, bool] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per ok job and the footnotes (reasons energy is missing), numbered from 1.
    ``extra`` names the optional columns to fill (see ``summary_columns``)."""
    extra = extra or {}
    footnotes: list[str] = []
    out = []
    for row in sorted(ok, key=_job_sort_key):
        thermal = [_thermal_cell(row)] if extra.get("thermal") else []
        phone = [_delegation_cell(row)] if extra.get("delegation") else []
        if extra.get("accuracy"):
            phone.append(_accuracy_cell(row))
        out.append(
            {
                "simulated": row["simulated"],
                "validity": row["validity"] or "unknown",
                "cells": [
                    Cell(row["workload"] or DASH, sort=row["workload"] or "",
                         title=_workload_title(row)),
                    _backend_cell(row),
                    _device_cell(row),
                    cells.num_cell(row["median_ms"], title=_per_token(row)),
                    cells.num_cell(row["p90_ms"], title=_per_token(row)),
                    cells.range_cell(row["ci95_low_ms"], row["ci95_high_ms"],
                                     title="95% confidence interval of the median"),
                    cells.int_cell(row["n"]),
                    cells.num_cell(row["init_ms"]),
                    cells.num_cell(row["first_inference_ms"]),
                    cells.num_cell(row["memory_peak_mb"], title=row["memory_source"]),
                    _energy_cell(row["energy_mj_per_inference"], row["power_source"],
                                 row["power_missing_reason"], footnotes),
                    *thermal,
                    cells.speedup_cell(row["speedup_vs_cpu"], row["speedup_baseline"],
                                       row["speedup_baseline"] == row["job_id"]),
                    *phone,
                    _validity_cell(row),
                ],
            }
        )
    return out, footnotes


def _per_token(row: dict[str, Any]) -> str | None:
    return "ms per generated token (decode); see Language models" if is_llm_row(row) else None


def _workload_title(row: dict[str, Any]) -> str:
    parts = [row["workload_format"], row["workload_precision"], row["workload_task"]]
    text = " · ".join(str(p) for p in parts if p)
    return text + (" · synthetic model" if row["workload_synthetic"] else "")


def _backend_cell(row: dict[str, Any]) -> Cell:
    """The backend, with a line where an fp16 model ran (partly) at fp32 on ONNX Runtime's CPU
    provider (the record's ``precision``)."""
    line = cells.precision_line(row["precision_model"], row["precision_executed"],
                                row["precision_nodes_at_fp32"], row["precision_nodes_total"])
    title = _library_title(row)
    if line:
        title = "; ".join(p for p in (title, _precision_text(row)) if p)
    return Cell(row["backend"] or DASH, sort=row["backend"] or "", title=title,
                lines=[line] if line else [])


def _precision_text(r: dict[str, Any]) -> str:
    """The record's ``precision`` in a sentence, with its provenance."""
    if not r["precision_model"]:
        return DASH
    head = f"{r['precision_model']} model on {r['precision_provider'] or 'an unknown provider'}"
    if not r["precision_executed"]:
        return f"{head}: {r['precision_missing_reason'] or 'executed precision not recorded'}"
    ops = r["precision_ops_at_fp32"]
    text = f"{head}: {r['precision_executed']}"
    if isinstance(ops, list) and ops:
        text += f"; no fp16 kernel for {', '.join(map(str, ops))}"
    return text + (f" (from {r['precision_source']})" if r["precision_source"] else "")


def _library_title(row: dict[str, Any]) -> str | None:
    if not row["library"]:
        return None
    return f"{row['library']} {row['library_version'] or ''}".strip()


def _device_cell(row: dict[str, Any]) -> Cell:
    return cells.device_cell(row["device_label"], row["device_id"], row["simulated"],
                             row.get("simulated_timing"))


def _energy_cell(value: Any, source: Any, reason: Any, footnotes: list[str]) -> Cell:
    if cells.is_number(value):
        return Cell(cells.fmt_num(value), sort=float(value), title=source or None)
    reason = str(reason) if reason else "energy was not measured for this job"
    if reason not in footnotes:
        footnotes.append(reason)
    return Cell(DASH, title=reason, note=footnotes.index(reason) + 1)


def _thermal_cell(row: dict[str, Any]) -> Cell:
    return cells.thermal_cell(
        max_c=row["thermal_max_c"], throttled=row["throttled"], start_c=row["thermal_start_c"],
        end_c=row["thermal_end_c"], zone=row["thermal_hottest_zone"],
        source=row["thermal_source"], missing_reason=row["thermal_missing_reason"])


def _delegation_cell(row: dict[str, Any]) -> Cell:
    return cells.delegation_cell(
        row["has_delegation"], delegate=row["delegate"], status=row["delegation_status"],
        delegated=row["nodes_delegated"], total=row["nodes_total"],
        kernels=row["delegation_kernels"], expected=row["delegation_expected"],
        fallback=row["delegation_fallback"], delegates=row["delegation_delegates"])


def _accuracy_cell(row: dict[str, Any]) -> Cell:
    return cells.accuracy_cell(
        row["has_accuracy"], cosine=row["accuracy_cosine"], max_abs=row["accuracy_max_abs_error"],
        reference=row["accuracy_reference"], outputs=row["accuracy_outputs"],
        missing_reason=row["accuracy_missing_reason"])


def _validity_cell(row: dict[str, Any]) -> Cell:
    validity = row["validity"] or "unknown"
    cls = {"valid": "ok", "semivalid": "warn", "invalid": "bad"}.get(validity, "warn")
    return Cell(validity, sort=validity, cls=cls, lines=list(row["validity_reasons"] or []))


def latency_figures(
    run_dir: Path, records: list[dict], table: list[dict], multi_device: bool
) -> list[dict[str, Any]]:
    """One figure per workload: its ok jobs' per-iteration latencies side by side."""
    from npubench.reports.figures import LatencySeries, latency_svg

    by_workload: dict[str, list[tuple[dict, dict]]] = {}
    for record, row in zip(records, table, strict=True):
        if row["status"] == "ok":
            by_workload.setdefault(row["workload"] or DASH, []).append((record, row))
    figures = []
    for workload in sorted(by_workload):
        series, missing = [], []
        for record, row in sorted(by_workload[workload], key=lambda p: _job_sort_key(p[1])):
            samples = read_latency_ms(run_dir, record)
            label = str(row["backend"] or DASH)
            if multi_device:
                label = f"{label} · {row['device_label']}"
            if samples:
                series.append(LatencySeries(label, samples, row["simulated"]))
            else:
                missing.append(row["job_id"] or label)
        llm = any(is_llm_row(row) for _record, row in by_workload[workload])
        unit = "latency per generated token (ms)" if llm else "latency per inference (ms)"
        figures.append(
            {
                "workload": workload,
                "svg": latency_svg(series, unit=unit) if series else "",
                "missing": missing,
                "simulated": any(s.simulated for s in series),
            }
        )
    return figures


def read_latency_ms(run_dir: Path, record: dict[str, Any]) -> list[float]:
    """The record's per-iteration latencies in ms; [] when the file is missing, unreadable or
    points outside the run folder."""
    rel = record.get("samples_path")
    if not isinstance(rel, str) or not rel:
        return []
    root = run_dir.resolve()
    if root not in (root / rel).resolve().parents:
        return []
    try:
        values = read_samples(run_dir, record).get("latency_ms") or []
    except (OSError, ValueError, AttributeError):
        return []
    return [float(v) for v in values if cells.is_number(v)]


def problem_rows(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    problems = [r for r in table if r["status"] != "ok"]
    return [
        {
            "status": r["status"] or "unknown",
            "job_id": r["job_id"] or DASH,
            "workload": r["workload"] or DASH,
            "backend": r["backend"] or DASH,
            "device": r["device_label"] or r["device_id"] or DASH,
            "simulated": r["simulated"],
            "kind": r["error_kind"] or DASH,
            "infrastructure": bool(r["error_infrastructure"]),
            "message": r["error_message"] or "(no message recorded)",
            "log_path": r["log_path"],
        }
        for r in sorted(problems, key=lambda r: (r["status"] or "", _job_sort_key(r)))
    ]


def detail_rows(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Provenance of every ok job's numbers: how long it ran, what measured memory, power and
    temperature, what the delegate took."""
    out = []
    for r in sorted((r for r in table if r["status"] == "ok"), key=_job_sort_key):
        if cells.is_number(r["energy_mj_per_inference"]):
            rate, idle, active = (
                cells.fmt_value(r[k]) for k in ("power_sample_rate_hz", "idle_mw", "active_mw")
            )
            power = (
                f"{r['power_source'] or 'unknown source'}, {rate} Hz; "
                f"idle {idle} mW, active {active} mW"
            )
        else:
            power = r["power_missing_reason"] or "not measured"
        if cells.is_number(r["thermal_start_c"]) or cells.is_number(r["thermal_max_c"]):
            start, end, peak = (
                cells.fmt_value(r[k]) for k in ("thermal_start_c", "thermal_end_c", "thermal_max_c")
            )
            thermal = (
                f"{start} → {end} °C, max {peak} °C"
                + (", THROTTLED" if r["throttled"] else "")
                + (f" ({r['thermal_source']})" if r["thermal_source"] else "")
            )
        else:
            thermal = r["thermal_missing_reason"] or "not measured"
        delegation = DASH
        if r["delegate"] or cells.is_number(r["nodes_total"]):
            delegation = (
                f"{r['delegate'] or 'delegate'}: {cells.fmt_value(r['nodes_delegated'])}/"
                f"{cells.fmt_value(r['nodes_total'])} nodes"
                + (f" ({r['delegation_status']})" if r["delegation_status"] else "")
                + (", CPU fallback" if cells.is_true(r["delegation_fallback"]) else "")
            )
            if others := cells.delegate_lines(r["delegation_delegates"]):
                delegation += "; delegates applied: " + ", ".join(others)
        tool = " ".join(str(p) for p in (r["tool_name"], r["tool_version"]) if p) or DASH
        runs = []
        if cells.is_number(r["tool_rounds"]):
            runs.append(f"{int(r['tool_rounds']):,} round{'s' if r['tool_rounds'] != 1 else ''}")
        if cells.is_number(r["iterations"]):
            runs.append(f"{int(r['iterations']):,} iterations")
        if cells.is_number(r["tool_wall_s"]):
            runs.append(f"{cells.fmt_num(r['tool_wall_s'])} s in the tool")
        if runs:
            tool = f"{tool}; {', '.join(runs)}" if tool != DASH else ", ".join(runs)
        out.append(
            {
                "job_id": r["job_id"] or DASH,
                "simulated": r["simulated"],
                "stop": f"{r['stop_reason'] or DASH}; {cells.fmt_value(r['n'])} iterations "
                f"in {cells.fmt_value(r['measured_s'])} s",
                "warmup": f"{cells.fmt_value(r['warmup_iterations'])} × "
                f"{cells.fmt_value(r['warmup_mean_ms'])} ms",
                "memory": r["memory_source"] or DASH,
                "power": power,
                "thermal": thermal,
                "delegation": delegation,
                "tool": tool,
                "sampler": _sampler_text(r),
                "cooldown": _cooldown_text(r),
                "accuracy": _accuracy_text(r),
                "precision": _precision_text(r),
                "files": [p for p in (r["samples_path"], r["log_path"]) if p],
            }
        )
    return out


def detail_extra(ok: list[dict[str, Any]]) -> dict[str, bool]:
    """Which optional columns the details table shows (only when some job has the field)."""
    return {
        "sampler": any(cells.is_number(r["telemetry_rate_hz"])
                       or cells.is_number(r["telemetry_max_gap_ms"]) for r in ok),
        "cooldown": any(r["cooldown_reached"] is not None or r["cooldown_reason"] for r in ok),
        "accuracy": any(r["has_accuracy"] for r in ok),
        "precision": any(r["precision_model"] for r in ok),
    }


def _sampler_text(r: dict[str, Any]) -> str:
    if not (cells.is_number(r["telemetry_rate_hz"]) or cells.is_number(r["telemetry_max_gap_ms"])):
        return DASH
    return (f"{cells.fmt_num(r['telemetry_rate_hz'])} Hz, "
            f"max gap {cells.fmt_num(r['telemetry_max_gap_ms'])} ms")


def _cooldown_text(r: dict[str, Any]) -> str:
    if r["cooldown_reached"] is None:
        return str(r["cooldown_reason"]) if r["cooldown_reason"] else DASH
    threshold = (f" {cells.fmt_num(r['cooldown_threshold_c'])} °C"
                 if cells.is_number(r["cooldown_threshold_c"]) else "")
    text = f"waited {cells.fmt_num(r['cooldown_waited_s'])} s; "
    if r["cooldown_reached"]:
        return text + f"reached (below{threshold})"
    end = f" at {cells.fmt_num(r['cooldown_end_c'])} °C" if cells.is_number(
        r["cooldown_end_c"]) else ""
    return text + f"NOT reached{end} (threshold{threshold})"


def _accuracy_text(r: dict[str, Any]) -> str:
    if not r["has_accuracy"]:
        return DASH
    cosine, max_abs = r["accuracy_cosine"], r["accuracy_max_abs_error"]
    if not (cells.is_number(cosine) or cells.is_number(max_abs)):
        return f"not compared: {r['accuracy_missing_reason'] or 'no reason recorded'}"
    text = f"vs {r['accuracy_reference'] or 'a CPU reference'}: "
    text += f"cosine {cosine:.6f}" if cells.is_number(cosine) else "cosine —"
    text += f", max |Δ| {cells.fmt_sci(max_abs)}"
    if cells.is_number(r["accuracy_outputs"]):
        n = int(r["accuracy_outputs"])
        text += f" over {n} output{'s' if n != 1 else ''}"
    return text


def environment(info: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    argv = info.get("argv")
    run = [
        ("run id", cells.fmt_value(info.get("run_id"))),
        ("suite", cells.fmt_value(info.get("suite"))),
        ("started", cells.fmt_time(info.get("started_at"))),
        ("finished", cells.fmt_time(info.get("finished_at"))),
        ("command", shlex.join(map(str, argv)) if isinstance(argv, list)
         else cells.fmt_value(argv)),
        ("harness version", cells.fmt_value(info.get("harness_version"))),
        ("results schema", cells.fmt_value(info.get("schema_version"))),
    ]
    devices: dict[Any, dict[str, Any]] = {}
    for record in records:
        device = record.get("device")
        if isinstance(device, dict) and device.get("id") not in devices:
            devices[device.get("id")] = device
    host = info.get("host") if isinstance(info.get("host"), dict) else None
    libraries = sorted(
        {
            (str(b.get("library")), str(b.get("library_version") or DASH))
            for b in (r.get("backend") for r in records)
            if isinstance(b, dict) and b.get("library")
        }
    )
    return {
        "run": run,
        "host": cells.flatten_dict(host) if host else [],
        "devices": [
            {"label": device_label(d), "simulated": bool(d.get("simulated")),
             "pairs": cells.flatten_dict(d)}
            for d in devices.values()
            if not host or d != host
        ],
        "versions": cells.flatten_dict(info.get("versions") or {}),
        "libraries": libraries,
        "settings": settings_table(records),
    }


def settings_table(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The measurement settings: one column per distinct set, with how many jobs used it."""
    sets: list[dict[str, Any]] = []
    jobs: list[int] = []
    for record in records:
        settings = record.get("settings")
        if not isinstance(settings, dict):
            continue
        if settings in sets:
            jobs[sets.index(settings)] += 1
        else:
            sets.append(settings)
            jobs.append(1)
    keys: list[str] = []
    for settings in sets:
        keys.extend(k for k in settings if k not in keys)
    return {
        "jobs": jobs,
        "rows": [(k, [cells.fmt_value(s.get(k)) for s in sets]) for k in keys],
    }
