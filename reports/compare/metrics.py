"""The figures a comparison looks at, and where each one is read from in a record and its
samples file. Data, not logic: ``comparison.compare_cell`` walks this list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    name: str
    """Stable key in the JSON output."""
    label: str
    unit: str
    samples: str | None
    """The series of the samples file (``run_view.SAMPLE_KEYS``) that gives an interval;
    None for a figure with one value per run."""
    quantile: float = 0.5
    """The statistic of the samples: 0.5 median, 0.9 the 90th percentile."""
    path: tuple[str, ...] = ()
    """Where the record holds the figure's single value (a dict's ``median`` is used)."""
    higher_is_better: bool = False
    missing_reason: str | None = None
    """The record field that says why the value is missing, where the schema has one."""
    decides: bool = True
    """Whether the figure's interval decides the cell's verdict. The medians do; the 90th
    percentile has its own verdict, shown, but does not decide: on a phone it comes from a
    handful of round means (the 2nd-largest of 15), far too noisy to fail a build on."""

    def value(self, record: dict[str, Any]) -> float | None:
        data: Any = record
        for key in self.path:
            data = data.get(key) if isinstance(data, dict) else None
        if isinstance(data, dict):
            data = data.get("median")
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            return None
        return float(data)

    def why_missing(self, record: dict[str, Any]) -> str | None:
        if self.missing_reason and record.get(self.missing_reason):
            return str(record[self.missing_reason])
        return None


METRICS: tuple[Metric, ...] = (
    Metric("latency_median", "latency median", "ms", "latency_ms", 0.5, ("latency_ms",)),
    Metric("latency_p90", "latency p90", "ms", "latency_ms", 0.9, ("latency_ms", "p90"),
           decides=False),
    Metric("ttft", "time to first token", "ms", "ttft_ms", 0.5, ("ttft_ms",)),
    Metric("prefill_tokens_per_s", "prefill", "tokens/s", "prefill_tokens_per_s", 0.5,
           ("prefill_tokens_per_s",), higher_is_better=True),
    Metric("decode_tokens_per_s", "decode", "tokens/s", "decode_tokens_per_s", 0.5,
           ("decode_tokens_per_s",), higher_is_better=True),
    Metric("init", "init", "ms", None, path=("init_ms",)),
    Metric("energy_per_inference", "energy per inference", "mJ", None,
           path=("power", "energy_mj_per_inference"), missing_reason="power_missing_reason"),
    Metric("energy_per_token", "energy per token", "mJ", None, path=("energy_mj_per_token",),
           missing_reason="energy_missing_reason"),
    Metric("memory_peak", "peak memory", "MB", None, path=("memory_peak_mb",)),
)
