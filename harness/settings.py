"""Measurement settings: the defaults of DESIGN.md's measurement rules, overridable per suite."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from npubench.errors import ConfigError


@dataclass(frozen=True)
class MeasureSettings:
    warmup_iterations: int = 10
    """Inferences after the first one, before measuring (the first is reported on its own)."""
    min_iterations: int = 10
    max_iterations: int = 10_000
    min_seconds: float = 1.0
    max_seconds: float = 10.0
    target_precision: float = 0.01
    """Stop once the 95% CI of the median is within +-this fraction of the median."""
    threads: int | None = None
    """CPU threads for the runtime; None means one per logical core."""
    seed: int = 0
    """Seed of the generated inputs."""
    idle_baseline_s: float = 2.0
    """Idle power is measured this long before each job, where a power sensor exists."""
    device_rounds_min: int = 5
    """On a phone: the fewest tool invocations (rounds) whose means make the distribution."""
    device_rounds_max: int = 20
    device_round_runs: int = 20
    """Inferences per round (benchmark_model --num_runs, onnxruntime_perf_test -r)."""
    device_round_min_secs: float = 0.5
    device_round_warmup_runs: int = 3
    llm_repetitions: int = 8
    """LLM jobs: prompt + generation repeated this many times (llama-bench's default is 5;
    6 is the fewest whose median has a 95% confidence interval, from order statistics)."""
    job_timeout_s: float = 300.0
    """A job's worker that runs longer than this is killed and the job recorded as failed
    (a frame-rate job gets ``duration_s`` on top: ``timeout_s``)."""
    fps: float | None = None
    """Frame-rate (sustained) mode: feed frames at this rate instead of back to back
    (``harness.framerate``); None: the usual warm-up + measure loop."""
    duration_s: float = 60.0
    """Frame-rate mode: how long the frames are fed."""
    framerate_window_s: float = 1.0
    """Frame-rate mode: the windows that misses and throughput are counted over (on a phone,
    one benchmark_model round each)."""

    @property
    def timeout_s(self) -> float:
        """The job's whole time limit: ``job_timeout_s``, plus ``duration_s`` in frame-rate
        mode."""
        return self.job_timeout_s + (self.duration_s if self.fps else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], where: str = "settings") -> MeasureSettings:
        """Validate ``data`` (from a suite file or the CLI); the error names the bad field."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ConfigError(
                    f"{where}: unknown field {key!r}",
                    hint=f"valid fields: {', '.join(sorted(known))}",
                )
            want = float if key in _FLOATS else int
            if value is None and key in ("threads", "fps"):
                values[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}: field {key!r} must be a number, not {value!r}")
            if want is int and int(value) != value:
                raise ConfigError(f"{where}: field {key!r} must be a whole number, not {value!r}")
            if value < 0 or (key not in _MAY_BE_ZERO and value == 0):
                raise ConfigError(f"{where}: field {key!r} must be positive, not {value!r}")
            values[key] = want(value)
        settings = cls(**values)
        if settings.min_iterations > settings.max_iterations:
            raise ConfigError(f"{where}: min_iterations is larger than max_iterations")
        if settings.min_seconds > settings.max_seconds:
            raise ConfigError(f"{where}: min_seconds is larger than max_seconds")
        return settings


_FLOATS = {"min_seconds", "max_seconds", "target_precision", "job_timeout_s", "idle_baseline_s",
           "device_round_min_secs", "fps", "duration_s", "framerate_window_s"}
_MAY_BE_ZERO = {"warmup_iterations", "min_seconds", "seed", "idle_baseline_s",
                "device_round_min_secs", "device_round_warmup_runs"}
