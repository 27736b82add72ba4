"""The statistics of ``npubench compare`` on literal samples: ratios, intervals, verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from npubench.reports.cell_key import cell_key
from npubench.reports.compare import stats
from npubench.reports.compare.comparison import compare_cell
from npubench.reports.compare.match import CellPair
from tests.compare_fixtures import BASE_MS, record, scaled


def test_ratio_of_medians_and_p90_with_their_bootstrap_interval():
    result = stats.ratio_intervals(BASE_MS, scaled(BASE_MS, 1.10))
    median, p90 = result[0.5], result[0.9]
    assert (median.base, median.new) == (10.0, pytest.approx(11.0))
    assert median.ratio == pytest.approx(1.10)
    # fixed seed: the same numbers on every machine and every call
    assert (median.low, median.high) == pytest.approx((1.083582, 1.116753), abs=1e-6)
    assert p90.base == pytest.approx(10.21) and p90.ratio == pytest.approx(1.10)
    assert (p90.low, p90.high) == pytest.approx((1.074903, 1.125683), abs=1e-6)
    assert stats.ratio_intervals(BASE_MS, scaled(BASE_MS, 1.10)) == result


def test_the_interval_scales_with_the_samples_and_holds_one_on_equal_runs():
    same = stats.ratio_intervals(BASE_MS, BASE_MS)[0.5]
    assert same.ratio == 1.0 and same.low < 1.0 < same.high
    assert (same.low, same.high) == pytest.approx((0.985075, 1.01523), abs=1e-6)
    slower = stats.ratio_intervals(BASE_MS, scaled(BASE_MS, 1.10))[0.5]
    assert slower.low == pytest.approx(1.10 * same.low)


def test_constant_samples_give_a_point_interval():
    result = stats.ratio_intervals([5.0] * 4, [6.0] * 4)[0.5]
    assert (result.ratio, result.low, result.high) == (1.2, 1.2, 1.2)


def test_quantiles_are_numpys_linear_quantiles():
    data = np.array([[3.0, 1.0, 2.0, 10.0, 4.0], [1.0, 1.0, 1.0, 2.0, 9.0]])
    assert stats._quantiles(data) == pytest.approx(np.quantile(data, [0.5, 0.9], axis=-1))


@pytest.mark.parametrize("base, new", [([1.0, 2.0], [1.0, 2.0, 3.0]), ([1.0, 2.0, 3.0], [])])
def test_too_few_samples_is_an_error_that_says_so(base, new):
    with pytest.raises(ValueError, match="too few samples"):
        stats.ratio_intervals(base, new)


@pytest.mark.parametrize("low, high, higher_is_better, expected", [
    (1.031, 1.05, False, "slower"),   # whole interval above 1 + 3%
    (1.029, 1.05, False, "same"),     # reaches into the threshold
    (1.03, 1.05, False, "same"),      # on the edge is not beyond it
    (0.90, 0.969, False, "faster"),
    (0.90, 0.971, False, "same"),
    (0.99, 1.01, False, "same"),
    (1.031, 1.05, True, "faster"),    # tokens/s: bigger is better
    (0.90, 0.969, True, "slower"),
])
def test_verdict_needs_the_whole_interval_beyond_the_threshold(low, high, higher_is_better,
                                                               expected):
    assert stats.verdict(low, high, 0.03, higher_is_better=higher_is_better) == expected


def test_verdict_with_another_threshold():
    assert stats.verdict(1.031, 1.05, 0.05) == "same"
    assert stats.verdict(1.011, 1.02, 0.01) == "slower"


def _pair(base_rec, new_rec, base_samples, new_samples):
    return CellPair(cell_key(new_rec), base_rec, new_rec, base_samples, new_samples)


def test_a_cell_slowed_by_ten_percent_is_slower_and_one_value_figures_only_inform():
    base = record("m", init_ms=10.0, memory_peak_mb=100.0)
    new = record("m", init_ms=20.0, memory_peak_mb=100.0)
    cell = compare_cell(_pair(base, new, {"latency_ms": BASE_MS},
                              {"latency_ms": scaled(BASE_MS, 1.1)}), 0.03)
    assert cell.verdict == "slower"
    figures = {f.name: f for f in cell.figures}
    assert figures["latency_median"].interval and figures["latency_median"].verdict == "slower"
    init = figures["init"]
    assert init.ratio == 2.0 and not init.interval and init.verdict is None
    assert "one value per run, no interval" in init.note
    assert "changed by more than 3%" in init.note
    assert "changed by more than" not in figures["memory_peak"].note


def test_init_doubling_alone_does_not_make_a_regression():
    cell = compare_cell(_pair(record("m", init_ms=10.0), record("m", init_ms=20.0),
                              {"latency_ms": BASE_MS}, {"latency_ms": BASE_MS}), 0.03)
    assert cell.verdict == "same"


def test_tokens_per_second_falling_is_slower():
    base = record("llm", decode_tokens_per_s=100.0)
    new = record("llm", decode_tokens_per_s=80.0)
    series = [100.0, 101.0, 99.0, 100.5, 99.5]
    cell = compare_cell(_pair(base, new, {"decode_tokens_per_s": series},
                              {"decode_tokens_per_s": scaled(series, 0.8)}), 0.03)
    decode = next(f for f in cell.figures if f.name == "decode_tokens_per_s")
    assert decode.ratio == pytest.approx(0.8) and decode.verdict == "slower"
    assert cell.verdict == "slower"


def test_too_few_samples_makes_the_cell_incomparable_with_the_reason():
    cell = compare_cell(_pair(record("m"), record("m"), {"latency_ms": [1.0, 2.0]},
                              {"latency_ms": BASE_MS}), 0.03)
    assert cell.verdict == "incomparable"
    assert "too few samples for an interval (2 in BASE, 10 in NEW" in cell.reason


def test_missing_samples_and_missing_energy_say_why():
    base = record("m", power=None, power_missing_reason="no fuel gauge on this phone",
                  latency_ms={"median": 10.0})
    new = record("m", power={"energy_mj_per_inference": 3.0}, latency_ms={"median": 10.0})
    cell = compare_cell(_pair(base, new, {}, {"latency_ms": BASE_MS}), 0.03)
    assert cell.verdict == "incomparable"
    assert "no per-iteration latency_ms samples in BASE" in cell.reason
    energy = next(f for f in cell.figures if f.name == "energy_per_inference")
    assert "missing in BASE: no fuel gauge on this phone" in energy.note
