"""The run report's frame-rate section: per frame-rate job, a table row (misses, drops, the
first sustained slowdown, the steady-state ratio) and one figure with latency, temperature and
CPU clock frequency over time on one shared time axis. Built from the record's ``framerate``
block and the ``framerate`` series of its samples side file; values stay plain text for the
autoescaping template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from npubench.reports import cells
from npubench.reports.cells import DASH
from npubench.reports.figures import COLOR, RC, SIMULATED_COLOR, svg_element
from npubench.results import read_samples

MAX_FRAME_POINTS = 2000
"""Per-frame dots drawn at most (evenly thinned); the windows' band shows every frame."""
MAX_CLOCK_LINES = 8
"""More CPU clocks than this are drawn as their mean and min-max band."""

COLUMNS = ("job", "fps", "s", "frames", "ran", "dropped", "missed", "miss ratio",
           "first steady miss", "first sustained slowdown", "steady ÷ first throughput",
           "first ÷ steady latency", "mechanism")


def framerate_section(run_dir: Path, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``{"columns", "jobs": [{title, simulated, cells, svg, mechanism, pacing}]}`` for the
    run's ok frame-rate jobs; None when there are none."""
    jobs = []
    for record in records:
        block = record.get("framerate")
        if record.get("status") != "ok" or not isinstance(block, dict):
            continue
        title = job_title(record)
        simulated = bool((record.get("device") or {}).get("simulated"))
        series = _series(run_dir, record)
        jobs.append({"title": title, "simulated": simulated, "cells": row_cells(title, block),
                     # trusted: made by matplotlib, which XML-escapes its text
                     "svg": Markup(timeline_svg(block, series, simulated)),
                     "mechanism": str(block.get("mechanism") or DASH),
                     "pacing": str(block.get("pacing") or DASH)})
    return {"columns": COLUMNS, "jobs": jobs} if jobs else None


def job_title(record: dict[str, Any]) -> str:
    workload = (record.get("workload") or {}).get("name") or DASH
    backend = record.get("backend") or {}
    base = f"{backend.get('runtime', '?')}:{backend.get('accelerator', '?')}"
    device = record.get("device") or {}
    return f"{workload} · {base} · {device.get('model') or device.get('id') or 'host'}"


def row_cells(title: str, b: dict[str, Any]) -> list[str]:
    num = cells.fmt_num
    missed = (str(b.get("missed")) if b.get("misses_exact")
              else f"{b.get('missed_low')}–{b.get('missed_high')} (bounds)")
    ratio = (_pct(b.get("miss_ratio")) if b.get("misses_exact")
             else f"{_pct(b.get('miss_ratio_low'))}–{_pct(b.get('miss_ratio_high'))}")
    return [title, num(b.get("fps")), num(b.get("duration_s")), str(b.get("frames", DASH)),
            str(b.get("processed", DASH)), str(b.get("dropped", DASH)), missed, ratio,
            _at(b, "first_steady_miss"), _at(b, "first_sustained_slowdown"),
            _ratio(b.get("steady_state_ratio")), _ratio(b.get("steady_latency_ratio")),
            str(b.get("mechanism") or DASH)]


def _pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if cells.is_number(value) else DASH


def _ratio(value: Any) -> str:
    return f"{value:.3f}" if cells.is_number(value) else DASH


def _at(b: dict[str, Any], key: str) -> str:
    t, frame = b.get(f"{key}_s"), b.get(f"{key}_frame")
    if not cells.is_number(t):
        return "none"
    return f"{t:.1f} s (frame {frame})" if frame is not None else f"{t:.1f} s"


def _series(run_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """The record's ``framerate`` samples; {} when missing, unreadable or outside the run."""
    rel = record.get("samples_path")
    if not isinstance(rel, str) or not rel:
        return {}
    root = Path(run_dir).resolve()
    if root not in (root / rel).resolve().parents:
        return {}
    try:
        data = read_samples(run_dir, record)
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("framerate"), dict):
        return {}
    series = dict(data["framerate"])
    if "start_s" in series:  # host: the frames' latencies are the samples' latency_ms
        series["latency_ms"] = data.get("latency_ms") or []
    return series


def timeline_svg(block: dict[str, Any], series: dict[str, Any], simulated: bool) -> str:
    """Latency (frames as dots where known, each window's median or mean with its min-max
    band, the deadline), the hottest temperature and the CPU clocks, stacked on one shared
    time axis; the first steady miss and first sustained slowdown as vertical lines."""
    import matplotlib as mpl
    import numpy as np
    from matplotlib.figure import Figure

    windows = block.get("windows") or []
    color = SIMULATED_COLOR if simulated else COLOR
    with mpl.rc_context(RC):
        fig = Figure(figsize=(10.5, 6.2), layout="constrained")
        lat_ax, temp_ax, freq_ax = fig.subplots(3, 1, sharex=True,
                                                gridspec_kw={"height_ratios": [2.2, 1, 1]})
        start = series.get("start_s") or []
        lat = (series.get("latency_ms") or [])
        if start and len(start) == len(lat):
            step = max(1, len(start) // MAX_FRAME_POINTS)
            lat_ax.plot(start[::step], lat[::step], ".", ms=2, color=color, alpha=0.35,
                        label="frames" + (f" (every {step}th)" if step > 1 else ""))
        t = [w["t_s"] for w in windows if w.get("latency_ms") is not None]
        mid = [w["latency_ms"] for w in windows if w.get("latency_ms") is not None]
        low = [w.get("latency_min_ms") for w in windows if w.get("latency_ms") is not None]
        high = [w.get("latency_max_ms") for w in windows if w.get("latency_ms") is not None]
        if t:
            width = block.get("window_s") or 1.0
            centre = [x + width / 2 for x in t]
            lat_ax.plot(centre, mid, "-", color="black", lw=1.2,
                        label="window median" if start else "round mean")
            if None not in low and None not in high:
                lat_ax.fill_between(centre, low, high, color=color, alpha=0.18, lw=0,
                                    label="window min–max")
        deadline = block.get("deadline_ms")
        if cells.is_number(deadline):
            lat_ax.axhline(deadline, color="#d62728", lw=1, ls="--",
                           label=f"deadline 1/fps = {deadline:.3g} ms")
        lat_ax.set_ylabel("latency (ms)")
        lat_ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=4)
        temp = series.get("temp") or {}
        if temp.get("t_s"):
            temp_ax.plot(temp["t_s"], [np.nan if v is None else v for v in temp["c"]],
                         color="#ff7f0e", lw=1.2)
        else:
            _missing(temp_ax, "no temperature sensor was read")
        temp_ax.set_ylabel(str(temp.get("label") or "hottest zone (°C)"), fontsize=9)
        _clocks(freq_ax, series.get("freq") or {}, float(block.get("window_s") or 1.0))
        freq_ax.set_ylabel("CPU clock (MHz)")
        freq_ax.set_xlabel("time since the first frame (s)")
        for key, style, text in (("first_steady_miss_s", ":", "first steady miss"),
                                 ("first_sustained_slowdown_s", "-.", "first sustained "
                                                                      "slowdown")):
            x = block.get(key)
            if cells.is_number(x):
                for ax in (lat_ax, temp_ax, freq_ax):
                    ax.axvline(x, color="#555555", ls=style, lw=1)
                lat_ax.annotate(text, (x, 1), xycoords=("data", "axes fraction"),
                                fontsize=8, rotation=90, va="top", ha="right")
        span = block.get("duration_s")
        if cells.is_number(span) and span > 0:  # the frames' time; not the idle baseline's
            lat_ax.set_xlim(-0.02 * span, span * 1.02)
        for ax in (lat_ax, temp_ax, freq_ax):
            ax.grid(color="#dddddd", linewidth=0.6)
            ax.set_axisbelow(True)
        if simulated:
            lat_ax.set_title("[simulated] a simulated phone, not a phone measurement",
                             loc="left", fontsize=9, color=SIMULATED_COLOR)
        return svg_element(fig)


def _clocks(ax, freq: dict[str, Any], width: float) -> None:
    """Each clock's mean per ``width`` seconds (a governor flips between idle and busy
    clocks faster than a figure can show), and its cap (scaling_max_freq, dashed) where
    sampled: throttling lowers the cap."""
    import numpy as np

    t, clocks = freq.get("t_s") or [], freq.get("mhz") or {}
    if not t or not clocks:
        _missing(ax, "no CPU clock was read")
        return
    values = {name: _binned(t, vs, width) for name, vs in clocks.items()}
    if len(values) > MAX_CLOCK_LINES:
        centre = next(iter(values.values()))[0]
        stack = np.asarray([v for _, v in values.values()], dtype=float)
        ax.plot(centre, np.nanmean(stack, axis=0), color="#2ca02c", lw=1.2,
                label=f"mean of {len(values)} CPUs")
        ax.fill_between(centre, np.nanmin(stack, axis=0), np.nanmax(stack, axis=0),
                        color="#2ca02c", alpha=0.18, lw=0)
    else:
        for index, (name, (centre, mean)) in enumerate(values.items()):
            color = f"C{index % 10}"
            ax.plot(centre, mean, lw=1.1, color=color, label=f"{name} (mean per {width:g} s)")
            caps = (freq.get("cap_mhz") or {}).get(name)
            if caps:
                cap_t, cap_v = _binned(t, caps, width)
                ax.plot(cap_t, cap_v, lw=0.9, ls="--", color=color, alpha=0.7)
    legend = ax.legend(loc="lower left", fontsize=7, frameon=False, ncols=4)
    for text in legend.get_texts():
        text.set_parse_math(False)


def _binned(t: list, values: list, width: float):
    """(bin centres, mean per bin) of ``values`` at times ``t`` in bins of ``width`` s."""
    import numpy as np

    x = np.asarray(t, dtype=float)
    y = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    if x.size == 0 or x.size != y.size:
        return np.zeros(0), np.zeros(0)
    edges = np.arange(np.floor(x.min() / width) * width, x.max() + width, width)
    which = np.clip(np.digitize(x, edges) - 1, 0, len(edges) - 1)
    sums = np.bincount(which, weights=np.nan_to_num(y), minlength=len(edges))
    counts = np.bincount(which, weights=np.isfinite(y).astype(float), minlength=len(edges))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, np.nan)
    return edges + width / 2, mean


def _missing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=9, color="#777777", parse_math=False)
