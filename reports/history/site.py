"""The history site: a front page (the most recent changes first, then per device model a table
of its cells) and one page per cell (its figure, its change points, its runs). Static and
self-contained: the figures are inline SVG, the style is inline, nothing is loaded from the
network (a Content-Security-Policy in each page says so to the browser).

Jinja2 autoescapes every value; page file names are hashes of the cell ids, so no workload,
device or backend name ever reaches a path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from npubench.reports.history.figure import cell_svg
from npubench.reports.history.series import CellHistory, MetricHistory, Point, StepAt
from npubench.reports.run_view import RunView

TEMPLATES = Path(__file__).parent / "templates"
RECENT_CHANGES = 50
"""How many change points the front page lists (newest first)."""
SIMULATED_NOTE = ("measured on the simulated phone (devices/sim): numbers come from a model of a "
                  "phone, not from hardware")


@dataclass
class SiteSummary:
    out_dir: Path
    index: Path
    runs: int
    cells: int
    steps: int


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = format_number
    env.filters["pct"] = lambda v: f"{v:+.1%}"
    env.filters["day"] = lambda text: str(text)[:16].replace("T", " ")
    return env


def format_number(value: float | None) -> str:
    """Four significant digits, or an em dash for a missing value."""
    if value is None:
        return "—"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


def sparkline(history: MetricHistory, width: int = 120, height: int = 22) -> str:
    """The ``points`` attribute of an SVG polyline of the measured medians (numbers only)."""
    values = [p.median for p in history.points if p.median is not None]
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
                    for i, v in enumerate(values))


def trend_text(history: MetricHistory) -> str:
    """The latest change point, or that there was none, in words."""
    measured = history.measured
    if not history.steps:
        return f"no change over {len(measured)} run{'s' if len(measured) != 1 else ''}"
    step = history.steps[-1]
    return f"{step.relative:+.1%} since {step.started_at[:10] or step.run_id}"


def _interval(point: Point) -> str:
    if point.low is None or point.high is None:
        return "—"
    return f"[{format_number(point.low)}, {format_number(point.high)}]"


def build_site(views: Sequence[RunView], cells: Sequence[CellHistory], out_dir: Path, *,
               source: str = "", generated_at: datetime | None = None) -> SiteSummary:
    """Write ``index.html`` and one page per cell into ``out_dir`` (created; pages of an
    earlier build with the same names are replaced)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = _env()
    generated = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    common = {"source": source, "generated": generated, "simulated_note": SIMULATED_NOTE,
              "interval": _interval, "trend": trend_text, "sparkline": sparkline}
    cell_template = env.get_template("cell.html.j2")
    for cell in cells:
        html = cell_template.render(cell=cell, figure=cell_svg(cell), **common)
        (out_dir / cell.page).write_text(html, encoding="utf-8")
    steps = recent_steps(cells)
    by_model: dict[str, list[CellHistory]] = {}
    for cell in cells:
        by_model.setdefault(cell.key.device_model or "(unknown model)", []).append(cell)
    first = views[0].started_at if views else ""
    last = views[-1].started_at if views else ""
    index = out_dir / "index.html"
    index.write_text(env.get_template("index.html.j2").render(
        runs=len(views), first=first, last=last, cells=cells, by_model=by_model,
        recent=steps[:RECENT_CHANGES], more=max(0, len(steps) - RECENT_CHANGES), **common),
        encoding="utf-8")
    return SiteSummary(out_dir, index, len(views), len(cells), len(steps))


def recent_steps(cells: Sequence[CellHistory]) -> list[tuple[CellHistory, StepAt]]:
    """Every change point of every cell, the newest first (ties: the biggest move first)."""
    found = [(cell, step) for cell in cells for step in cell.steps]
    found.sort(key=lambda cs: (cs[1].started_at, abs(cs[1].relative)), reverse=True)
    return found
