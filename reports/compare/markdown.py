"""The comparison as GitHub-flavoured Markdown (a CI job summary). Every text from a
record is HTML-escaped and its Markdown punctuation backslash-escaped, so a workload named
``<img src=x onerror=alert(1)>`` or ``a|b`` shows as text and cannot break the table."""

from __future__ import annotations

import re
from typing import Any

from npubench.reports.compare import view

ICONS = {"slower": "🔴 slower", "faster": "🟢 faster", "same": "⚪ same",
         "incomparable": "🟡 incomparable"}
_SPECIAL = re.compile(r"[&<>\\`*_{}\[\]()#+\-.!|~]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md_escape(text: str) -> str:
    """Text safe inside a Markdown table cell: no HTML (``& < >`` as entities), no
    formatting and no cell breaks (Markdown punctuation backslash-escaped), one line."""
    escaped = _SPECIAL.sub(lambda m: _ENTITIES.get(m[0]) or "\\" + m[0], str(text))
    return escaped.replace("\r", " ").replace("\n", "<br>")


def _lines(lines: list[str]) -> str:
    return "<br>".join(md_escape(line) for line in lines)


def render_markdown(data: dict[str, Any]) -> str:
    """``Comparison.to_dict()`` as Markdown."""
    out = ["## npubench compare", "", md_escape(view.headline(data)), ""]
    out.append(f"- BASE: {md_escape(view.run_label(data['base']))}")
    out.append(f"- NEW: {md_escape(view.run_label(data['new']))}")
    for note in data.get("notes", []):
        out.append(f"- **note**: {md_escape(note)}")
    if data.get("environment_changes"):
        out.append("- **environment changed for every cell** (possible causes): "
                   + "; ".join(md_escape(view.change_text(c))
                               for c in data["environment_changes"]))
    out += ["", "| verdict | cell | latency median | latency p90 | other figures | "
            "why / possible causes |", "|---|---|---|---|---|---|"]
    for cell in data["cells"]:
        out.append("| " + " | ".join([
            ICONS.get(cell["verdict"], md_escape(cell["verdict"])),
            md_escape(cell["label"]),
            md_escape(view.latency(cell, "latency_median")),
            md_escape(view.latency(cell, "latency_p90")),
            _lines([view.figure_text(f) for f in view.shown_figures(cell)]),
            _lines(view.why(data, cell)),
        ]) + " |")
    out += ["", "Ratios are NEW/BASE as a change with the 95% bootstrap interval; a cell is "
            "slower or faster only when a whole interval is beyond the threshold. Figures with "
            "one value per run have no interval and only inform.", ""]
    return "\n".join(out)
