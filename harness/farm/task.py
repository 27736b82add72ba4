"""What the farm's Dask tasks run on a worker: ``plan_class`` (which jobs a class of phone can
run, asked of one of its phones) and ``run_farm_job`` (one job on a free, healthy phone of its
class). Both use the worker's ``PhonePool`` (``farm.pool.CURRENT``) and return plain data: the
record is written by the controller, so a worker never writes into the night's folder."""

from __future__ import annotations

import functools
import socket
import time
from dataclasses import replace
from typing import Any

from npubench.errors import NpubenchError
from npubench.harness.farm import pool as pool_module

LOG_LIMIT = 1_000_000
"""The most of a job's log sent back to the controller (characters; the end is kept)."""


def current_pool() -> pool_module.PhonePool:
    if pool_module.CURRENT is None:
        raise RuntimeError("this Dask worker holds no phones: start it with "
                           "`npubench farm worker FARM_YAML --scheduler ADDR`")
    return pool_module.CURRENT


@functools.lru_cache(maxsize=32)
def _suite(name: str):
    from npubench.harness.suites import load_suite

    return load_suite(name)


def _settings(suite_name: str, overrides: dict[str, Any]):
    from npubench.harness.settings import MeasureSettings

    suite = _suite(suite_name)
    return MeasureSettings.from_mapping({**suite.settings.to_dict(), **overrides},
                                        where=f"suite {suite_name}")


@functools.lru_cache(maxsize=256)
def _workload(suite_name: str, name: str):
    """(Once per worker: resolving reads the model and its metadata.)"""
    from npubench.workloads.registry import resolve_path_or_failure

    suite = _suite(suite_name)
    if suite.pipeline(name) is not None:
        from npubench.workloads.pipelines import pipeline_workload

        return pipeline_workload(suite.pipeline(name))
    workload = resolve_path_or_failure(name, dict(suite.input_shapes.get(name, {})))
    tokens = suite.llm_tokens.get(name, {})
    return workload.with_tokens(tokens.get("prompt_tokens"), tokens.get("gen_tokens"))


def _tools(names: tuple[str, ...] = ()):
    from npubench.harness.tools import ToolConfig

    return ToolConfig.load(list(names))


def plan_class(phone_class: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Expand the night's entries for one class on one of its phones: for each entry, every
    (workload, backend) with None or the reason it cannot run there. ``entries``: [{suite,
    workloads, backends}] (empty lists: the suite's own)."""
    from npubench.harness.device_job import phone_backends
    from npubench.harness.plan import make_plan

    pool = current_pool()
    phone = pool.acquire(phone_class, "plan", wait_s=120)
    if phone is None:
        return {"error": f"no usable phone of class {phone_class} on {pool.name}"}
    try:
        tools = _tools()
        out = []
        for entry in entries:
            suite = _suite(entry["suite"])
            settings = _settings(entry["suite"], {})
            backends = list(entry.get("backends") or suite.backends)
            # one workload at a time: its jobs may run a variant of it (another format)
            # under another name, and the record keeps the suite's name
            for name in entry.get("workloads") or suite.job_names():
                for job in make_plan([phone.device], [_workload(entry["suite"], name)],
                                     backends, threads=settings.threads,
                                     known_backends=lambda d: phone_backends(d, tools),
                                     frame_rate=bool(settings.fps)):
                    out.append({"suite": entry["suite"], "workload": name,
                                "backend": str(job.backend), "skip_reason": job.skip_reason})
        return {"jobs": out, "phone": phone.name, "worker": pool.name,
                "device": phone.device.info().to_dict()}
    finally:
        pool.release(phone)


def run_farm_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one job of the night on a phone of its class: acquire a phone, check its health
    (a cooldown included), run, give the phone back. Returns the attempt: ``phone``,
    ``record`` (None when the job did not run: no phone, or the phone failed health),
    ``samples``, ``log``, ``health``, timings."""
    pool = current_pool()
    released_at = time.time()
    key = spec["key"]
    phone = pool.acquire(spec["class"], key, list(spec.get("avoid") or ()))
    base = {"key": key, "attempt": spec["attempt"], "worker": pool.name,
            "worker_address": _address(), "host": socket.gethostname(),
            "task_started_ts": released_at}
    if phone is None:
        return {**base, "phone": None, "record": None, "health": None,
                "error": {"kind": "no_phone", "infrastructure": True,
                          "message": f"no usable phone of class {spec['class']} on "
                                     f"{pool.name}"}}
    try:
        pool.emit("job_start", phone=phone.name, job=key, attempt=spec["attempt"],
                  run_id=spec["run_id"], task=spec.get("task"))
        from npubench.harness.device_job import DeviceJobOptions

        settings = _settings(spec["suite"], spec.get("settings") or {})
        options = DeviceJobOptions(**(spec.get("options") or {}))
        night = pool.night(spec["run_id"], options, settings)
        health = pool.health(phone, night)
        base.update(phone=phone.name, labels=phone.slot.labels, health=health.as_dict())
        if not health.ok:
            error = {"kind": "health", "infrastructure": True,
                     "message": f"{phone.name} failed its health check: {health.reason}"}
            pool.emit("job_end", phone=phone.name, job=key, attempt=spec["attempt"],
                      status="health_failed", reason=health.reason)
            return {**base, "record": None, "error": error}
        started = time.time()
        out = _run(spec, phone, night, settings, options, pool)
        ended = time.time()
        record = out["record"]
        error = record.get("error") or {}
        if record["status"] == "failed" and error.get("infrastructure"):
            # the phone may be gone: a strike now, rather than at its next job
            after = pool.health(phone, night)
            base["health_after"] = after.as_dict()
        pool.emit("job_end", phone=phone.name, job=key, attempt=spec["attempt"],
                  status=record["status"], reason=error.get("message"))
        night.last_activity = time.monotonic()
        return {**base, **out, "job_started_ts": started, "job_ended_ts": ended,
                "error": record.get("error")}
    finally:
        pool.release(phone)


def _address() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def _run(spec, phone, night, settings, options, pool) -> dict[str, Any]:
    """The job itself, as ``npubench run`` runs it on a phone; its record, samples and log."""
    from npubench.harness.device_job import phone_backends
    from npubench.harness.plan import make_plan
    from npubench.harness.record import base_record, finish_record
    from npubench.harness.run import PhoneContext, _run_one, now_iso
    from npubench.harness.worker import run_isolated
    from npubench.results import RunStore

    tools = _tools()
    workload = _workload(spec["suite"], spec["workload"])
    jobs = make_plan([phone.device], [workload], [spec["backend"]], threads=settings.threads,
                     known_backends=lambda d: phone_backends(d, tools),
                     frame_rate=bool(settings.fps))
    job = next((j for j in jobs if str(j.backend) == spec["backend"]), jobs[0])
    job = replace(job, index=spec["index"])
    work = RunStore(night.work_dir)
    work.logs_dir.mkdir(parents=True, exist_ok=True)
    log = work.log_path(job.index, job.job_id)  # where _run_one writes it
    log.unlink(missing_ok=True)
    started = time.monotonic()
    record = base_record(job, spec["run_id"], now_iso(), settings.to_dict())
    record["job_id"] = spec["key"]
    try:
        result = _run_one(job, work, settings, None, run_isolated,
                          PhoneContext(tools, options), night.runs)
    except NpubenchError as exc:
        result = {"status": "failed", "error": exc.as_record()}
    samples = result.pop("samples", None)
    record = finish_record(record, result)
    record["duration_s"] = round(time.monotonic() - started, 3)
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    log.unlink(missing_ok=True)
    return {"record": record, "samples": samples, "log": text[-LOG_LIMIT:]}


async def end_night(run_id: str | None) -> dict[str, Any]:
    """Restore this worker's phones after the night (``client.run``; in a thread, so that the
    worker's event loop goes on while 16 phones are restored)."""
    import asyncio

    pool = pool_module.CURRENT
    if pool is None:
        return {}
    phones = await asyncio.get_running_loop().run_in_executor(None, pool.end_night, run_id)
    return {"worker": pool.name, "phones": phones}


def start_night(run_id: str) -> dict[str, Any]:
    """A night begins (``client.run``): this worker's phones get another chance; its state."""
    pool = pool_module.CURRENT
    if pool is None:
        return {"worker": None, "phones": []}
    pool.start_night(run_id)
    return pool.state()


def pool_state() -> dict[str, Any]:
    """What ``npubench farm status`` shows of this worker (``client.run``)."""
    pool = pool_module.CURRENT
    return pool.state() if pool is not None else {"worker": None, "phones": []}
