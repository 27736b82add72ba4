"""A cell's history as one inline SVG: per followed figure, the median of each run with its 95%
interval, the fitted levels, the detected change points, and environment changes marked as
vertical lines on the run axis.

matplotlib through its object API (no pyplot, no GUI backend). The x axis is the run's position
(evenly spaced, labelled with dates, or dates and times when runs share a day) so that two runs
on one day stay apart. Labels taken from the data are drawn with ``parse_math=False`` and
matplotlib escapes the SVG text it writes.
"""

from __future__ import annotations

import numpy as np

from npubench.reports.figures import COLOR as _COLOR
from npubench.reports.figures import RC, svg_element
from npubench.reports.figures import SIMULATED_COLOR as _SIMULATED_COLOR
from npubench.reports.history.series import CellHistory, MetricHistory

_RC = {**RC, "font.size": 8}
_STEP_WORSE = "#d62728"
_STEP_BETTER = "#2ca02c"
_ENV_COLOR = "#7f7f7f"


def cell_svg(cell: CellHistory) -> str:
    """The cell's figure as an ``<svg>`` element ("" when nothing was measured)."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    metrics = [m for m in cell.metrics if m.measured]
    if not metrics:
        return ""
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(9.0, 0.6 + 2.3 * len(metrics)))
        fig.subplots_adjust(left=0.08, right=0.96, top=1 - 0.35 / (0.6 + 2.3 * len(metrics)),
                            bottom=0.5 / (0.6 + 2.3 * len(metrics)), hspace=0.45)
        axes = fig.subplots(len(metrics), 1, squeeze=False)[:, 0]
        for ax, history in zip(axes, metrics, strict=True):
            _draw(ax, history)
        return svg_element(fig)


def _draw(ax, history: MetricHistory) -> None:
    from matplotlib.ticker import MaxNLocator

    points = history.points
    n = len(points)
    x = np.arange(n, dtype=float)
    med = np.array([np.nan if p.median is None else p.median for p in points])
    low = np.array([np.nan if p.low is None else p.low for p in points])
    high = np.array([np.nan if p.high is None else p.high for p in points])
    simulated = np.array([p.simulated for p in points])
    has_interval = ~np.isnan(low)
    ax.vlines(x[has_interval], low[has_interval], high[has_interval], color=_COLOR,
              alpha=0.35, linewidth=2, label="95% interval")
    measured = ~np.isnan(med)
    ax.plot(x[measured], med[measured], color=_COLOR, linewidth=0.8, alpha=0.6)
    real = measured & ~simulated
    sim = measured & simulated
    if real.any():
        ax.plot(x[real], med[real], "o", color=_COLOR, markersize=3, label="median")
    if sim.any():
        ax.plot(x[sim], med[sim], "s", color=_SIMULATED_COLOR, markersize=3,
                label="median (simulated)")
        ax.set_title("yellow squares: simulated phone", loc="right", fontsize=7,
                     color=_SIMULATED_COLOR)
    # The fitted level: one horizontal segment per stretch between change points.
    bounds = [0, *(s.index for s in history.steps), n]
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        levels = [v for v in history.fit[start:end] if v is not None]
        if levels:
            ax.hlines(levels[0], start - 0.4 if start else -0.2, end - 0.6, color="black",
                      linewidth=1)
    bottom, top = _limits(med, low, high)
    ax.set_ylim(bottom, top)
    failed = ~measured
    if failed.any():  # runs of the cell that measured nothing (failed, skipped): marked, not drawn
        ax.plot(x[failed], np.full(int(failed.sum()), bottom), "x", color=_STEP_WORSE,
                markersize=5, clip_on=False, label="not measured")
    for i, point in enumerate(points):
        if point.env_changes and i > 0:
            ax.axvline(i - 0.5, color=_ENV_COLOR, linestyle=":", linewidth=1)
            names = ", ".join(sorted({name for name, _, _ in point.env_changes}))
            ax.text(i - 0.45, top, "env: " + _short(names), rotation=90, va="top", ha="left",
                    fontsize=6, color=_ENV_COLOR, parse_math=False)
    for step in history.steps:
        color = _STEP_WORSE if step.worse else _STEP_BETTER
        ax.axvline(step.index - 0.5, color=color, linewidth=1.2)
        ax.text(step.index - 0.55, bottom, f"{step.relative:+.1%}", rotation=90, va="bottom",
                ha="right", fontsize=7, color=color, parse_math=False)
    ax.set_xlim(-0.7, max(n - 0.3, 0.7))
    ax.set_ylabel(history.metric.label, parse_math=False)
    ticks = _ticks(n)
    ax.set_xticks(ticks, _tick_labels([points[i].started_at for i in ticks]), parse_math=False)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    # No matplotlib legend: the page explains the marks under the figure (a legend per axes
    # was a tenth of the site's build time).


def _limits(med, low, high) -> tuple[float, float]:
    values = np.concatenate([med, low, high])
    values = values[~np.isnan(values)]
    lo, hi = float(values.min()), float(values.max())
    pad = (hi - lo) * 0.25 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad


def _ticks(n: int, most: int = 6) -> list[int]:
    if n <= most:
        return list(range(n))
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, most)})


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"



def _tick_labels(times: list[str]) -> list[str]:
    """Dates (``2026-12-06``), or month-day and time when two labelled runs share a day."""
    days = [t[:10] for t in times]
    if len(set(days)) == len(days):
        return [d or str(i) for i, d in enumerate(days)]
    return [t[5:16].replace("T", " ") or str(i) for i, t in enumerate(times)]
