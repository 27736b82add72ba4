"""The statistics of a comparison: the ratio NEW/BASE of a figure with its 95% confidence
interval, and the verdict it earns against a threshold. Pure: numbers in, numbers out.

Why a bootstrap of the ratio of the statistic (and not Hodges–Lehmann): the report states each
job's latency as a median, so the comparison states the change of that same median, as a
ratio (a 5% slowdown reads 1.05 on a 0.2 ms model and on a 200 ms one). The bootstrap gives an
interval for any statistic of the two samples, so the 90th percentile gets one the same way;
the Hodges–Lehmann estimator is the median of pairwise *differences* (a shift, not the
change of the median, and nothing for p90). Both sides are resampled independently
(``scipy.stats.bootstrap`` with two samples, ``paired=False``): the iterations of two runs
are not paired.

Why the percentile interval and not BCa: BCa's acceleration comes from a jackknife, and the
jackknife is not consistent for the median and other quantiles (non-smooth statistics), so
its correction is noise there; it also costs one extra statistic per sample. The percentile
interval is transformation-respecting (the interval of 1/ratio is 1/the interval), which
suits a ratio.

``N_RESAMPLES`` = 1000: the Monte-Carlo error of a 2.5% / 97.5% percentile endpoint is then
about sqrt(0.025 x 0.975 / 1000) / phi(1.96) = 0.085 standard errors of the ratio, i.e. about
4% of the interval's half-width — small beside a 3% threshold's margin, and it keeps the
comparison of two 100-cell runs under 2 s (``benchmarks/compare_speed.py``). The seed is
fixed, so one pair of runs always gets the same intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 1000
SEED = 20261206
MIN_SAMPLES = 3
"""Fewer per-iteration samples than this on either side: no interval (``incomparable``)."""
CONFIDENCE = 0.95
QUANTILES = (0.5, 0.9)
"""The statistics every bootstrap computes at once: the median and the 90th percentile."""
MAX_BATCH_VALUES = 4_000_000
"""Resampled values held at once per side (memory bound for long series)."""

SLOWER, FASTER, SAME, INCOMPARABLE = "slower", "faster", "same", "incomparable"


@dataclass(frozen=True)
class Interval:
    """The ratio NEW/BASE of one statistic and its 95% confidence interval."""

    base: float
    """The statistic on the BASE samples."""
    new: float
    ratio: float
    low: float
    high: float


def _quantiles(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """``np.quantile(values, QUANTILES, axis)`` (linear interpolation), by a full sort: on
    the (resamples x n) arrays of a bootstrap a sort is faster than numpy's partition."""
    data = np.sort(np.moveaxis(values, axis, -1), axis=-1)
    n = data.shape[-1]
    out = []
    for q in QUANTILES:
        pos = (n - 1) * q
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        frac = pos - lo
        out.append(data[..., lo] + (data[..., hi] - data[..., lo]) * frac)
    return np.stack(out)


def _ratio_statistic(base: np.ndarray, new: np.ndarray, axis: int = -1) -> np.ndarray:
    return _quantiles(new, axis) / _quantiles(base, axis)


def ratio_intervals(base: Sequence[float], new: Sequence[float], *,
                    n_resamples: int = N_RESAMPLES, seed: int = SEED) -> dict[float, Interval]:
    """``{0.5: Interval, 0.9: Interval}``: the ratio NEW/BASE of the median and of the 90th
    percentile, each with its 95% percentile-bootstrap interval. Raises ``ValueError`` when a
    side has fewer than ``MIN_SAMPLES`` values or a statistic is not positive."""
    from scipy.stats import bootstrap

    x = np.asarray(base, dtype=float)
    y = np.asarray(new, dtype=float)
    if x.size < MIN_SAMPLES or y.size < MIN_SAMPLES:
        raise ValueError(f"too few samples for an interval ({x.size} in BASE, {y.size} in NEW; "
                         f"at least {MIN_SAMPLES} each)")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("samples that are not finite numbers")
    qx, qy = _quantiles(x), _quantiles(y)
    if np.any(qx <= 0) or np.any(qy <= 0):
        raise ValueError("a statistic that is not positive: no ratio")
    batch = max(1, min(n_resamples, MAX_BATCH_VALUES // max(x.size, y.size)))
    result = bootstrap((x, y), _ratio_statistic, n_resamples=n_resamples, vectorized=True,
                       paired=False, axis=-1, confidence_level=CONFIDENCE,
                       method="percentile", batch=batch, rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return {q: Interval(float(qx[i]), float(qy[i]), float(qy[i] / qx[i]),
                        float(low[i]), float(high[i]))
            for i, q in enumerate(QUANTILES)}


def verdict(low: float, high: float, threshold: float, *, higher_is_better: bool = False) -> str:
    """``slower`` when the whole interval of NEW/BASE is beyond ``1 + threshold`` (for a
    figure where bigger is worse: times, energy, memory), ``faster`` when it is wholly below
    ``1 - threshold``, else ``same``. ``higher_is_better`` (tokens/s) flips the direction."""
    if not (low <= high):
        raise ValueError(f"an interval whose low end {low} is above its high end {high}")
    worse_above = not higher_is_better
    if low > 1 + threshold:
        return SLOWER if worse_above else FASTER
    if high < 1 - threshold:
        return FASTER if worse_above else SLOWER
    return SAME


def single_ratio(base: float, new: float) -> float | None:
    """NEW/BASE of a figure with one value per run (no interval); None when BASE is not
    positive."""
    if base is None or new is None or not base > 0:
        return None
    return float(new) / float(base)


def changed_beyond(ratio: float, threshold: float) -> bool:
    """A one-value figure moved by more than ``threshold`` (information, never a verdict)."""
    return abs(ratio - 1.0) > threshold
