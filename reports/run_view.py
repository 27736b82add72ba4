"""One run as the comparison and history code see it, wherever it was read from (a run folder
or the results store): its run.json, its records, and each record's per-iteration samples.

Pure data plus the folder reader; the store builds the same ``RunView`` from its tables
(``npubench.reports.store``), so ``compare`` and ``history`` never care where a run lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_KEYS = ("latency_ms", "warmup_ms", "ttft_ms", "prefill_tokens_per_s",
               "decode_tokens_per_s", "token_latency_ms")
"""The per-iteration series a samples file may hold that comparisons use (telemetry and
other bulky series stay in the run folder)."""


@dataclass
class RunView:
    run_id: str
    info: dict[str, Any]
    """run.json: ``started_at``, ``finished_at``, ``host``, ``versions``, ``argv``, ``suite``."""
    records: list[dict[str, Any]]
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """job_id -> {series name (one of ``SAMPLE_KEYS``) -> per-iteration values}."""
    source: str = ""
    """Where it was read from, for messages: a folder path or ``store URL#run_id``."""

    @property
    def started_at(self) -> str:
        return str(self.info.get("started_at") or "")

    def samples_of(self, record: dict[str, Any]) -> dict[str, list[float]]:
        return self.samples.get(str(record.get("job_id")), {})


def comparable_samples(raw: dict[str, Any]) -> dict[str, list[float]]:
    """The series of a samples file that comparisons use, as lists of floats."""
    out: dict[str, list[float]] = {}
    for key in SAMPLE_KEYS:
        values = raw.get(key)
        if isinstance(values, list) and values and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = [float(v) for v in values]
    return out


def read_run_folder(run_dir: Path) -> RunView:
    """A run folder (``npubench run --out``) as a ``RunView``; ``ResultsError`` when it is
    not one."""
    from npubench.results import read_records, read_run_info, read_samples

    run_dir = Path(run_dir)
    records = read_records(run_dir)
    info = read_run_info(run_dir)
    run_id = str(info.get("run_id") or (records[0].get("run_id") if records else run_dir.name))
    info.setdefault("run_id", run_id)
    if "started_at" not in info and records:
        info["started_at"] = min(str(r.get("started_at") or "") for r in records)
    samples = {}
    for record in records:
        series = comparable_samples(read_samples(run_dir, record))
        if series:
            samples[str(record.get("job_id"))] = series
    return RunView(run_id, info, records, samples, source=str(run_dir))
