"""A writer process for the concurrency tests: waits for a go file, opens the store (a fresh
one: processes race on its creation), then writes like a run does (run info, one record per
transaction), plus records that every writer adds (idempotence under contention).

    python store_writer_process.py STORE GO_FILE WRITER_NUMBER RECORDS SHARED_RECORDS
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from npubench.reports.store import open_store


def record(run_id: str, job_id: str, index: int) -> dict:
    return {"schema_version": 1, "run_id": run_id, "job_id": job_id, "index": index,
            "started_at": f"2026-11-20T08:{index // 60:02d}:{index % 60:02d}.000+00:00",
            "status": "ok", "device": {"id": "host", "model": "test host", "simulated": False},
            "workload": {"name": "w", "sha256": "0" * 64},
            "backend": {"spec": "tflite:cpu"}, "latency_ms": {"median": 1.0 + index}}


def main() -> None:
    target, go, writer, count, shared = sys.argv[1:6]
    writer, count, shared = int(writer), int(count), int(shared)
    deadline = time.monotonic() + 60
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    store = open_store(target)
    run_id = f"run-{writer}"
    store.add_run({"run_id": run_id, "started_at": "2026-11-20T08:00:00.000+00:00"})
    for index in range(count):
        store.add_record(run_id, record(run_id, f"job-{index}", index),
                         {"latency_ms": [1.0, 2.0, 3.0]})
    store.add_run({"run_id": "shared", "started_at": "2026-11-20T07:00:00.000+00:00"})
    for index in range(shared):
        store.add_record("shared", record("shared", f"shared-{index}", index))
    store.finish_run(run_id, finished_at="2026-11-20T09:00:00.000+00:00")
    store.close()


if __name__ == "__main__":
    main()
