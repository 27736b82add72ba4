"""Power and energy arithmetic: plain numbers in, plain numbers out (no I/O).

Units: power in mW, energy counters in µJ, energy results in mJ, time in s (mW x s = mJ).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def energy_mj_per_inference(
    active_mw: float, idle_mw: float | None, measured_s: float, iterations: int
) -> float:
    """Energy one inference (or one token: pass the token count) costs above idle, in mJ.

    ``(active_mw - idle_mw) * measured_s / iterations``. With ``idle_mw`` None no baseline is
    subtracted and the result is the gross energy (everything the measured domains drew);
    callers should record that the idle baseline is missing. Active power below the idle
    baseline has no physical meaning for one workload (noise, another load during the
    baseline): that raises ValueError rather than returning a made-up or clamped number.
    """
    if iterations <= 0:
        raise ValueError(f"iterations must be positive, got {iterations}")
    if measured_s <= 0:
        raise ValueError(f"measured time must be positive, got {measured_s} s")
    net_mw = active_mw if idle_mw is None else active_mw - idle_mw
    if net_mw < 0:
        raise ValueError(
            f"active power below idle baseline ({active_mw:.1f} mW < {idle_mw:.1f} mW)"
        )
    return net_mw * measured_s / iterations


def mean_power_from_energy_counter(
    t_s: Sequence[float], energy_uj: Sequence[float], wrap_uj: float | None = None
) -> float:
    """Mean power in mW over the samples of a cumulative energy counter (µJ at times ``t_s``).

    A counter that wraps (RAPL wraps at ``max_energy_range_uj``) is unwrapped by adding
    ``wrap_uj`` to each step that goes backwards; this assumes at most one wrap between two
    samples, which holds when sampling is much faster than the wrap period (minutes to hours
    for RAPL). A step backwards without ``wrap_uj`` (a counter reset) raises ValueError.
    """
    t, e = _series(t_s, energy_uj, "energy_uj", "energy counter samples")
    span_s = t[-1] - t[0]
    if span_s <= 0:
        raise ValueError("energy counter samples span no time")
    steps = np.diff(e)
    backwards = steps < 0
    if backwards.any():
        if wrap_uj is None:
            raise ValueError("energy counter went backwards (reset?) and no wrap range is known")
        steps = np.where(backwards, steps + wrap_uj, steps)
    # µJ / s = µW; / 1000 -> mW
    return float(steps.sum() / span_s / 1000.0)


def integrate_power_mw(t_s: Sequence[float], power_mw: Sequence[float]) -> float:
    """Energy in mJ under sampled power (mW at times ``t_s``), by the trapezoid rule."""
    from scipy.integrate import trapezoid  # lazy: scipy is slow to import

    t, p = _series(t_s, power_mw, "power_mw", "power samples")
    return float(trapezoid(p, t))


def mean_power_from_samples(t_s: Sequence[float], power_mw: Sequence[float]) -> float:
    """Time-weighted mean power in mW of instantaneous power samples (trapezoid / span).

    A single sample is its own mean. Uneven sampling is weighted by time, not by count.
    """
    if len(t_s) == 1 and len(power_mw) == 1:
        return float(power_mw[0])
    span_s = float(t_s[-1]) - float(t_s[0])
    if span_s <= 0:
        raise ValueError("power samples span no time")
    return integrate_power_mw(t_s, power_mw) / span_s


def _series(t_s: Sequence[float], values: Sequence[float], name: str,
            what: str) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-D float arrays of the same length, at least two samples long."""
    t = np.asarray(t_s, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.shape != v.shape or t.ndim != 1:
        raise ValueError(f"t_s and {name} must be 1-D sequences of the same length")
    if len(t) < 2:
        raise ValueError(f"need at least two {what}")
    return t, v
