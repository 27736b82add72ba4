"""Change points on literal series (npubench.reports.history.steps)."""

from __future__ import annotations

import math
import random

import pytest

from npubench.reports.history.steps import detect_steps, noise_scale, segment_medians

# A fixed "noisy" pattern (about 1.5% of 10 ms), so the series are literal and repeatable.
WIGGLE = [0.12, -0.08, 0.15, -0.11, 0.02, -0.16, 0.09, 0.05, -0.13, 0.10,
          -0.04, 0.14, -0.09, 0.07, -0.15, 0.03, 0.11, -0.06, 0.08, -0.12]


def _flat(level: float, n: int, offset: int = 0) -> list[float]:
    return [level + WIGGLE[(i + offset) % len(WIGGLE)] * level / 10 for i in range(n)]


def test_a_clean_ten_percent_step_is_found_where_it_is():
    series = _flat(10.0, 20) + _flat(11.0, 20, offset=7)
    steps = detect_steps(series)
    assert [s.index for s in steps] == [20]
    assert steps[0].before == pytest.approx(10.0, rel=0.02)
    assert steps[0].after == pytest.approx(11.0, rel=0.02)
    assert steps[0].relative == pytest.approx(0.10, abs=0.02)


def test_a_flat_noisy_series_has_no_step():
    assert detect_steps(_flat(10.0, 40)) == []
    assert detect_steps(_flat(0.02, 60, offset=3)) == []  # tiny numbers alike


def test_two_steps_are_both_found():
    series = _flat(10.0, 15) + _flat(12.0, 15, offset=4) + _flat(9.0, 15, offset=9)
    steps = detect_steps(series)
    assert [s.index for s in steps] == [15, 30]
    assert steps[0].relative == pytest.approx(0.20, abs=0.03)
    assert steps[1].relative == pytest.approx(-0.25, abs=0.03)


def test_one_odd_run_is_not_a_step_and_the_next_run_confirms_one():
    odd_last = _flat(10.0, 20) + [11.5]
    assert detect_steps(odd_last) == []
    odd_middle = _flat(10.0, 10) + [13.0] + _flat(10.0, 10, offset=5)
    assert detect_steps(odd_middle) == []
    confirmed = _flat(10.0, 20) + [11.5, 11.4]
    assert [s.index for s in detect_steps(confirmed)] == [20]


def test_a_move_below_the_floor_is_not_reported():
    series = [10.0] * 20 + [10.1] * 20  # 1%: real (no noise at all) but below 2%
    assert detect_steps(series) == []
    assert [s.index for s in detect_steps(series, min_relative=0.005)] == [20]


def test_short_series_and_bad_values():
    assert detect_steps([]) == []
    assert detect_steps([1.0, 2.0, 3.0]) == []
    with pytest.raises(ValueError, match="NaN"):
        detect_steps([1.0, 1.0, math.nan, 1.0, 1.0])


def test_noise_scale_is_not_inflated_by_a_step():
    series = _flat(10.0, 20) + _flat(20.0, 20)
    assert noise_scale(series) < 0.5  # a plain standard deviation would be about 5
    assert noise_scale([5.0] * 10) == pytest.approx(5e-3)  # the floor: 0.1% of the median


def test_segment_medians_follow_the_steps():
    series = [1.0, 1.2, 1.1, 2.0, 2.2, 2.1]
    steps = detect_steps(series, min_segment=2)
    assert [s.index for s in steps] == [3]
    assert segment_medians(series, steps) == [1.1, 1.1, 1.1, 2.1, 2.1, 2.1]


def test_false_alarms_on_flat_noise_stay_under_one_percent():
    """The calibration the penalty was set by: flat series of 8 to 60 runs with 3% noise
    (normal and Laplace), with the 2% floor switched off, show a step less than 1 time in 100."""
    rng = random.Random(7)
    alarms = 0
    trials = 150
    for trial in range(trials):
        n = rng.randint(8, 60)
        if trial % 2:
            noise = [rng.gauss(0, 0.03) for _ in range(n)]
        else:  # Laplace with the same standard deviation
            noise = [rng.expovariate(1) * rng.choice((-1, 1)) * 0.03 / math.sqrt(2)
                     for _ in range(n)]
        alarms += bool(detect_steps([10 * (1 + e) for e in noise], min_relative=0.0))
    assert alarms <= 1


def test_a_ten_percent_step_over_three_percent_noise_is_found_nearly_always():
    rng = random.Random(11)
    found = 0
    for _ in range(40):
        series = [10 * (1 + rng.gauss(0, 0.03)) * (1.10 if i >= 30 else 1.0) for i in range(60)]
        found += any(abs(s.index - 30) <= 2 for s in detect_steps(series))
    assert found >= 38


def test_the_cost_table_gives_ruptures_own_l1_costs():
    import numpy as np
    from ruptures.costs import CostL1

    from npubench.reports.history.steps import CostL1Table

    y = np.array(_flat(10.0, 9) + _flat(12.0, 8, offset=3)).reshape(-1, 1)
    table, plain = CostL1Table().fit(y), CostL1().fit(y)
    for start in range(len(y)):
        for end in range(start + 2, len(y) + 1):
            assert table.error(start, end) == pytest.approx(plain.error(start, end), abs=1e-12)
