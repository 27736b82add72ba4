"""The measurement loop: first inference, warm-up, then measured iterations until the median is
known to the target precision or a limit is reached. Runtime-agnostic: it times a callable."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from npubench.harness import stats
from npubench.harness.settings import MeasureSettings

NS_PER_MS = 1e6


@dataclass
class Measurement:
    first_inference_ms: float
    warmup_ms: list[float]
    latency_ms: list[float]
    stop_reason: str  # "precision" | "max_iterations" | "max_seconds"
    measured_s: float
    """Wall time of the measured iterations."""
    inference_s: float
    """Wall time of first inference + warm-up + measured iterations."""
    validity: str = "valid"
    validity_reasons: list[str] = field(default_factory=list)
    precision_reached: bool = False
    relative_ci_half_width: float | None = None


def measure(
    invoke: Callable[[], object],
    settings: MeasureSettings,
    clock_ns: Callable[[], int] = time.perf_counter_ns,
) -> Measurement:
    """Time ``invoke`` according to ``settings`` (see DESIGN.md, measurement rules)."""
    start = clock_ns()
    invoke()
    first_ms = (clock_ns() - start) / NS_PER_MS

    warmup: list[float] = []
    for _ in range(settings.warmup_iterations):
        t0 = clock_ns()
        invoke()
        warmup.append((clock_ns() - t0) / NS_PER_MS)

    samples: list[float] = []
    append = samples.append
    max_ns = settings.max_seconds * 1e9
    min_ns = settings.min_seconds * 1e9
    next_check = max(settings.min_iterations, 2)
    half_width = float("inf")
    stop_reason = "max_iterations"
    begin = clock_ns()
    while True:
        t0 = clock_ns()
        invoke()
        t1 = clock_ns()
        append((t1 - t0) / NS_PER_MS)
        n = len(samples)
        elapsed = t1 - begin
        if n >= settings.max_iterations:
            stop_reason = "max_iterations"
            break
        if elapsed >= max_ns:
            stop_reason = "max_seconds"
            break
        if n >= next_check and elapsed >= min_ns:
            # Checking costs a sort; check at growing intervals so its cost stays negligible.
            half_width = stats.relative_half_width(samples)
            if half_width <= settings.target_precision:
                stop_reason = "precision"
                break
            next_check = n + max(n // 4, 1)
    end = clock_ns()

    if stop_reason != "precision":
        half_width = stats.relative_half_width(samples)
    result = Measurement(
        first_inference_ms=first_ms,
        warmup_ms=warmup,
        latency_ms=samples,
        stop_reason=stop_reason,
        measured_s=(end - begin) / 1e9,
        inference_s=(end - start) / 1e9,
        precision_reached=half_width <= settings.target_precision,
        relative_ci_half_width=half_width if half_width != float("inf") else None,
    )
    _judge(result, settings)
    return result


def _judge(m: Measurement, settings: MeasureSettings) -> None:
    """Set the validity verdict: fewer iterations or seconds than the minimums is semivalid;
    too few samples for any interval is invalid."""
    n = len(m.latency_ms)
    if n < min(3, settings.min_iterations):
        m.validity = "invalid"
        m.validity_reasons.append(f"only {n} measured iteration(s)")
        return
    if n < settings.min_iterations:
        m.validity = "semivalid"
        m.validity_reasons.append(
            f"stopped by {m.stop_reason} after {n} iterations, fewer than min_iterations="
            f"{settings.min_iterations}"
        )
    if m.measured_s < settings.min_seconds and m.stop_reason != "max_iterations":
        m.validity = "semivalid"
        m.validity_reasons.append(
            f"measured {m.measured_s:.2f} s, less than min_seconds={settings.min_seconds}"
        )
