"""A job's power from the fuel gauge's samples, given an idle baseline measured earlier in the
session (``devices.idle_baseline``). Pure: samples and numbers in, the record's ``power``
block out.

The gauge reports, during each of its windows, the average of the window before (it trails by
``lag`` = its update interval, ``phone_power.gauge_lag_s``). Two ways to read an active window
[a0, a1] (device uptime) through it, chosen by how long the window is:

- **interior** (no waiting): a sample at t reports a gauge window that ends at or before t and
  starts after t - 2 lag, so the samples of [a0 + 2 lag, a1] report only gauge windows wholly
  inside the active window: their time-weighted mean is the active power, with neither edge in
  it. Needs the window to hold at least ``min_interior_s`` (and 2 lag) more than 2 lag; a job's
  measured rounds repeat the same work, so the interior is the same load as the edges.
- **widened** (short windows): ``phone_power.window_power_mw`` with the idle power: the samples
  up to a1 + 2 lag hold all of the spread-out load, so the sampler must keep running for
  ``tail_s`` after the window (``tail_needed_s``), and the phone must idle before a0.
"""

from __future__ import annotations

import numpy as np

from npubench.devices.phone_power import (
    Calibration,
    Samples,
    gauge_lag_s,
    power_block,
    power_mw,
    window_power_mw,
)

MIN_INTERIOR_S = 0.5
INTERIOR = "interior"
WIDENED = "widened"


def interior_window(a0: float, a1: float, lag_s: float,
                    min_interior_s: float = MIN_INTERIOR_S) -> tuple[float, float] | None:
    """[a0 + 2 lag, a1] when it spans at least max(2 lag, ``min_interior_s``), else None."""
    lo = a0 + 2 * lag_s
    if a1 - lo >= max(2 * lag_s, min_interior_s):
        return lo, a1
    return None


def tail_needed_s(a0: float, a1: float, lag_s: float, interval_s: float) -> float:
    """How long the sampler must run on after a1: 0 for an interior reading, else 2 lag and
    two sampling intervals (``window_power_mw`` wants samples up to a1 + 2 lag)."""
    if interior_window(a0, a1, lag_s) is not None:
        return 0.0
    return 2 * lag_s + 2 * interval_s


DEFAULT_LAG_S = 1.0
"""The gauge lag assumed until one is seen (gauges update every 0.25 to 1 s)."""


def observed_lag_s(t_s, current_raw) -> float | None:
    """``gauge_lag_s`` where the samples show it (at least three changes of current_now),
    else None: too few samples, or a gauge that held its value, say nothing of the lag."""
    changes = int(np.count_nonzero(np.diff(np.asarray(current_raw, dtype=float))))
    return gauge_lag_s(t_s, current_raw) if changes >= 3 else None


def job_lag_s(samples: Samples, session_lag_s: float | None) -> float:
    """The gauge lag for this job: the larger of the session's (from its idle baselines) and
    what this job's own samples show (a gauge may slow down under load)."""
    own = observed_lag_s(samples.t_s, samples.values["current_now"]) if samples.n else None
    known = [lag for lag in (own, session_lag_s) if lag]
    return max(known) if known else DEFAULT_LAG_S


def job_power(samples: Samples, cal: Calibration, idle_mw: float,
              window: tuple[float | None, float | None], lag_s: float,
              iterations: int | None = None, measured_s: float | None = None) -> dict:
    """The record's ``power`` block: idle (the baseline's), active power over the window by
    the interior or widened reading, and energy per inference (``npubench.energy``). Raises
    ValueError with the reason power cannot be given."""
    a0, a1 = window
    if a0 is None or a1 is None or a1 <= a0:
        raise ValueError("the active window is unknown (the phone's uptime was unreadable)")
    interior = interior_window(a0, a1, lag_s)
    if interior is not None:
        active_mw = power_mw(samples, cal, *interior)
        method = (f"{INTERIOR}: mean of the samples of [start + 2 x gauge lag, end] = "
                  f"[{interior[0]:.2f}, {interior[1]:.2f}] s, gauge windows wholly inside the "
                  "active window")
    else:
        active_mw = window_power_mw(samples, cal, a0, a1, lag_s, idle_mw)
        method = (f"{WIDENED}: energy over [start, end + 2 x gauge lag] less the idle "
                  "power of the widening (the window is too short for an interior reading)")
    return power_block(samples, idle_mw, active_mw, a1 - a0, lag_s, iterations, measured_s,
                       method=method)
