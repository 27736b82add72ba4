"""Run-to-run noise: what the per-iteration samples of one run cannot see.

The bootstrap interval of a comparison (``stats.ratio_intervals``) covers the noise *inside*
each run. Two runs of the same job on the same machine also differ as wholes — another process
on a 2-core host, a different CPU frequency, a page cache, a phone a few degrees warmer — and a
within-run interval calls such a difference a change (pytorch/executorch #8603: more than 10%
between runs on a device farm). The only honest handle on that noise is the cell's own history:
the medians of its earlier runs.

With ``n`` earlier values ``m_1..m_n`` of a figure, the run-to-run spread ``s`` is the sample
standard deviation of ``log m_i``. Two further runs with nothing changed differ in ``log m`` by
``N(0, 2 sigma^2)``, and with ``s`` estimated from ``n`` values the pivot
``(log m_new - log m_base) / (s * sqrt(2))`` is Student-t with ``n - 1`` degrees of freedom.
Not a robust (MAD) estimate: the odd slow run that a robust estimate ignores is exactly what
makes an A/A pair look like a change, so the spread must count it
(``benchmarks/regression_gate.py`` measured it: a robust spread left 15% false alarms on this
2-core machine).
So the ratio's interval from history is ``ratio * exp(+-t_{0.975, n-1} * sqrt(2) * s)``, and a
comparison uses the wider of the two intervals: within-run (bootstrap) and run-to-run.

Fewer than ``MIN_RUNS`` earlier values: no run-to-run estimate, and the comparison says so.
Pure: numbers in, numbers out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MIN_RUNS = 5
"""The fewest earlier runs of a cell whose spread is used (4 degrees of freedom: t = 2.78)."""
MAX_RUNS = 20
"""The most recent earlier runs used: an old history may no longer describe the machine."""
CONFIDENCE = 0.95


def run_spread(values: Sequence[float]) -> float | None:
    """The sample standard deviation of ``log(values)`` (positive values only), or None when
    fewer than ``MIN_RUNS`` positive values are given."""
    logs = np.log([v for v in values if v is not None and v > 0 and math.isfinite(v)])
    if logs.size < MIN_RUNS:
        return None
    return float(np.std(logs, ddof=1))


def run_to_run_interval(ratio: float, spread: float, runs: int) -> tuple[float, float]:
    """The interval of NEW/BASE that run-to-run noise alone gives around ``ratio``, for a
    spread estimated from ``runs`` earlier values."""
    from scipy.stats import t

    half = float(t.ppf(0.5 + CONFIDENCE / 2, runs - 1)) * math.sqrt(2.0) * spread
    return ratio * math.exp(-half), ratio * math.exp(half)


def widen(ratio: float, low: float, high: float, spread: float | None,
          runs: int) -> tuple[float, float]:
    """The wider of the within-run interval ``[low, high]`` and the run-to-run one."""
    if spread is None or runs < MIN_RUNS:
        return low, high
    hist_low, hist_high = run_to_run_interval(ratio, spread, runs)
    return min(low, hist_low), max(high, hist_high)
