"""Run a plan: one worker process per job, each record appended to results.jsonl as it ends."""

from __future__ import annotations

import platform
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from npubench import __version__
from npubench.errors import NpubenchError
from npubench.harness.plan import Job
from npubench.harness.record import base_record, finish_record
from npubench.harness.settings import MeasureSettings
from npubench.harness.store_writer import StoreWriter
from npubench.results import RunStore


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class RunOutcome:
    run_dir: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r["status"] == status)


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "npubench": __version__}
    for dist in ("numpy", "scipy", "ai-edge-litert", "tflite-runtime", "onnxruntime",
                 "onnxruntime-gpu", "onnx"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def start_run(run_dir: Path, run_id: str, host_info: dict, suite: str | None,
              argv: Sequence[str] | None = None, plan: dict | None = None) -> RunStore:
    """Create the run folder and its run.json. ``plan``: what the run was planned from (suite,
    workloads, backends, device, settings, as ``suite_run.RunRequest`` names them), which
    ``npubench run --resume`` plans again from."""
    store = RunStore(run_dir)
    store.create({
        "run_id": run_id,
        "started_at": now_iso(),
        "argv": list(sys.argv if argv is None else argv),
        "harness_version": __version__,
        "host": host_info,
        "versions": library_versions(),
        "suite": suite,
        **({"plan": plan} if plan is not None else {}),
    })
    return store


def resume_run(run_dir: Path, info: dict) -> RunStore:
    """Reopen the folder of run ``info`` for the jobs that have no record yet; run.json says
    when each resume began (``resumed_at``)."""
    store = RunStore(run_dir)
    cut = store.reopen()
    store.update_run_info(resumed_at=[*info.get("resumed_at", []), now_iso()],
                          **({"cut_partial_line": True} if cut else {}))
    return store


def execute(
    jobs: Sequence[Job],
    store: RunStore,
    run_id: str,
    settings: MeasureSettings,
    on_start: Callable[[Job], None] = lambda job: None,
    on_done: Callable[[Job, dict], None] = lambda job, record: None,
    phone: PhoneContext | None = None,
    results: StoreWriter | None = None,
    resumed: bool = False,
) -> RunOutcome:
    """Run ``jobs`` in order. A KeyboardInterrupt stops the run: what is recorded stays.
    Each phone is prepared once, at its first job, and restored when the run ends, however
    it ends (``harness.phone_run``). ``results`` also writes the run into the results store
    (its info now, each record as its job ends, ``finished_at`` at the end); ``resumed``: the
    folder's earlier records go into the store first (those it lacks)."""
    from npubench.harness.host_job import run_host_job
    from npubench.harness.phone_run import PhoneRuns
    from npubench.harness.worker import run_isolated
    from npubench.results import SCHEMA_VERSION, read_run_info

    outcome = RunOutcome(store.run_dir)
    phone = phone or PhoneContext()
    phones = PhoneRuns(run_id, phone.options, settings)
    results = results or StoreWriter(False, store.run_dir)
    results.start(read_run_info(store.run_dir) or {"run_id": run_id})
    if resumed:
        results.catch_up()
    clean_end = False
    try:
        for job in jobs:
            on_start(job)
            started = time.monotonic()
            record = base_record(job, run_id, now_iso(), settings.to_dict())
            result = _run_one(job, store, settings, run_host_job, run_isolated, phone, phones)
            samples = result.pop("samples", None)
            record = finish_record(record, result)
            if samples:
                record["samples_path"] = store.write_samples(job.index, job.job_id, samples)
            record["duration_s"] = round(time.monotonic() - started, 3)
            log = store.log_path(job.index, job.job_id)
            if log.exists():  # a skipped job wrote none: its record names no log
                record["log_path"] = str(log.relative_to(store.run_dir))
            store.append(record)
            results.record(run_id, {"schema_version": SCHEMA_VERSION, **record}, samples)
            outcome.records.append(record)
            on_done(job, record)
        clean_end = True
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        from npubench.harness.interrupts import signals_deferred

        with signals_deferred():  # a second Ctrl-C does not cut the phones' restore short
            sessions = phones.close_all(abnormal=not clean_end)
    store.update_run_info(finished_at=now_iso(), interrupted=outcome.interrupted,
                          **({"phone_sessions": sessions} if sessions else {}))
    results.finish(run_id, **{k: v for k, v in read_run_info(store.run_dir).items()
                              if k in ("finished_at", "interrupted", "phone_sessions")})
    return outcome


@dataclass
class PhoneContext:
    """What jobs on phones need besides the job: the tools, and the measurement options."""

    tools: Any = None  # harness.tools.ToolConfig
    options: Any = None  # harness.device_job.DeviceJobOptions


def _run_one(job: Job, store: RunStore, settings: MeasureSettings, target, run_isolated,
             phone: PhoneContext, phones=None) -> dict:
    if job.skip_reason:
        return {"status": "skipped",
                "error": {"kind": "unavailable", "message": f"{job.backend.base}: "
                          f"{job.skip_reason}", "infrastructure": False}}
    if getattr(job.workload, "pipeline", None) is not None:  # workloads.pipelines
        from npubench.harness.pipeline_job import run_pipeline_job

        return run_pipeline_job(job, store, settings, run_isolated, phone, phones)
    log_path = store.log_path(job.index, job.job_id)
    try:
        model_path = job.workload.path()
    except NpubenchError as exc:
        log_path.write_text(str(exc) + "\n")
        return {"status": "failed", "error": exc.as_record()}
    if getattr(job.device, "kind", "host") == "android":
        from npubench.harness.device_job import DeviceJobOptions
        from npubench.harness.device_run import run_device_job
        from npubench.harness.tools import ToolConfig

        options = phone.options or DeviceJobOptions()
        if phones is not None and phones.options is None:
            phones.options = options
        return run_device_job(job, model_path, settings, store.run_dir, log_path,
                              phone.tools or ToolConfig(), options,
                              phones.get(job.device) if phones is not None else None)
    work = {
        "model_path": str(model_path),
        "backend": str(job.backend),
        "inputs": dict(job.workload.inputs),
        "settings": settings.to_dict(),
    }
    if job.workload.llm is not None:
        work.update(llm=job.workload.llm.to_record(), name=job.workload.name,
                    precision=job.workload.precision)
    return run_isolated(target, work, settings.timeout_s, log_path)
