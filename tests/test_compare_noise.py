"""Run-to-run noise in a comparison: the spread of a cell's earlier runs widens the interval,
so a whole-run difference that the history shows to be usual is not called a change, while a
change well beyond it still is (literal numbers; ``reports/compare/noise.py``)."""

from __future__ import annotations

import math
import statistics

import pytest

from npubench.reports.compare import noise
from npubench.reports.compare.comparison import compare_runs
from npubench.reports.run_view import read_run_folder
from tests.compare_fixtures import BASE_MS, record, scaled, write_run


def test_spread_is_the_sample_sd_of_log_values():
    values = [100.0, 102.0, 98.0, 101.0, 99.0]
    assert noise.run_spread(values) == pytest.approx(
        statistics.stdev(math.log(v) for v in values))
    # an odd slow run counts: it is what makes two unchanged runs look different
    assert noise.run_spread(values + [130.0]) > 0.1


def test_too_few_runs_give_no_spread_and_do_not_widen():
    assert noise.run_spread([1.0, 1.1, 0.9, 1.0]) is None
    assert noise.widen(1.02, 1.01, 1.03, None, 0) == (1.01, 1.03)


def test_run_to_run_interval_uses_student_t_with_n_minus_1_degrees():
    low, high = noise.run_to_run_interval(1.0, 0.01, 5)
    half = 2.7764451 * math.sqrt(2) * 0.01  # t(0.975, 4)
    assert (low, high) == pytest.approx((math.exp(-half), math.exp(half)), rel=1e-6)
    # the wider interval wins on each side
    assert noise.widen(1.0, 0.999, 1.2, 0.01, 5) == pytest.approx((math.exp(-half), 1.2))


def _run(tmp_path, name, factor, started_at):
    samples = scaled(BASE_MS, factor)
    block = {"median": statistics.median(samples),
             "p90": statistics.quantiles(samples, n=10)[-1]}
    return read_run_folder(write_run(tmp_path / name, [
        (record("net", latency_ms=block), {"latency_ms": samples})], started_at=started_at))


def test_history_turns_a_usual_whole_run_difference_into_same(tmp_path):
    # earlier runs of the cell wander by about +-4% as wholes
    history = [_run(tmp_path, f"h{i}", f, f"2026-11-{10 + i:02d}T00:00:00+00:00")
               for i, f in enumerate([1.0, 1.04, 0.96, 1.03, 0.97, 1.05, 0.95])]
    base = _run(tmp_path, "base", 1.0, "2026-12-01T00:00:00+00:00")
    new = _run(tmp_path, "new", 1.06, "2026-12-02T00:00:00+00:00")

    alone = compare_runs(base, new, threshold=0.03)
    assert alone.cells[0].verdict == "slower"  # the samples inside each run are tight
    assert any("cover only the noise inside each run" in n for n in alone.notes)

    with_history = compare_runs(base, new, threshold=0.03, history=history)
    figure = with_history.cells[0].figures[0]
    assert with_history.cells[0].verdict == "same"
    assert figure.history_runs == 7 and figure.run_spread == pytest.approx(0.0409, abs=0.001)
    assert figure.ci95_low < figure.within_low and figure.ci95_high > figure.within_high
    assert "run-to-run spread of 7 earlier runs" in figure.note
    assert not any("cover only" in n for n in with_history.notes)


def test_history_still_catches_a_change_beyond_its_spread(tmp_path):
    history = [_run(tmp_path, f"h{i}", f, f"2026-11-{10 + i:02d}T00:00:00+00:00")
               for i, f in enumerate([1.0, 1.005, 0.995, 1.003, 0.997, 1.0])]
    base = _run(tmp_path, "base", 1.0, "2026-12-01T00:00:00+00:00")
    new = _run(tmp_path, "new", 1.10, "2026-12-02T00:00:00+00:00")
    result = compare_runs(base, new, threshold=0.03, history=history)
    assert result.cells[0].verdict == "slower"
    assert result.cells[0].figures[0].history_runs == 6


def test_base_and_new_are_not_their_own_history(tmp_path):
    base = _run(tmp_path, "base", 1.0, "2026-12-01T00:00:00+00:00")
    new = _run(tmp_path, "new", 1.0, "2026-12-02T00:00:00+00:00")
    result = compare_runs(base, new, history=[base, new, base, new, base])
    assert result.cells[0].figures[0].history_runs == 0
