"""Frame-rate (sustained) mode, the pure half: the camera's schedule, deadline misses, the first
sustained slowdown and the steady-state ratio. Plain numbers in, plain dicts out (JSON-ready).

Pacing ("camera, keep the latest frame"), as the record and the README say it:

- camera frame ``k`` arrives at ``k / fps`` (k = 0 .. N-1, N = round(fps x duration_s));
- the model takes one frame at a time; when it is free it takes the newest frame that has
  arrived and was not taken, else it waits for the next arrival;
- frames that arrived while the model was busy and were overtaken by a newer one are
  **dropped** (never run);
- a frame's deadline is its arrival + 1/fps: a processed frame whose result comes later is
  **missed** (``over_budget`` counts those whose inference alone took longer than 1/fps);
- ``miss_ratio`` = (missed + dropped) / N: the share of camera frames without a result in time.

On a phone, benchmark_model's ``--run_frequency`` paces differently (a late run is followed at
once by the next, nothing is dropped) and prints only each round's count/min/max/avg/std:
``window_from_round`` turns a round into a window whose misses are exact where max <= deadline
(none) or min > deadline (all), and otherwise bounds derived from those aggregates.

Windows are consecutive ``window_s`` spans of the schedule. The first sustained slowdown is where
the windows' latency, fitted piecewise-constant (``reports.history.steps.detect_steps``: PELT
under the L1 norm, robust to a single outlier window), first stands ``SLOWDOWN_MIN_RELATIVE``
above its first level (a step, or where a gradual climb passes it); the
first steady miss is the first run of ``sustain_s`` consecutive windows in which more than half
of the camera frames missed. Steady state is the last third of the run; its throughput (frames
that ran, per second) is divided by that of the first minute (the first third for runs shorter
than three minutes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

PACING = ("camera frames arrive every 1/fps; the model takes the newest arrived frame when it "
          "is free; frames overtaken while it was busy are dropped; a frame whose result "
          "comes after arrival + 1/fps is missed")
SLOWDOWN_MIN_RELATIVE = 0.10
"""A slowdown: the windows' fitted latency at least 10% above its first level."""
MAX_STEP_WINDOWS = 600
"""Change points are sought over at most this many windows (longer runs: coarser windows)."""
FIRST_SPAN_S = 60.0


def frame_count(fps: float, duration_s: float) -> int:
    """Camera frames in the schedule."""
    return max(1, int(round(fps * duration_s)))


def next_frame(elapsed_s: float, fps: float, last_index: int) -> tuple[int, float]:
    """The frame the model takes when it is free ``elapsed_s`` after the first arrival, having
    taken ``last_index`` last (-1: none): the newest arrived one, else the next to arrive.
    Returns (index, its arrival time in s); frames between ``last_index`` and it are dropped."""
    newest = math.floor(elapsed_s * fps + 1e-9)
    index = max(newest, last_index + 1)
    return index, index / fps


def miss_bounds(n: int, mean_ms: float, min_ms: float, max_ms: float,
                deadline_ms: float) -> tuple[int, int]:
    """How many of ``n`` runs took longer than ``deadline_ms``, from their mean, min and max
    alone: (low, high), equal where the answer is exact. The bounds: with m runs above the
    deadline, n x mean <= m x max + (n - m) x deadline and n x mean >= m x deadline +
    (n - m) x min."""
    if n <= 0:
        return 0, 0
    if max_ms <= deadline_ms:
        return 0, 0
    if min_ms > deadline_ms:
        return n, n
    total = n * mean_ms
    low = max(1, math.ceil((total - n * deadline_ms) / (max_ms - deadline_ms) - 1e-6))
    high = n - 1
    if deadline_ms > min_ms:
        high = min(high, math.floor((total - n * min_ms) / (deadline_ms - min_ms) + 1e-6))
    low = min(low, n - 1)
    return low, max(low, high)


def window_from_round(t_s: float, fps: float, stat: dict[str, Any],
                      first_frame: int = 0) -> dict[str, Any]:
    """One phone round (benchmark_model's count/min/max/avg/std, ms) as a window. Nothing is
    dropped (the tool runs every frame); misses are exact or bounds (see ``miss_bounds``);
    ``throughput_fps`` is the rate the round sustained, min(fps, 1000 / mean)."""
    deadline = 1000.0 / fps
    n = int(stat.get("n") or 0)
    mean, lo_ms, hi_ms = stat.get("mean"), stat.get("min"), stat.get("max")
    if n and None not in (mean, lo_ms, hi_ms):
        low, high = miss_bounds(n, mean, lo_ms, hi_ms, deadline)
        throughput = min(fps, 1000.0 / mean) if mean > 0 else None
    else:
        low, high, throughput = None, None, None
    span = n * max(1.0 / fps, (mean or 0.0) / 1e3)  # paced, or back to back when late
    return {"t_s": round(t_s, 3), "span_s": round(span, 3), "first_frame": first_frame,
            "first_miss_frame": None,
            "frames": n, "processed": n, "dropped": 0,
            "missed_low": low, "missed_high": high,
            "missed": low if low is not None and low == high else None,
            "misses_exact": low is not None and low == high,
            "latency_ms": mean, "latency_min_ms": lo_ms, "latency_max_ms": hi_ms,
            "latency_std_ms": stat.get("std"),
            "busy_ratio": (mean / deadline) if mean is not None else None,
            "throughput_fps": throughput}


def frame_windows(index: Sequence[int], start_s: Sequence[float], latency_ms: Sequence[float],
                  fps: float, duration_s: float, window_s: float = 1.0) -> list[dict[str, Any]]:
    """The host's per-frame series (processed frames: camera index, start since the first
    arrival, latency) as windows of the camera schedule, each with its exact counts."""
    n_frames = frame_count(fps, duration_s)
    idx = np.asarray(index, dtype=int)
    start = np.asarray(start_s, dtype=float)
    lat = np.asarray(latency_ms, dtype=float)
    arrival = idx / fps
    missed = (start + lat / 1e3) > arrival + 1.0 / fps
    per_window = max(1, int(round(window_s * fps)))
    windows = []
    for first in range(0, n_frames, per_window):
        last = min(first + per_window, n_frames)
        inside = (idx >= first) & (idx < last)
        k = int(inside.sum())
        m = int(missed[inside].sum())
        latencies = lat[inside]
        late = set(range(first, last)) - set(idx[inside & ~missed].tolist())
        windows.append({
            "t_s": round(first / fps, 3), "first_frame": first,
            "first_miss_frame": min(late) if late else None,
            "frames": last - first, "processed": k,
            "dropped": (last - first) - k, "missed": m, "missed_low": m, "missed_high": m,
            "misses_exact": True,
            "latency_ms": float(np.median(latencies)) if k else None,
            "latency_min_ms": float(latencies.min()) if k else None,
            "latency_max_ms": float(latencies.max()) if k else None,
            "over_budget": int((latencies > 1000.0 / fps).sum()),
            "throughput_fps": k / ((last - first) / fps),
        })
    return windows


def analyse(windows: list[dict[str, Any]], fps: float, duration_s: float,
            sustain_s: float | None = None) -> dict[str, Any]:
    """The ``framerate`` block's figures from the windows (host or phone): totals, misses
    (exact, or bounds), the first sustained slowdown, the first steady miss and the
    steady-state ratio. ``sustain_s``: how long a run of missing windows must last to be
    steady (default: 5 s, or a quarter of a shorter run)."""
    frames = sum(w["frames"] for w in windows)
    processed = sum(w["processed"] for w in windows)
    dropped = sum(w["dropped"] for w in windows)
    exact = all(w["misses_exact"] for w in windows)
    low = sum(w["missed_low"] or 0 for w in windows)
    high = sum(w["missed_high"] if w["missed_high"] is not None else w["frames"]
               for w in windows)
    if sustain_s is None:
        sustain_s = min(5.0, max(duration_s / 4, 1.0 / fps))
    starts = [w["t_s"] for w in windows]
    window_s = (starts[1] - starts[0]) if len(starts) > 1 else duration_s
    sustain_n = max(1, int(round(sustain_s / window_s))) if window_s > 0 else 1
    out: dict[str, Any] = {
        "frames": frames,
        "processed": processed,
        "dropped": dropped,
        "missed": low if exact else None,
        "missed_low": low,
        "missed_high": high,
        "misses_exact": exact,
        "miss_ratio": (low + dropped) / frames if exact and frames else None,
        "miss_ratio_low": (low + dropped) / frames if frames else None,
        "miss_ratio_high": (high + dropped) / frames if frames else None,
        "sustain_s": sustain_s,
    }
    out.update(first_steady_miss(windows, sustain_n))
    out.update(first_slowdown(windows, sustain_n))
    out.update(steady_state(windows, duration_s))
    return out


def first_steady_miss(windows: list[dict[str, Any]], sustain_n: int) -> dict[str, Any]:
    """The first run of ``sustain_n`` windows in a row where more than half the camera frames
    certainly missed (dropped + the low bound of missed); its start."""
    run = 0
    for i, w in enumerate(windows):
        bad = (w["dropped"] + (w["missed_low"] or 0)) * 2 > w["frames"] if w["frames"] else False
        run = run + 1 if bad else 0
        if run == sustain_n:
            first = windows[i - sustain_n + 1]
            frame = first["first_miss_frame"]
            return {"first_steady_miss_s": first["t_s"],
                    "first_steady_miss_frame": first["first_frame"] if frame is None else frame,
                    "first_steady_miss_window": i - sustain_n + 1}
    return {"first_steady_miss_s": None, "first_steady_miss_frame": None,
            "first_steady_miss_window": None}


def first_slowdown(windows: list[dict[str, Any]], min_segment: int) -> dict[str, Any]:
    """The first sustained slowdown: the windows' latency is fitted piecewise-constant
    (``detect_steps``: PELT under the L1 norm, over at most ``MAX_STEP_WINDOWS`` merged
    windows, segments of at least ``min_segment`` windows, so one outlier is no segment); the
    first segment whose level is ``SLOWDOWN_MIN_RELATIVE`` above the first segment's starts
    it (a step, or the step of a gradual climb where it passes +10%)."""
    from npubench.reports.history.steps import detect_steps

    none = {"first_sustained_slowdown_s": None, "first_sustained_slowdown_frame": None,
            "first_sustained_slowdown_window": None,
            "slowdown_before_ms": None, "slowdown_after_ms": None}
    points = [(i, w["latency_ms"]) for i, w in enumerate(windows)
              if w["latency_ms"] is not None and math.isfinite(w["latency_ms"])]
    if len(points) < 2 * max(min_segment, 2):
        return none
    merge = max(1, math.ceil(len(points) / MAX_STEP_WINDOWS))
    groups = [points[i:i + merge] for i in range(0, len(points), merge)]
    series = [float(np.median([v for _, v in g])) for g in groups]
    steps = detect_steps(series, min_segment=max(2, math.ceil(min_segment / merge)))
    if not steps:
        return none
    baseline = steps[0].before
    for step in steps:
        if baseline > 0 and step.after >= baseline * (1 + SLOWDOWN_MIN_RELATIVE):
            window = groups[step.index][0][0]
            return {"first_sustained_slowdown_s": windows[window]["t_s"],
                    "first_sustained_slowdown_frame": windows[window]["first_frame"],
                    "first_sustained_slowdown_window": window,
                    "slowdown_before_ms": baseline, "slowdown_after_ms": step.after}
    return none


def steady_state(windows: list[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    """Steady state = the last third of the run; first span = the first minute (the first
    third when the run is shorter than three minutes). Throughput: frames that ran per second
    of the span; latency ratio: first span's median latency / the steady state's (< 1: slower
    at the end)."""
    first_end = min(FIRST_SPAN_S, duration_s / 3)
    steady_start = duration_s * 2 / 3
    first = [w for w in windows if w["t_s"] < first_end - 1e-9]
    steady = [w for w in windows if w["t_s"] >= steady_start - 1e-9]

    def rate(ws):
        tp = [w["throughput_fps"] for w in ws if w["throughput_fps"] is not None]
        return float(np.mean(tp)) if tp else None

    def lat(ws):
        values = [w["latency_ms"] for w in ws if w["latency_ms"] is not None]
        return float(np.median(values)) if values else None

    r0, r1, l0, l1 = rate(first), rate(steady), lat(first), lat(steady)
    return {
        "first_span_s": [0.0, round(first_end, 3)],
        "steady_span_s": [round(steady_start, 3), round(duration_s, 3)],
        "first_throughput_fps": r0,
        "steady_throughput_fps": r1,
        "steady_state_ratio": r1 / r0 if r0 and r1 is not None else None,
        "first_latency_ms": l0,
        "steady_latency_ms": l1,
        "steady_latency_ratio": l0 / l1 if l0 and l1 else None,
    }


def window_telemetry(windows: list[dict[str, Any]], series: dict[str, Any],
                     window_s: float) -> None:
    """Add each window's mean hottest temperature (°C) and mean CPU frequency (MHz, the mean
    over the clocks sampled) to ``windows`` in place, from a ``series`` of the samples side
    file (``{"temp": {"t_s", "c"}, "freq": {"t_s", "mhz": {name: values}}}``, times on the
    windows' clock) over each window's ``span_s`` (else ``window_s``); None where no sample
    fell in a window."""
    temp = series.get("temp") or {}
    freq = series.get("freq") or {}
    clocks = list((freq.get("mhz") or {}).values())
    freq_mean = (np.nanmean(np.asarray(clocks, dtype=float), axis=0) if clocks
                 else np.zeros(0))
    for key, t, values in (("temp_c", temp.get("t_s") or [], temp.get("c") or []),
                           ("freq_mhz", freq.get("t_s") or [], freq_mean)):
        t = np.asarray(t, dtype=float)
        v = np.asarray([np.nan if x is None else x for x in values], dtype=float)
        for w in windows:
            inside = (t >= w["t_s"]) & (t < w["t_s"] + w.get("span_s", window_s))
            picked = v[inside] if t.size == v.size else v[:0]
            picked = picked[np.isfinite(picked)]
            w[key] = round(float(picked.mean()), 2) if picked.size else None


PHONE_TOOLS = {"ort": "onnxruntime_perf_test", "llama": "llama-bench"}


def unsupported(workload, backend, on_phone: bool) -> str | None:
    """Why a job cannot run in frame-rate mode (None where it can): a language model or a
    pipeline has no frames; on a phone only benchmark_model paces its runs."""
    if getattr(workload, "llm", None) is not None:
        return ("frame-rate mode (fps) feeds frames to an image model; a language model's job "
                "has no frames (run it without --fps)")
    if getattr(workload, "pipeline", None) is not None:
        return ("frame-rate mode (fps) feeds camera frames; a pipeline paces itself by its "
                "audio (run it without --fps)")
    if on_phone and backend.runtime != "tflite":
        tool = PHONE_TOOLS.get(backend.runtime, backend.runtime)
        return (f"frame-rate mode is not supported with {tool}: it has no option to pace its "
                "runs (benchmark_model's --run_frequency is the mechanism used on phones); use "
                "a tflite:* backend")
    return None
