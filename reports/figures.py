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

RC = {
    "svg.fonttype": "none",
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
SIMULATED_COLOR = "#b58900"
COLOR = "#1f77b4"
# One colour per group (backend) in the bar charts, in order of first appearance.
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")


@dataclass(frozen=True)
class LatencySeries:
    """One row of a latency figure: one job's per-iteration latencies."""

    label: str
    samples_ms: Sequence[float] = field(repr=False)
    simulated: bool = False


def use_log_scale(series: Sequence[LatencySeries]) -> bool:
    values = [v for s in series for v in s.samples_ms if v > 0]
    return bool(values) and max(values) / min(values) > LOG_SCALE_RATIO


def latency_svg(series: Sequence[LatencySeries], title: str = "", *, seed: int = 0,
                unit: str = "latency per inference (ms)") -> str:
    """A horizontal box plot (quartiles, whiskers at the 5th and 95th percentiles) per series,
    with up to ``MAX_POINTS`` of its iterations as jittered dots, returned as an ``<svg>``
    element. Series without samples are left out; with none left the result is ``""``.
    ``unit`` labels the axis (an LLM's rows are per generated token).
    """
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    series = [s for s in series if len(s.samples_ms)]
    if not series:
        return ""
    rng = random.Random(seed)
    with mpl.rc_context(RC):
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
            color = SIMULATED_COLOR if s.simulated else COLOR
            patch.set_facecolor(color)
            patch.set_alpha(0.35)
            if s.simulated:
                patch.set_hatch("///")
        for pos, values, s in zip(positions, data, series, strict=True):
            shown = values if len(values) <= MAX_POINTS else rng.sample(values, MAX_POINTS)
            jitter = [pos + rng.uniform(-0.18, 0.18) for _ in shown]
            color = SIMULATED_COLOR if s.simulated else COLOR
            ax.scatter(shown, jitter, s=4, color=color, alpha=0.45, linewidths=0, zorder=3)
        labels = [f"{s.label}  [simulated]" if s.simulated else s.label for s in series]
        ax.set_yticks(positions, labels, parse_math=False)
        if use_log_scale(series):
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlabel(unit + (", log scale" if ax.get_xscale() == "log" else ""))
        if title:
            ax.set_title(title, parse_math=False, loc="left", fontsize=10)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        return svg_element(fig)


def svg_element(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    # Inline in HTML: drop the XML declaration and DOCTYPE, keep the <svg> element, and drop
    # its RDF <metadata> (matplotlib's own name and licence URLs, nothing about the data).
    text = text[text.index("<svg") :]
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)


@dataclass(frozen=True)
class RateBar:
    """One bar of a rate figure (e.g. decode tokens/s of one job): ``value`` with the 95%
    confidence interval of the median as a whisker where known. ``section`` groups bars (a
    gap between sections); ``group`` picks the colour and names it in the legend."""

    label: str
    value: float
    section: str = ""
    group: str = ""
    low: float | None = None
    high: float | None = None
    simulated: bool = False


def rates_svg(bars: Sequence[RateBar], unit: str, title: str = "") -> str:
    """Horizontal bars, first at the top, the value printed at each bar's end; log scale when
    the values span more than ``LOG_SCALE_RATIO``. Simulated bars are hatched and labelled."""
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from npubench.reports.cells import fmt_num

    bars = [b for b in bars if b.value > 0]
    if not bars:
        return ""
    step = 1.5 if any("\n" in b.label for b in bars) else 1.0  # room for two-line labels
    positions, pos, previous = [], 0.0, bars[0].section
    for bar in bars:
        pos += step * (1.6 if bar.section != previous else 1.0)
        previous = bar.section
        positions.append(-pos)
    colors = _group_colors(b.group for b in bars)
    values = [b.value for b in bars]
    log = max(values) / min(values) > LOG_SCALE_RATIO
    with mpl.rc_context(RC):
        fig = Figure(figsize=(10.5, 1.2 + 0.36 * step * len(bars)), layout="constrained")
        ax = fig.add_subplot()
        left = min(b.low if b.low and b.low > 0 else b.value for b in bars) / 2 if log else 0
        for bar, y in zip(bars, positions, strict=True):
            ax.barh(y, bar.value - left, left=left, height=0.72 * step, color=colors[bar.group],
                    alpha=0.85, hatch="///" if bar.simulated else None,
                    edgecolor=SIMULATED_COLOR if bar.simulated else "none")
            end = bar.value
            if bar.low is not None and bar.high is not None and bar.low <= bar.value <= bar.high:
                ax.errorbar(bar.value, y, xerr=[[bar.value - bar.low], [bar.high - bar.value]],
                            fmt="none", ecolor="black", elinewidth=1, capsize=3, zorder=3)
                end = bar.high
            ax.text(end * 1.06 if log else end + 0.01 * max(values), y, fmt_num(bar.value),
                    va="center", fontsize=9, parse_math=False)
        labels = [f"{b.label}  [simulated]" if b.simulated else b.label for b in bars]
        ax.set_yticks(positions, labels, parse_math=False)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(left, max(b.high or b.value for b in bars) * 2.2)
        else:
            ax.set_xlim(0, max(b.high or b.value for b in bars) * 1.12)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlabel(unit + (", log scale" if log else ""))
        _legend(ax, colors)
        if title:
            ax.set_title(title, parse_math=False, loc="left", fontsize=10)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        return svg_element(fig)


@dataclass(frozen=True)
class MemoryBar:
    """One job of the memory figure: its peak memory against its model's weights + KV cache."""

    label: str
    peak_mb: float
    weights_mb: float
    kv_mb: float
    simulated: bool = False


def memory_svg(bars: Sequence[MemoryBar], title: str = "") -> str:
    """Per job, two bars side by side: weights + KV cache (stacked) and the peak memory, with
    the ratio peak / (weights + KV) printed beside them."""
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    bars = [b for b in bars if b.weights_mb + b.kv_mb > 0]
    if not bars:
        return ""
    with mpl.rc_context(RC):
        fig = Figure(figsize=(10.5, 1.4 + 0.62 * len(bars)), layout="constrained")
        ax = fig.add_subplot()
        top = max(max(b.peak_mb, b.weights_mb + b.kv_mb) for b in bars)
        positions = [-1.0 * i for i in range(len(bars))]
        for i, (bar, y) in enumerate(zip(bars, positions, strict=True)):
            hatch = "///" if bar.simulated else None
            ax.barh(y + 0.17, bar.weights_mb, height=0.32, color="#1f77b4", hatch=hatch,
                    label="weights" if i == 0 else "_nolegend_")
            ax.barh(y + 0.17, bar.kv_mb, left=bar.weights_mb, height=0.32, color="#9ecae1",
                    hatch=hatch, label="KV cache" if i == 0 else "_nolegend_")
            ax.barh(y - 0.17, bar.peak_mb, height=0.32, color="#ff7f0e", hatch=hatch,
                    label="peak memory" if i == 0 else "_nolegend_")
            ratio = bar.peak_mb / (bar.weights_mb + bar.kv_mb)
            ax.text(max(bar.peak_mb, bar.weights_mb + bar.kv_mb) + 0.01 * top, y,
                    f"{ratio:.2f}×", va="center", fontsize=9, fontweight="bold",
                    parse_math=False)
        labels = [f"{b.label}  [simulated]" if b.simulated else b.label for b in bars]
        ax.set_yticks(positions, labels, parse_math=False)
        ax.set_xlim(0, top * 1.12)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlabel("memory, MB (2^20 bytes)")
        ax.legend(loc="lower right", fontsize=8, frameon=False, ncols=3,
                  bbox_to_anchor=(1, 1), borderaxespad=0.2)
        if title:
            ax.set_title(title, parse_math=False, loc="left", fontsize=10)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        return svg_element(fig)


def _group_colors(groups) -> dict[str, str]:
    colors: dict[str, str] = {}
    for group in groups:
        colors.setdefault(group, _PALETTE[len(colors) % len(_PALETTE)])
    return colors


def _legend(ax, colors: dict[str, str]) -> None:
    """A legend of the groups' colours, its text from the data (so mathtext off)."""
    from matplotlib.patches import Patch

    if len(colors) < 2 and not any(colors):
        return
    handles = [Patch(color=c, alpha=0.85, label=g or "—") for g, c in colors.items()]
    legend = ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=False,
                       ncols=min(len(handles), 4), bbox_to_anchor=(1, 1), borderaxespad=0.2)
    for text in legend.get_texts():
        text.set_parse_math(False)
