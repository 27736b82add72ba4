"""Run folders with literal records and samples for the compare tests (written with
``npubench.results.RunStore``, as a run writes them; nothing is benchmarked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from npubench.results import RunStore

HOSTILE = ("<img src=x onerror=alert(1)>", "a b;rm -rf x'")
BASE_MS = [10.0, 10.2, 9.8, 10.1, 9.9, 10.0, 10.3, 9.7, 10.05, 9.95]
"""Literal latency samples (median 10.0 ms)."""


def record(workload: str, *, backend: str = "tflite:xnnpack", status: str = "ok",
           sha256: str = "a" * 64, model: str = "Pixel 8", soc: str = "GS301",
           serial: str = "unit-1", simulated: bool = False, message: str | None = None,
           **extra: Any) -> dict[str, Any]:
    rec = {
        "job_id": f"{workload}@{backend}@{model}@{serial}", "status": status,
        "device": {"id": serial, "serial": serial, "model": model, "soc": {"part": soc},
                   "simulated": simulated, "build_fingerprint": "google/shiba/1"},
        "workload": {"name": workload, "sha256": sha256},
        "backend": {"spec": backend, "runtime": backend.split(":")[0], "options": {}},
        "error": {"kind": "runtime", "message": message} if message else None,
        "init_ms": 12.0, "memory_peak_mb": 40.0,
    }
    rec.update(extra)
    return rec


def write_run(run_dir: Path, jobs: list[tuple[dict[str, Any], dict[str, list[float]] | None]],
              *, run_id: str | None = None, versions: dict[str, str] | None = None,
              started_at: str = "2026-12-01T00:00:00+00:00") -> Path:
    """A run folder holding ``jobs`` (record, samples) in order."""
    run_id = run_id or Path(run_dir).name
    store = RunStore(Path(run_dir))
    store.create({"run_id": run_id, "started_at": started_at, "harness_version": "0.1.0",
                  "host": {"cpu": "test cpu", "os": "Linux"},
                  "versions": versions or {"onnxruntime": "1.20.0"}})
    for index, (rec, samples) in enumerate(jobs):
        rec = {"run_id": run_id, "index": index, **rec}
        if samples:
            rec["samples_path"] = store.write_samples(index, rec["job_id"], samples)
        store.append(rec)
    store.update_run_info(finished_at="2026-12-01T00:10:00+00:00")
    return Path(run_dir)


def scaled(values: list[float], factor: float) -> list[float]:
    return [v * factor for v in values]
