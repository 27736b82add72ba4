"""The measurement loop, driven by a fake clock so that its rules are tested exactly."""

import pytest

from npubench.harness.measure import measure
from npubench.harness.settings import MeasureSettings


class FakeClock:
    """Each invoke advances time by the next duration from a cycle of ``durations_ms``."""

    def __init__(self, durations_ms):
        self.now_ns = 0
        self.durations = durations_ms
        self.calls = 0

    def clock(self):
        return self.now_ns

    def invoke(self):
        self.now_ns += int(self.durations[self.calls % len(self.durations)] * 1e6)
        self.calls += 1


def run(durations, **settings):
    fake = FakeClock(durations)
    result = measure(fake.invoke, MeasureSettings(**settings), clock_ns=fake.clock)
    return fake, result


def test_first_inference_and_warmup_are_apart_from_measurement():
    fake, m = run([50.0] + [2.0] * 1000, warmup_iterations=5, min_iterations=10,
                  min_seconds=0.0, target_precision=0.5)
    assert m.first_inference_ms == 50.0
    assert m.warmup_ms == [2.0] * 5
    assert all(s == 2.0 for s in m.latency_ms)
    assert fake.calls == 1 + 5 + len(m.latency_ms)


def test_stops_on_precision_once_minimums_are_met():
    _, m = run([1.0], warmup_iterations=0, min_iterations=20, min_seconds=0.05,
               target_precision=0.01)
    assert m.stop_reason == "precision"
    assert m.precision_reached
    assert len(m.latency_ms) >= 50  # min_seconds of 1 ms iterations
    assert m.validity == "valid"


def test_noisy_samples_run_until_max_seconds():
    _, m = run([1.0, 3.0, 1.5, 2.8, 1.1, 2.2, 3.3], warmup_iterations=0, min_iterations=10,
               min_seconds=0.0, max_seconds=0.2, target_precision=0.0001)
    assert m.stop_reason == "max_seconds"
    assert not m.precision_reached
    assert m.measured_s == pytest.approx(0.2, abs=0.004)


def test_max_seconds_before_minimums_is_semivalid():
    _, m = run([100.0], warmup_iterations=0, min_iterations=10, min_seconds=0.0,
               max_seconds=0.5)
    assert m.stop_reason == "max_seconds"
    assert len(m.latency_ms) == 5
    assert m.validity == "semivalid"
    assert "fewer than min_iterations=10" in m.validity_reasons[0]


def test_one_sample_is_invalid():
    _, m = run([1000.0], warmup_iterations=0, min_iterations=10, max_seconds=0.5)
    assert len(m.latency_ms) == 1
    assert m.validity == "invalid"


def test_max_iterations_bounds_the_loop():
    _, m = run([1.0, 5.0], warmup_iterations=0, min_iterations=10, max_iterations=40,
               min_seconds=0.0, target_precision=0.0001)
    assert len(m.latency_ms) == 40
    assert m.stop_reason == "max_iterations"
