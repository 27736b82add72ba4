"""Statistics against worked examples and literal numbers."""

import math

import numpy as np
import pytest

from npubench.harness.stats import median_ci, relative_half_width, summarize


def test_median_ci_of_ten_is_second_and_ninth_order_statistic():
    # For n=10 the distribution-free 95% interval of the median is [x(2), x(9)]
    # (coverage 97.9%; e.g. Conover, Practical Nonparametric Statistics, table A3).
    samples = [7.0, 1.0, 9.0, 3.0, 5.0, 2.0, 10.0, 4.0, 8.0, 6.0]
    assert median_ci(samples) == (2.0, 9.0)


def test_median_ci_narrows_with_more_samples():
    rng = np.random.default_rng(1)
    small = rng.normal(10, 1, 20)
    large = rng.normal(10, 1, 2000)
    lo_s, hi_s = median_ci(small)
    lo_l, hi_l = median_ci(large)
    assert hi_l - lo_l < (hi_s - lo_s) / 4
    assert lo_l < 10 < hi_l


def test_too_few_samples_give_no_interval():
    assert all(math.isnan(v) for v in median_ci([1.0]))
    assert relative_half_width([1.0, 2.0]) == math.inf
    block = summarize([3.0, 4.0])
    assert block["ci95_low"] is None and block["ci95_high"] is None


def test_summarize_fields():
    block = summarize(list(range(1, 101)))
    assert block["n"] == 100
    assert block["median"] == 50.5
    assert block["min"] == 1 and block["max"] == 100
    assert block["p90"] == pytest.approx(90.1)
    assert block["p99"] == pytest.approx(99.01)
    assert block["ci95_low"] <= 50.5 <= block["ci95_high"]


def test_summarize_refuses_nothing():
    with pytest.raises(ValueError):
        summarize([])
