"""Change points ("steps") in one cell's history: plain numbers in, plain values out.

The method is asv's (airspeed velocity, ``asv/step_detect.py``): the series of per-run medians
is fitted by a piecewise-constant function under the L1 norm with a fixed penalty per step
(the regularised "Potts" problem), which is robust to single outliers (a median, not a mean, per
segment) and finds several steps at once. asv solves it with its own dynamic programme; here the
same objective is solved exactly with PELT (Killick, Fearnhead & Eckley 2012) from the
``ruptures`` library (``ruptures.Pelt(model="l1")``). E-Divisive means (Matteson & James 2014,
MongoDB's CI, Daly et al. 2020) was not chosen: it needs a permutation test per candidate (slow
for hundreds of cells) and its significance level is a second knob with no better meaning here.

The penalty rule: the series is first divided by a robust estimate of its run-to-run noise (the
median absolute successive difference, so a step itself does not inflate it). In those units the
L1 cost is a Laplace negative log-likelihood, and each step costs ``PENALTY_BETA * log(n)``: a
Schwarz (BIC) type penalty (Yao 1988, the criterion asv's docstring starts from to choose its
gamma). ``PENALTY_BETA = 3`` was set on simulated flat series: fewer than 1 in 100 flat series
of 8 to 60 runs (3% noise, normal or Laplace) shows a step even without the floor below
(``tests/test_history_steps.py`` checks this), while a 10% step over 3% noise is found and a 6%
one about 7 times in 10. A step must also move the median by ``min_relative`` (default 2%):
smaller moves may be real but are not worth an alarm on a history page (asv flags 5% by
default). Segments hold at least ``MIN_SEGMENT`` runs, so one odd night is never a step until
the next run confirms it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from ruptures.base import BaseCost

PENALTY_BETA = 3.0
MIN_SEGMENT = 2
MIN_RELATIVE = 0.02
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Step:
    """A change between run ``index - 1`` and run ``index`` of the series given."""

    index: int
    """Position in the series of the first value after the step."""
    before: float
    """Median of the segment before the step."""
    after: float
    """Median of the segment after the step."""

    @property
    def relative(self) -> float:
        """``after / before - 1`` (``+0.10`` is 10% up)."""
        return self.after / self.before - 1.0 if self.before else math.inf


def noise_scale(values: Sequence[float]) -> float:
    """A robust run-to-run noise scale (a standard deviation) of a series that may hold steps:
    the median absolute successive difference, scaled to a normal sigma. Never zero: a series
    with no measured noise gets 0.1% of its median, so that ties do not divide by zero."""
    y = np.asarray(values, dtype=float)
    floor = 1e-3 * abs(float(np.median(y))) if y.size else 1.0
    if y.size < 3:
        return max(floor, 1e-12)
    diffs = np.abs(np.diff(y))
    sigma = _MAD_TO_SIGMA * float(np.median(diffs)) / math.sqrt(2.0)
    return max(sigma, floor, 1e-12)


def segment_medians(values: Sequence[float], steps: Sequence[Step]) -> list[float]:
    """The fitted level of each value (its segment's median), for drawing the fit."""
    y = np.asarray(values, dtype=float)
    bounds = [0, *(s.index for s in steps), len(y)]
    out: list[float] = []
    for start, end in pairwise(bounds):
        out.extend([float(np.median(y[start:end]))] * (end - start))
    return out


def detect_steps(values: Sequence[float], *, beta: float = PENALTY_BETA,
                 min_relative: float = MIN_RELATIVE,
                 min_segment: int = MIN_SEGMENT) -> list[Step]:
    """The steps of a series (oldest first), oldest step first. Fewer than
    ``2 * min_segment`` values hold no step. Non-finite values are not allowed (leave missing
    runs out of the series and map indices back)."""
    import ruptures

    y = np.asarray(values, dtype=float)
    n = y.size
    if n < 2 * min_segment:
        return []
    if not np.all(np.isfinite(y)):
        raise ValueError("detect_steps: the series holds NaN or infinity; leave those runs out")
    scaled = (y / noise_scale(y)).reshape(-1, 1)
    algo = ruptures.Pelt(custom_cost=CostL1Table(), min_size=min_segment, jump=1).fit(scaled)
    ends = algo.predict(pen=beta * math.log(n))
    breaks = [int(b) for b in ends[:-1]]
    return _merge_small(y, breaks, min_relative)


class CostL1Table(BaseCost):
    """ruptures' ``CostL1`` (the sum of absolute deviations from the segment's median) with
    every segment's cost computed up front, one vectorised median per start: the same numbers
    as ``CostL1``, without PELT's ~n^2/2 separate ``np.median`` calls (the history of 100 cells
    x 60 runs took 9 s of them)."""

    model = "l1_table"
    min_size = 2

    def fit(self, signal) -> CostL1Table:
        y = np.asarray(signal, dtype=float).reshape(-1)
        n = y.size
        self.signal = y.reshape(-1, 1)  # ruptures reads its length
        self.table = np.zeros((n + 1, n + 1))
        for start in range(n):
            tail = y[start:]
            m = tail.size
            # row i holds y[start:start + i + 1], NaN after it
            rows = np.where(np.tri(m, dtype=bool), tail[None, :], np.nan)
            medians = np.nanmedian(rows, axis=1)
            self.table[start, start + 1:] = np.nansum(np.abs(rows - medians[:, None]), axis=1)
        return self

    def error(self, start: int, end: int) -> float:
        return float(self.table[start, end])


def _merge_small(y: np.ndarray, breaks: list[int], min_relative: float) -> list[Step]:
    """Drop the step with the smallest relative move while any is below ``min_relative``
    (its two segments become one, whose median is recomputed)."""
    breaks = sorted(breaks)
    while True:
        bounds = [0, *breaks, y.size]
        levels = [float(np.median(y[a:b])) for a, b in pairwise(bounds)]
        steps = [Step(index=b, before=levels[i], after=levels[i + 1])
                 for i, b in enumerate(breaks)]
        small = [(abs(s.relative), i) for i, s in enumerate(steps)
                 if abs(s.relative) < min_relative]
        if not small:
            return steps
        breaks.pop(min(small)[1])
