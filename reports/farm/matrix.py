"""The night's matrix: one row per job (device class × workload × backend) with its status,
median, the previous night's median and the comparison's verdict. Pure: plan, records and
``Comparison.to_dict()`` per class in, plain rows out (every text unescaped; each renderer
escapes it for its format).

Regressions come first (the largest change first), then failed, skipped and never-run jobs,
then the rest by class, workload and backend.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from npubench.reports.cell_key import dig
from npubench.reports.run_view import RunView

VERDICTS = {"slower": "regression", "faster": "improvement", "same": "unchanged",
            "incomparable": "incomparable"}
"""``compare``'s cell verdicts as the matrix words them."""
NOT_RUN = "not run"
NO_CLASS = "(no class)"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def record_class(record: dict[str, Any], plan_class: dict[str, str]) -> str:
    """A record's device class: its ``farm.class``, else the plan's class of its job."""
    value = dig(record, "farm", "class") or plan_class.get(str(record.get("job_id")))
    return str(value) if value else NO_CLASS


def split_by_class(view: RunView, plan_class: dict[str, str]) -> dict[str, RunView]:
    """One ``RunView`` per device class holding that class's records (same info and
    samples), so a comparison pairs the jobs of one class only."""
    out: dict[str, RunView] = {}
    for record in view.records:
        name = record_class(record, plan_class)
        sub = out.setdefault(name, RunView(view.run_id, view.info, [], view.samples,
                                           view.source))
        sub.records.append(record)
    return out


def compare_nights(base: RunView, new: RunView, plan_class: dict[str, str],
                   history: Iterable[RunView] = ()) -> dict[str, dict[str, Any]]:
    """``compare_runs`` of the previous night (BASE) and this one (NEW), class by class:
    class -> ``Comparison.to_dict()``. Classes of one night only are compared too (their
    cells are ``only in BASE``/``only in NEW``)."""
    from npubench.reports.compare import compare_runs

    history = list(history)
    old, tonight = split_by_class(base, plan_class), split_by_class(new, plan_class)
    out = {}
    for name in sorted(set(old) | set(tonight)):
        b = old.get(name) or RunView(base.run_id, base.info, [], {}, base.source)
        n = tonight.get(name) or RunView(new.run_id, new.info, [], {}, new.source)
        out[name] = compare_runs(b, n, history=history).to_dict()
    return out


def safe_link(path: Any) -> str | None:
    """A record's relative file path (``log_path``) as a relative URL, or None when it is
    not a plain path inside the run folder (absolute, ``..``, a scheme such as
    ``javascript:``)."""
    if not isinstance(path, str) or not path.strip():
        return None
    text = path.strip().replace("\\", "/")
    parts = text.split("/")
    if text.startswith("/") or ":" in parts[0] or ".." in parts:
        return None
    return quote(text, safe="/")


def _headline_figure(cell: dict[str, Any]) -> dict[str, Any] | None:
    """The figure a row shows: a deciding figure with the cell's verdict, else the latency
    median, else the first deciding figure."""
    figures = cell.get("figures") or []
    for figure in figures:
        if figure.get("decides") and figure.get("verdict") == cell.get("verdict"):
            return figure
    by_name = {f.get("name"): f for f in figures}
    return by_name.get("latency_median") or next(
        (f for f in figures if f.get("decides")), None)


def _attempts(record: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for attempt in dig(record, "farm", "attempts") or []:
        if not isinstance(attempt, dict):
            continue
        error = attempt.get("error") if isinstance(attempt.get("error"), dict) else {}
        out.append({"attempt": attempt.get("attempt"), "phone": attempt.get("phone"),
                    "worker": attempt.get("worker"), "status": attempt.get("status"),
                    "outcome": attempt.get("outcome"),
                    "started_at": attempt.get("started_at"), "ended_at": attempt.get("ended_at"),
                    "error": error.get("message") or error.get("kind")})
    return out


def build_rows(plan: list[dict[str, Any]], records: list[dict[str, Any]],
               previous_records: list[dict[str, Any]] | None,
               comparisons: dict[str, dict[str, Any]] | None,
               no_comparison: str = "no previous night") -> list[dict[str, Any]]:
    """The matrix rows, ordered (see the module docstring).

    ``previous_records``/``comparisons`` are None when there is no previous night;
    ``no_comparison`` is then each row's verdict reason."""
    plan_class = {str(j.get("key")): str(j.get("class")) for j in plan if j.get("class")}
    by_job: dict[str, dict[str, Any]] = {}
    for record in records:
        by_job[str(record.get("job_id"))] = record  # the last record of a job wins
    previous = {str(r.get("job_id")): r for r in previous_records or []}
    cells: dict[str, dict[str, Any]] = {}
    for comparison in (comparisons or {}).values():
        for cell in comparison.get("cells", []):
            cells[str(cell.get("new_job") or cell.get("base_job"))] = cell

    keys = [str(j.get("key")) for j in plan if j.get("key") is not None]
    keys += [k for k in by_job if k not in set(keys)]
    planned = {str(j.get("key")): j for j in plan}
    rows = [_row(key, planned.get(key, {}), by_job.get(key), previous.get(key),
                 cells.get(key), plan_class, comparisons is not None, no_comparison)
            for key in dict.fromkeys(keys)]
    rows.sort(key=_order)
    return rows


_STATUS_RANK = {"failed": 1, "skipped": 2, NOT_RUN: 3}


def _order(row: dict[str, Any]) -> tuple:
    if row["verdict"] == "regression":
        return (0, -(row["ratio"] or 1.0), row["class"], row["workload"], row["backend"])
    return (_STATUS_RANK.get(row["status"], 4), 0.0, row["class"], row["workload"],
            row["backend"])


def _row(key: str, job: dict[str, Any], record: dict[str, Any] | None,
         before: dict[str, Any] | None, cell: dict[str, Any] | None,
         plan_class: dict[str, str], compared: bool, no_comparison: str) -> dict[str, Any]:
    record = record or {}
    error = record.get("error") if isinstance(record.get("error"), dict) else None
    status = str(record.get("status") or NOT_RUN)
    if not record:
        error = {"kind": "no_record", "message": "no record: the night ended before this "
                 "job finished", "infrastructure": False}
    workload = dig(record, "workload", "name") or job.get("workload") or key
    backend = (dig(record, "backend", "spec") or job.get("backend")
               or ":".join(filter(None, [dig(record, "backend", "runtime"),
                                         dig(record, "backend", "accelerator")])) or "")
    row: dict[str, Any] = {
        "key": key, "class": record_class(record, plan_class) if record
        else str(job.get("class") or NO_CLASS),
        "workload": str(workload), "backend": str(backend), "status": status,
        "error_kind": (error or {}).get("kind"), "error": (error or {}).get("message"),
        "infrastructure": bool((error or {}).get("infrastructure")),
        "median_ms": _number(dig(record, "latency_ms", "median")),
        "previous_median_ms": _number(dig(before, "latency_ms", "median")),
        "previous_status": (before or {}).get("status"),
        "figure": None, "ratio": None, "ci95_low": None, "ci95_high": None,
        "verdict": None, "verdict_reason": no_comparison if not compared else "",
        "phone": dig(record, "farm", "phone"), "worker": dig(record, "farm", "worker"),
        "attempts": _attempts(record),
        "log": safe_link(record.get("log_path")), "log_path": record.get("log_path"),
        "simulated": bool(dig(record, "device", "simulated")),
        "modeled": dig(record, "device", "simulated_timing") == "modeled",
    }
    row["attempt_count"] = len(row["attempts"])
    if compared:
        if cell is None:
            row["verdict"] = "incomparable"
            row["verdict_reason"] = ("not in either night's results" if not record
                                     else "not compared")
        else:
            row["verdict"] = VERDICTS.get(str(cell.get("verdict")), str(cell.get("verdict")))
            row["verdict_reason"] = cell.get("reason") or ""
            figure = _headline_figure(cell)
            if figure is not None:
                row["figure"] = figure.get("label")
                row["ratio"] = _number(figure.get("ratio"))
                row["ci95_low"] = _number(figure.get("ci95_low"))
                row["ci95_high"] = _number(figure.get("ci95_high"))
    return row


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Jobs by status (``ok``, ``failed``, ``skipped``, ``not run``) and verdict."""
    out = {"ok": 0, "failed": 0, "skipped": 0, NOT_RUN: 0}
    for row in rows:
        out[row["status"]] = out.get(row["status"], 0) + 1
    for verdict in VERDICTS.values():
        out[verdict] = sum(1 for r in rows if r["verdict"] == verdict)
    return out
