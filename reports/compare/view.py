"""The comparison as text pieces every output shares (terminal, Markdown, JUnit, HTML).
Input: ``Comparison.to_dict()``, so a comparison saved as JSON renders the same way. The
pieces are plain, unescaped text: each renderer escapes them for its own format."""

from __future__ import annotations

from typing import Any

VERDICT_WORDS = {"slower": "slower", "faster": "faster", "same": "same",
                 "incomparable": "incomparable"}
LATENCY = ("latency_median", "latency_p90")


def number(value: float | None) -> str:
    if value is None:
        return "—"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def change(ratio: float | None) -> str:
    """A ratio as a signed change: 1.052 -> ``+5.2%``."""
    if ratio is None:
        return "—"
    return f"{(ratio - 1) * 100:+.1f}%"


def interval(figure: dict[str, Any]) -> str:
    if figure.get("ci95_low") is None or figure.get("ci95_high") is None:
        return ""
    return f"[{change(figure['ci95_low'])}, {change(figure['ci95_high'])}]"


def figure_text(figure: dict[str, Any], *, with_label: bool = True) -> str:
    """``latency median 1.20 → 1.26 ms +5.0% [+3.1%, +7.0%] slower`` (or the reason)."""
    parts = [figure["label"]] if with_label else []
    if figure.get("base") is not None or figure.get("new") is not None:
        parts.append(f"{number(figure.get('base'))} → {number(figure.get('new'))} "
                     f"{figure['unit']}")
    if figure.get("ratio") is not None:
        parts.append(change(figure["ratio"]))
    if figure.get("interval"):
        parts.append(interval(figure))
        parts.append(figure.get("verdict") or "")
        if figure.get("run_spread") is not None:
            parts.append(f"(with the run-to-run spread ±{figure['run_spread']:.1%} of "
                         f"{figure.get('history_runs')} earlier runs)")
        if not figure.get("decides"):
            parts.append("(informs, does not decide)")
    elif figure.get("verdict") == "incomparable":
        parts.append(f"(incomparable: {figure.get('note')})")
    elif figure.get("note"):
        parts.append(f"({figure['note']})")
    return " ".join(p for p in parts if p)


def shown_figures(cell: dict[str, Any], *, everything: bool = False) -> list[dict[str, Any]]:
    """The figures worth a line besides the latency columns: every interval figure, and
    the one-value ones that moved beyond the threshold or are missing on one side
    (``everything``: all of them)."""
    out = []
    for f in cell["figures"]:
        if f["name"] in LATENCY and not everything:
            continue
        note = f.get("note") or ""
        if everything or f.get("verdict") or "more than" in note or "missing" in note:
            out.append(f)
    return out


def latency(cell: dict[str, Any], name: str) -> str:
    for f in cell["figures"]:
        if f["name"] == name:
            return figure_text(f, with_label=False)
    return ""


def change_text(change_row: dict[str, str]) -> str:
    return f"{change_row['name']}: {change_row['base'] or '(none)'} → " \
           f"{change_row['new'] or '(none)'}"


def cell_changes(data: dict[str, Any], cell: dict[str, Any]) -> list[str]:
    """The cell's environment changes not already listed for every cell."""
    common = {(c["name"], c["base"], c["new"]) for c in data.get("environment_changes", [])}
    return [change_text(c) for c in cell.get("environment_changes", [])
            if (c["name"], c["base"], c["new"]) not in common]


def why(data: dict[str, Any], cell: dict[str, Any]) -> list[str]:
    """Reason, notes and possible causes of one cell, one line each."""
    lines = [cell["reason"]] if cell.get("reason") else []
    lines += cell.get("notes") or []
    changes = cell_changes(data, cell)
    if changes:
        lines.append("possible causes (environment changed): " + "; ".join(changes))
    return lines


def headline(data: dict[str, Any]) -> str:
    counts = data["counts"]
    parts = [f"{counts.get(v, 0)} {v}" for v in VERDICT_WORDS]
    return (f"NEW {data['new']['run_id']} against BASE {data['base']['run_id']}: "
            + ", ".join(parts) + f" (threshold {data['threshold'] * 100:g}%)")


def run_label(run: dict[str, Any]) -> str:
    started = f", started {run['started_at']}" if run.get("started_at") else ""
    sim = ", simulated" if run.get("simulated") else ""
    if run.get("simulated") and run.get("simulated_timing") == "modeled":
        sim = ", simulated phone, modeled timing"
    return f"{run['run_id']} ({run['source']}{started}{sim})"
