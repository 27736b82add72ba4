"""The night's HTML page (``templates/farm_report.html.j2``): one self-contained file,
inline CSS and SVG, no script, nothing loaded from the network. Jinja2 autoescapes every
value, the SVG's included (it is drawn by the template from ``timeline.layout``'s numbers)."""

from __future__ import annotations

from typing import Any

from npubench.reports.farm import text, timeline

TEMPLATE = "farm_report.html.j2"
BAR_STATUSES = ("ok", "failed", "skipped", "health_failed", timeline.UNFINISHED)
"""Bar statuses with their own colour; any other status is drawn as ``other``."""


def render_page(data: dict[str, Any]) -> str:
    """``night_summary`` data as the HTML page."""
    lanes = timeline.layout(data["timeline"]) if data["timeline"] is not None else None
    from npubench.reports.html import template

    return template(TEMPLATE).render(d=data, t=text, lanes=lanes, bar_statuses=BAR_STATUSES,
                              clock=timeline.clock, duration=timeline.duration)
