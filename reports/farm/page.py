"""The night's HTML page (``templates/farm_report.html.j2``): one self-contained file,
inline CSS and SVG, no script, nothing loaded from the network. Jinja2 autoescapes every
value, the SVG's included (it is drawn by the template from ``timeline.layout``'s numbers)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from npubench.reports.farm import text, timeline

TEMPLATES = Path(__file__).parent.parent / "templates"
TEMPLATE = "farm_report.html.j2"
BAR_STATUSES = ("ok", "failed", "skipped", "health_failed", timeline.UNFINISHED)
"""Bar statuses with their own colour; any other status is drawn as ``other``."""


def render_page(data: dict[str, Any]) -> str:
    """``night_summary`` data as the HTML page."""
    lanes = timeline.layout(data["timeline"]) if data["timeline"] is not None else None
    return _template().render(d=data, t=text, lanes=lanes, bar_statuses=BAR_STATUSES,
                              clock=timeline.clock, duration=timeline.duration)


@lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE)
