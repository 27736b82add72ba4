"""Statistics over per-iteration samples. Pure: numbers in, numbers out.

The confidence interval of the median is the distribution-free one from order statistics
(``scipy.stats.quantile_test``), which needs no assumption about the shape of the latency
distribution (latencies are skewed and often multi-modal).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The ``confidence`` interval of the median of ``samples``; NaNs when there are too few."""
    x = np.asarray(samples, dtype=float)
    if x.size < 2:
        return float("nan"), float("nan")
    result = stats.quantile_test(x, q=float(np.median(x)), p=0.5)
    ci = result.confidence_interval(confidence_level=confidence)
    return float(ci.low), float(ci.high)


def relative_half_width(samples: Sequence[float], confidence: float = 0.95) -> float:
    """Half the width of the median's confidence interval, as a fraction of the median.

    ``inf`` when the interval is unbounded (too few samples for that confidence)."""
    low, high = median_ci(samples, confidence)
    median = float(np.median(samples))
    if not np.isfinite(low) or not np.isfinite(high) or median <= 0:
        return float("inf")
    return (high - low) / 2 / median


def summarize(samples: Sequence[float]) -> dict[str, float | int | None]:
    """The ``latency_ms`` block of a record: n, mean, median, p90, p99, std, min, max, CI95.

    A CI bound that the sample cannot give (too few samples) is None, not a made-up number."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    low, high = median_ci(x)
    p90, p99 = np.percentile(x, [90, 99])
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "median": float(np.median(x)),
        "p90": float(p90),
        "p99": float(p99),
        "std": float(x.std(ddof=1)) if x.size > 1 else None,
        "min": float(x.min()),
        "max": float(x.max()),
        "ci95_low": low if np.isfinite(low) else None,
        "ci95_high": high if np.isfinite(high) else None,
    }
