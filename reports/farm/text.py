"""Plain-text pieces the farm outputs share (HTML, Markdown, JUnit): numbers, changes,
verdict and attempt texts, the simulated-phone banner. Unescaped: each renderer escapes."""

from __future__ import annotations

from typing import Any

from npubench.reports.compare import view


def number(value: float | None) -> str:
    return view.number(value)


def change(row: dict[str, Any]) -> str:
    """``+30.0% [+27.1%, +33.0%]`` (the interval when the comparison has one), else —."""
    if row.get("ratio") is None:
        return "—"
    text = view.change(row["ratio"])
    if row.get("ci95_low") is not None and row.get("ci95_high") is not None:
        text += f" [{view.change(row['ci95_low'])}, {view.change(row['ci95_high'])}]"
    if row.get("figure") and row["figure"] != "latency median":
        text += f" ({row['figure']})"
    return text


def ratio(row: dict[str, Any]) -> str:
    return "—" if row.get("ratio") is None else f"×{row['ratio']:.3f}"


def verdict(row: dict[str, Any]) -> str:
    """``regression``, ``incomparable: only in NEW``, or the reason there is none."""
    if row.get("verdict") is None:
        return row.get("verdict_reason") or "no comparison"
    reason = row.get("verdict_reason")
    return f"{row['verdict']}: {reason}" if reason else row["verdict"]


def attempts(row: dict[str, Any]) -> str:
    """``2 (1 sim:sm8650#1 failed, retried: adb lost; 2 sim:sm8650#2 ok)``."""
    items = row.get("attempts") or []
    if not items:
        return "0"
    parts = []
    for a in items:
        words = [str(a.get("attempt") or "?"), str(a.get("phone") or "no phone"),
                 str(a.get("status") or "")]
        text = " ".join(w for w in words if w)
        if a.get("outcome") and a.get("outcome") != "final":
            text += f", {a['outcome']}"
        if a.get("error"):
            text += f": {a['error']}"
        parts.append(text)
    return f"{len(items)} (" + "; ".join(parts) + ")"


def problem(row: dict[str, Any]) -> str:
    """A failed/skipped/unrun job's error as one line: ``kind (infrastructure): message``."""
    kind = row.get("error_kind") or "error"
    infra = " (infrastructure)" if row.get("infrastructure") else ""
    return f"{kind}{infra}: {row.get('error') or 'no message recorded'}"


def banner(data: dict[str, Any]) -> str | None:
    """The simulated-phone warning, or None when every record is from a real phone."""
    if not data.get("simulated"):
        return None
    if data.get("modeled"):
        return ("SIMULATED PHONES — modeled timing, not a phone's numbers: the simulated "
                "phones' tools waited times modeled from each phone's profile")
    return ("SIMULATED PHONES — not a phone's numbers: the simulated phones ran the models "
            "on this host's CPU")


def job_label(row: dict[str, Any]) -> str:
    return f"{row['class']} · {row['workload']} · {row['backend']}"
