"""Figures for the report, rendered to inline SVG strings.

matplotlib is used through its object API (``Figure``), never ``pyplot``: no global state, no
GUI backend, safe in threads and in a pytest process. Text is kept as SVG ``<text>`` (small,
searchable); matplotlib XML-escapes it, and mathtext is switched off for every label taken from
the data, so a workload called ``$x$`` or ``<script>`` prints as itself.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# A spread wider than this (max / min of what is drawn) switches the axis to log scale.
LOG_SCALE_RATIO = 10.0
MAX_POINTS = 300  # dots drawn per row; the box always summarises every sample

_RC = {
    "svg.fonttype": "none",
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_SIMULATED_COLOR = "#b58900"
_COLOR = "#1f77b4"


@dataclass(frozen=True)
class LatencySeries:
    """One row of a latency figure: one job's per-iteration latencies."""

    label: str
    samples_ms: Sequence[float] = field(repr=False)
    simulated: bool = False


def use_log_scale(series: Sequence[LatencySeries]) -> bool:
    values = [v for s in series for v in s.samples_ms if v > 0]
    return bool(values) and max(values) / min(values) > LOG_SCALE_RATIO


def latency_svg(series: Sequence[LatencySeries], title: str = "", *, seed: int = 0) -> str:
    """A horizontal box plot (quartiles, whiskers at the 5th and 95th percentiles) per series,
    with up to ``MAX_POINTS`` of its iterations as jittered dots, returned as an ``<svg>``
    element. Series without samples are left out; with none left the result is ``""``.
    """
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    series = [s for s in series if len(s.samples_ms)]
    if not series:
        return ""
    rng = random.Random(seed)
    with mpl.rc_context(_RC):
        height = 1.0 + 0.45 * len(series)
        fig = Figure(figsize=(10.5, height), layout="constrained")
        ax = fig.add_subplot()
        # First series at the top.
        positions = list(range(len(series), 0, -1))
        data = [list(map(float, s.samples_ms)) for s in series]
        boxes = ax.boxplot(
            data,
            positions=positions,
            orientation="horizontal",
            whis=(5, 95),
            showfliers=False,
            widths=0.55,
            patch_artist=True,
            medianprops={"color": "black", "linewidth": 1.5},
        )
        for patch, s in zip(boxes["boxes"], series, strict=True):
            color = _SIMULATED_COLOR if s.simulated else _COLOR
            patch.set_facecolor(color)
            patch.set_alpha(0.35)
            if s.simulated:
                patch.set_hatch("///")
        for pos, values, s in zip(positions, data, series, strict=True):
            shown = values if len(values) <= MAX_POINTS else rng.sample(values, MAX_POINTS)
            jitter = [pos + rng.uniform(-0.18, 0.18) for _ in shown]
            color = _SIMULATED_COLOR if s.simulated else _COLOR
            ax.scatter(shown, jitter, s=4, color=color, alpha=0.45, linewidths=0, zorder=3)
        labels = [f"{s.label}  [simulated]" if s.simulated else s.label for s in series]
        ax.set_yticks(positions, labels, parse_math=False)
        if use_log_scale(series):
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlabel("latency per inference (ms)" + (", log scale" if ax.get_xscale() == "log"
                                                       else ""))
        if title:
            ax.set_title(title, parse_math=False, loc="left", fontsize=10)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        return _svg(fig)


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    # Inline in HTML: drop the XML declaration and DOCTYPE, keep the <svg> element, and drop
    # its RDF <metadata> (matplotlib's own name and licence URLs, nothing about the data).
    text = text[text.index("<svg") :]
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
