"""``npubench farm run``: the night's controller. It plans the night on the farm's phones
(one planning task per class, on one of its phones), submits one Dask task per job with the
resource of its phone class (so a job runs on any usable phone of its class, one job per phone
at a time), and as each job ends writes its record to results.jsonl and the results store.

Faults: an attempt that failed for the infrastructure (phone lost, ADB offline, a failed health
check, a tool hung past its timeout, its worker died) is tried again on another phone of the
class, up to ``retries`` more times, every attempt kept in the record; a product failure (the
tool crashed on the model, the delegate refused it) is recorded and not retried. Jobs not
started by the deadline become ``skipped`` (``deadline``); jobs of a class that has no usable
phone left fail (``no_phone``). Ctrl-C or SIGTERM stops the night with every finished record
on disk; ``--resume RUN_ID`` runs the rest, never a finished job again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from npubench.errors import ConfigError
from npubench.harness.farm.night import KIND, FarmJob, NightFolder
from npubench.harness.farm.outcome import FarmRunResult
from npubench.harness.farm.records import (
    attempt_entry,
    bare_record,
    farm_block,
    is_infrastructure,
)

QUEUED_PER_PHONE = 2
"""Jobs of a class given to Dask at a time, per usable phone of the class (``_feed``)."""
NO_PHONE_GRACE_S = 10.0
"""How long a class may have no usable phone before its waiting jobs fail (a worker may be
restarting)."""


@dataclass
class FarmRunRequest:
    farm_file: str
    scheduler: str | None = None
    store: str | bool | None = None
    deadline_s: float | None = None
    resume: str | None = None
    out: str | None = None
    previous: str | None = None
    report: bool = True
    argv: list[str] | None = None


@dataclass
class _Pending:
    job: FarmJob
    attempt: int
    attempts: list[dict[str, Any]]
    submitted: float


class Controller:
    def __init__(self, request: FarmRunRequest, say: Callable[[str], None] = print):
        from npubench.harness.farm.config import load_farm

        self.request, self.say = request, say
        self.farm = load_farm(request.farm_file)
        self.deadline_s = request.deadline_s or self.farm.deadline_s
        self.store_target = (request.store if request.store is not None
                             else self.farm.store)
        self.started: dict[str, dict] = {}  # task key -> its job_start event
        self.result: FarmRunResult | None = None

    # --- the night ---------------------------------------------------------------------------

    def run(self) -> FarmRunResult:
        from npubench.harness.farm.cluster import connect
        from npubench.harness.interrupts import sigterm_as_ctrl_c

        run_id, run_dir, resumed = self._night_folder()
        self.folder = folder = NightFolder(run_dir)
        self.run_id = run_id
        self.result = result = FarmRunResult(run_id, run_dir)
        self.say(f"npubench farm: night {run_id} -> {run_dir}")
        cluster = connect(Path(self.request.farm_file).resolve(), self.request.scheduler,
                          run_dir, say=self.say)
        self.cluster = cluster
        try:
            with sigterm_as_ctrl_c():
                self._night(resumed)
        except KeyboardInterrupt:
            result.interrupted = True
            folder.event({"event": "interrupted", "run_id": run_id})
            self.say("npubench farm: interrupted: cancelling what has not run; every finished "
                     f"record is in {run_dir}; finish the night with --resume {run_id}")
            self._cancel_all()
        finally:
            self._end(cluster)
        self._summarize()
        if self.request.report:
            self._reports()
        return result

    def _night(self, resumed: bool) -> None:
        """The night itself, from its info to its last record."""
        from npubench.harness.farm.pool import EVENT_TOPIC
        from npubench.harness.store_writer import StoreWriter

        cluster, folder, run_id, run_dir = (self.cluster, self.folder, self.run_id,
                                            self.folder.run_dir)
        self.say(f"npubench farm: scheduler {cluster.address}" + (
            f", dashboard {cluster.dashboard}" if cluster.dashboard else
            " (no dashboard: pip install bokeh)"))
        cluster.client.subscribe_topic(EVENT_TOPIC, self._on_event)
        self._write_info(resumed)
        folder.event({"event": "resumed" if resumed else "night_start", "run_id": run_id})
        self.writer = StoreWriter(self.store_target if self.store_target is not None
                                  else True, run_dir)
        self.writer.start(folder.info())
        if resumed:  # a record the cut-off night wrote to results.jsonl only
            self.writer.catch_up()
        jobs, devices = (folder.read_plan() if resumed else self._plan())
        self.devices = devices
        if not resumed:
            folder.write_plan(run_id, jobs, devices)
        done = folder.done_keys()
        todo = [j for j in jobs if j.key not in done]
        if resumed:
            self.say(f"npubench farm: resuming: {len(done)} of {len(jobs)} jobs have "
                     f"their record; {len(todo)} to run")
        self._loop(todo)

    def _night_folder(self) -> tuple[str, Path, bool]:
        from npubench.harness.farm.night import find_night
        from npubench.harness.run import new_run_id
        from npubench.results import holds_run

        if self.request.resume:
            return (*find_night(self.request.resume, self.request.out), True)
        run_id = new_run_id()
        run_dir = Path(self.request.out or Path("runs") / run_id)
        if holds_run(run_dir):
            raise ConfigError(f"--out {run_dir} holds a run already; a night does not write "
                              "over another", hint=f"give a new folder, or finish that night "
                              f"with --resume {run_dir}")
        return run_id, run_dir, False

    def _write_info(self, resumed: bool) -> None:
        from npubench.devices.host import HostDevice
        from npubench.harness.farm.night import night_farm_info
        from npubench.harness.run import now_iso, start_run

        states = self.cluster.start_night(self.run_id, self.say)
        farm = night_farm_info(self.farm, states, self.cluster.address,
                               self.cluster.dashboard, self.deadline_s)
        phones = farm["phones"]
        if resumed:
            info = self.folder.info()
            farm["resumed_at"] = [*(info.get("farm") or {}).get("resumed_at", []), now_iso()]
            farm = {**(info.get("farm") or {}), **farm}
            self.folder.store.update_run_info(farm=farm, finished_at=None, interrupted=False)
        else:
            store = start_run(self.folder.run_dir, self.run_id, HostDevice().info().to_dict(),
                              None, argv=self.request.argv)
            store.update_run_info(kind=KIND, farm=farm)
        for phone in phones:
            if phone.get("quarantined"):
                self.say(f"npubench farm: {phone['name']} is out: {phone['quarantined']}")

    def _plan(self) -> tuple[list[FarmJob], dict[str, dict]]:
        from npubench.harness.farm.planning import plan_night

        if not self.farm.nightly:
            self.say(f"npubench farm: {self.farm.source} has no nightly: entries, so the night "
                     "has nothing to run (README: Device farm)")
        jobs, devices = plan_night(self.farm, self.cluster, self.run_id)
        classes = self.farm.classes()
        self.say(f"npubench farm: {len(jobs)} jobs planned on {len(classes)} "
                 f"class{'es' * (len(classes) != 1)}")
        return jobs, devices

    # --- running -----------------------------------------------------------------------------

    def _loop(self, todo: list[FarmJob]) -> None:
        """Feed Dask a few jobs per usable phone at a time (``QUEUED_PER_PHONE``), so that a
        job is placed when a phone is about to free, on whichever host has it, and the
        scheduler and the workers hold a short queue, not the whole night."""
        from distributed import wait

        self.pending: dict[Any, _Pending] = {}
        self.waiting: list[FarmJob] = []
        self.deadline = (time.monotonic() + self.deadline_s) if self.deadline_s else None
        no_phone_since: dict[str, float] = {}
        for job in todo:
            if job.skip_reason:
                self._final(job, [], None, "skipped", {
                    "kind": "unavailable", "message": f"{job.backend}: {job.skip_reason}",
                    "infrastructure": False})
            else:
                self.waiting.append(job)
        capacity = self.cluster.class_capacity()
        self._feed(capacity)
        last_check = time.monotonic()
        while self.pending or self.waiting:
            try:
                done, _ = wait(list(self.pending), timeout=0.5,
                               return_when="FIRST_COMPLETED") if self.pending else ((), ())
            except TimeoutError:
                done = ()
            for future in done:
                self._collect(future)
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline:
                self._skip_unstarted("deadline", lambda job: True)
            if now - last_check >= 1.0:
                last_check = now
                capacity = self.cluster.class_capacity()
                for phone_class in ({p.job.phone_class for p in self.pending.values()} |
                                    {j.phone_class for j in self.waiting}):
                    if capacity.get(phone_class):
                        no_phone_since.pop(phone_class, None)
                        continue
                    since = no_phone_since.setdefault(phone_class, now)
                    if now - since >= NO_PHONE_GRACE_S:
                        self._skip_unstarted("no_phone", lambda job, c=phone_class:
                                             job.phone_class == c)
            self._feed(capacity)
            if not self.pending and self.waiting:
                time.sleep(0.5)  # every waiting class has no phone yet: the check above decides

    def _feed(self, capacity: dict[str, float]) -> None:
        """Submit waiting jobs, in the plan's order, while their class has fewer than
        ``QUEUED_PER_PHONE`` jobs in Dask per usable phone."""
        in_dask: dict[str, int] = {}
        for pending in self.pending.values():
            in_dask[pending.job.phone_class] = in_dask.get(pending.job.phone_class, 0) + 1
        left = []
        for job in self.waiting:
            room = QUEUED_PER_PHONE * capacity.get(job.phone_class, 0)
            if in_dask.get(job.phone_class, 0) < room:
                in_dask[job.phone_class] = in_dask.get(job.phone_class, 0) + 1
                self._submit(job, 1, [], [])
            else:
                left.append(job)
        self.waiting = left

    def _submit(self, job: FarmJob, attempt: int, attempts: list, avoid: list[str],
                away_from: str | None = None) -> None:
        """Submit an attempt. A retry prefers the other workers that hold phones of the class
        (``away_from``: the worker of the failed attempt); Dask may still place it there when
        no other can take it."""
        from npubench.harness.farm.pool import class_resource
        from npubench.harness.farm.task import run_farm_job

        task = f"npubench-farm-{self.run_id}-{job.index}-a{attempt}"
        spec = {"run_id": self.run_id, "index": job.index, "key": job.key, "task": task,
                "class": job.phone_class, "suite": job.suite, "workload": job.workload,
                "backend": job.backend, "attempt": attempt, "avoid": avoid}
        others = self.cluster.workers_with(job.phone_class, exclude=away_from) if (
            away_from) else None
        future = self.cluster.client.submit(
            run_farm_job, spec, resources={class_resource(job.phone_class): 1}, pure=False,
            retries=0, priority=-job.index, key=task, workers=others or None,
            allow_other_workers=bool(others))
        self.pending[future] = _Pending(job, attempt, attempts, time.time())

    def _collect(self, future) -> None:
        pending = self.pending.pop(future)
        job = pending.job
        if future.status == "cancelled":
            return
        if future.status == "error":
            start = self.started.get(future.key) or {}
            exc = future.exception()
            result = {"attempt": pending.attempt, "phone": start.get("phone"),
                      "worker": start.get("worker"), "worker_address": start.get("worker"),
                      "task_started_ts": start.get("ts"),
                      "ended_ts": time.time(), "record": None,
                      "error": {"kind": "worker_lost", "infrastructure": True,
                                "message": f"the worker running it was lost "
                                           f"({type(exc).__name__}: {exc})"}}
            self.folder.event({"event": "worker_lost", "job": job.key,
                               "phone": start.get("phone"), "worker": start.get("worker"),
                               "attempt": pending.attempt, "reason": str(exc)[:300]})
        else:
            result = future.result()
        entry = attempt_entry(result)
        attempts = [*pending.attempts, entry]
        if is_infrastructure(entry) and len(attempts) <= self.farm.retries:
            tried = [a["phone"] for a in attempts if a.get("phone")]
            reason = (entry.get("error") or {}).get("message") or entry["status"]
            self.folder.event({"event": "retry", "job": job.key, "phone": entry.get("phone"),
                               "attempt": len(attempts) + 1, "reason": reason})
            self._submit(job, len(attempts) + 1, attempts, tried,
                         result.get("worker_address"))
            return
        record = result.get("record")
        if record is None:
            error = dict(entry.get("error") or {"kind": "lost", "message": "no attempt ran",
                                                "infrastructure": True})
            if len(attempts) > 1:
                error["message"] = (f"{len(attempts)} attempts, each failed for the "
                                    f"infrastructure; the last: {error.get('message')}")
            self._final(job, attempts, result, "failed", error)
            return
        self._write(job, record, result.get("samples"), result.get("log") or "",
                    farm_block(job, attempts, result, self._overhead(result)))

    def _overhead(self, result: dict) -> float | None:
        """The farm's own time around a job: from the task's start on the worker to now (its
        record about to be stored), less the job itself and less the phone's preparation for
        the night (once per phone and night, at its first job: ``health.prepare_s``)."""
        start, begin, end = (result.get("task_started_ts"), result.get("job_started_ts"),
                             result.get("job_ended_ts"))
        if None in (start, begin, end):
            return None
        prepare = (result.get("health") or {}).get("prepare_s") or 0.0
        return max(0.0, (time.time() - start) - (end - begin) - prepare)

    def _final(self, job: FarmJob, attempts: list, last: dict | None, status: str,
               error: dict) -> None:
        from npubench.harness.run import now_iso

        record = bare_record(job, self.run_id, self.devices.get(job.phone_class), status,
                             error, now_iso())
        self._write(job, record, None, "", farm_block(job, attempts, last))

    def _write(self, job: FarmJob, record: dict, samples, log: str, farm: dict) -> None:
        from npubench.results import SCHEMA_VERSION

        store = self.folder.store
        written = time.time()
        record = {**record, "job_id": job.key, "index": job.index, "farm": farm}
        if samples:
            record["samples_path"] = store.write_samples(job.index, job.key, samples)
        if log:
            path = store.log_path(job.index, job.key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(log, encoding="utf-8")
            record["log_path"] = str(path.relative_to(self.folder.run_dir))
        store.append(record)
        self.writer.record(self.run_id, {"schema_version": SCHEMA_VERSION, **record}, samples)
        if farm.get("overhead_s") is not None:  # with the store's write, which is farm work
            self.result.overheads_s.append(farm["overhead_s"] + time.time() - written)
        status = record["status"]
        where = f" on {farm['phone']}" if farm.get("phone") else ""
        tries = f" after {farm['attempt']} attempts" if farm["attempt"] > 1 else ""
        why = f": {record['error']['message']}" if record.get("error") and status != "ok" else ""
        self.say(f"  {status:7} {job.key}{where}{tries}{why}")

    def _skip_unstarted(self, reason: str, which) -> None:
        """Cancel the jobs that ``which`` selects and have not started, each with its record:
        skipped at the deadline, or failed for want of a usable phone."""
        unsent = [(None, _Pending(job, 1, [], time.time())) for job in self.waiting
                  if which(job)]
        self.waiting = [job for job in self.waiting if not which(job)]
        for future, pending in [*list(self.pending.items()), *unsent]:
            if future is not None:
                if future.key in self.started or not which(pending.job):
                    continue
                future.cancel()
                self.pending.pop(future)
            job = pending.job
            if reason == "deadline":
                error = {"kind": "deadline", "infrastructure": False,
                         "message": f"not started within the night's deadline "
                                    f"({self.deadline_s:g} s)"}
                self.folder.event({"event": "deadline_skip", "job": job.key})
                self._final(job, pending.attempts, None, "skipped", error)
            else:
                error = {"kind": "no_phone", "infrastructure": True,
                         "message": f"no usable phone of class {job.phone_class} is left "
                                    "(each is quarantined or its worker is gone: see the "
                                    "timeline)"}
                self._final(job, pending.attempts, None, "failed", error)

    def _cancel_all(self) -> None:
        for future in list(getattr(self, "pending", {})):
            future.cancel()
        self.pending, self.waiting = {}, []

    def _on_event(self, event) -> None:
        _, message = event
        if not isinstance(message, dict):
            return
        if message.get("event") == "job_start" and message.get("task"):
            self.started[message["task"]] = message
        self.folder.event(message)

    def _end(self, cluster) -> None:
        from npubench.harness.farm.task import end_night
        from npubench.harness.run import now_iso

        sessions = {}
        try:
            for answer in cluster.client.run(end_night, self.run_id, wait=True).values():
                sessions.update(answer.get("phones") or {})
        except Exception as exc:
            self.say(f"npubench farm: could not ask every worker to restore its phones: {exc}"
                     " (each restores them itself when idle or stopped)")
        self.folder.event({"event": "night_end", "run_id": self.run_id})
        time.sleep(0.2)  # the workers' last events
        code = cluster.close()
        if code not in (None, 0):
            self.say(f"npubench farm: the embedded worker exited with {code} (its log: "
                     f"{cluster.worker_log})")
        self.folder.store.update_run_info(finished_at=now_iso(),
                                          interrupted=self.result.interrupted,
                                          phone_sessions=sessions)
        if hasattr(self, "writer"):
            info = self.folder.info()
            self.writer.finish(self.run_id, **{k: info.get(k) for k in
                                               ("finished_at", "interrupted", "phone_sessions",
                                                "farm")})

    def _summarize(self) -> None:
        from npubench.harness.farm.outcome import summarize

        summarize(self.result, self.say)

    def _reports(self) -> None:
        from npubench.harness.farm.outcome import write_reports

        store = self.store_target if isinstance(self.store_target, str) else None
        write_reports(self.result, self.request.previous, store, self.say)
