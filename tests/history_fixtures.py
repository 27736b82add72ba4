"""RunViews for the history tests: literal medians in, records shaped like the schema's out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from npubench.reports.run_view import RunView

HOSTILE_WORKLOAD = "<img src=x onerror=alert(1)>"
HOSTILE_BACKEND = "a b;rm -rf x'"


def record(run_id: str, started: str, *, workload: str, backend: str, median: float | None,
           model: str = "Pixel 8", soc: str = "Tensor G3", simulated: bool = False,
           runtime_version: str = "2.17.0", half_width: float | None = 0.02,
           status: str = "ok", message: str | None = None) -> dict:
    block = None
    if median is not None:
        block = {"n": 50, "median": median, "mean": median, "p90": median * 1.05,
                 "ci95_low": None if half_width is None else median * (1 - half_width),
                 "ci95_high": None if half_width is None else median * (1 + half_width)}
    return {
        "schema_version": 1, "run_id": run_id, "job_id": f"{workload}@{backend}",
        "started_at": started, "status": status,
        "error": {"kind": "runtime", "message": message} if message else None,
        "device": {"id": "dev", "model": model, "soc": {"part": soc}, "simulated": simulated},
        "workload": {"name": workload, "sha256": "ab" * 32},
        "backend": {"spec": backend, "options": {}, "library": "litert",
                    "library_version": runtime_version},
        "latency_ms": block,
    }


def runs_from_series(cells: dict[tuple[str, str], list[float | None]], *,
                     runtime_change_at: int | None = None, simulated: bool = False,
                     model: str = "Pixel 8") -> list[RunView]:
    """One run per position of the series; ``cells``: (workload, backend) -> medians (None: the
    job failed that night). The runtime version changes at ``runtime_change_at``."""
    nights = max(len(v) for v in cells.values())
    start = datetime(2026, 11, 1, 2, tzinfo=timezone.utc)
    views = []
    for night in range(nights):
        run_id = f"run{night:03d}"
        started = (start + timedelta(days=night)).isoformat()
        version = "2.18.0" if runtime_change_at is not None and night >= runtime_change_at \
            else "2.17.0"
        records = []
        for (workload, backend), values in cells.items():
            if night >= len(values):
                continue
            value = values[night]
            records.append(record(run_id, started, workload=workload, backend=backend,
                                  median=value, simulated=simulated, model=model,
                                  runtime_version=version,
                                  status="ok" if value is not None else "failed",
                                  message=None if value is not None else "delegate crashed"))
        views.append(RunView(run_id, {"run_id": run_id, "started_at": started}, records))
    return views
