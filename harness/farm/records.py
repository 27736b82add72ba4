"""A farm job's record: the record the phone's job made (as ``npubench run`` makes it), or one
for a job that never ran (deadline, no phone left, every attempt lost), and its ``farm`` block:
the phone and worker that ran it and every attempt, retried ones included. Pure."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from npubench import __version__
from npubench.harness.farm.night import FarmJob

INFRA_STATUSES = ("health_failed", "no_phone", "lost")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")


def attempt_entry(result: dict[str, Any]) -> dict[str, Any]:
    """One attempt as the record keeps it, from what ``run_farm_job`` returned (or what the
    controller knows of a lost one)."""
    record = result.get("record")
    if record is not None:
        status = record["status"]
    elif (result.get("error") or {}).get("kind") == "health":
        status = "health_failed"
    elif (result.get("error") or {}).get("kind") == "no_phone":
        status = "no_phone"
    else:
        status = "lost"
    return {"attempt": result.get("attempt"), "phone": result.get("phone"),
            "worker": result.get("worker"),
            "started_at": iso(result.get("job_started_ts") or result.get("task_started_ts")),
            "ended_at": iso(result.get("job_ended_ts") or result.get("ended_ts")),
            "status": status, "error": result.get("error"),
            "health": result.get("health"), "outcome": None}


def is_infrastructure(entry: dict[str, Any]) -> bool:
    """Worth another phone: the phone, its link or its worker failed, not the product."""
    if entry["status"] in INFRA_STATUSES:
        return True
    return entry["status"] == "failed" and bool((entry.get("error") or {}).get("infrastructure"))


def farm_block(job: FarmJob, attempts: list[dict[str, Any]], last: dict[str, Any] | None,
               overhead_s: float | None = None) -> dict[str, Any]:
    for entry in attempts[:-1]:
        entry["outcome"] = "retried"
    if attempts:
        attempts[-1]["outcome"] = "final"
    return {"class": job.phone_class, "phone": (last or {}).get("phone"),
            "labels": (last or {}).get("labels") or {}, "worker": (last or {}).get("worker"),
            "host": (last or {}).get("host"), "attempt": len(attempts),
            "attempts": attempts, "suite": job.suite,
            "overhead_s": None if overhead_s is None else round(overhead_s, 4)}


def bare_record(job: FarmJob, run_id: str, device: dict | None, status: str,
                error: dict[str, Any] | None, started_at: str) -> dict[str, Any]:
    """The record of a job that produced none itself (it never ran, or every attempt was
    lost): the identity fields, the status and the reason; no figures."""
    from npubench.harness.backends import parse_backend

    try:
        backend = parse_backend(job.backend).to_record()
    except Exception:
        runtime, _, accelerator = job.backend.partition(":")
        backend = {"runtime": runtime, "accelerator": accelerator, "options": {}}
    return {"run_id": run_id, "job_id": job.key, "index": job.index, "started_at": started_at,
            "duration_s": 0.0, "harness_version": __version__,
            "device": device or {"id": None, "kind": "android", "simulated": None},
            "workload": {"name": job.workload}, "backend": backend, "tool": None,
            "status": status, "error": error, "validity": None, "validity_reasons": [],
            "latency_ms": None, "power": None, "thermal": None, "delegation": None}
