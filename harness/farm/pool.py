"""The phones a farm worker holds (``PhonePool``): opened when the worker starts, lent to one
job at a time, health-checked before each job, quarantined for the night after
``STRIKES_TO_QUARANTINE`` health failures, and always restored (charging back on, pushed files
removed) when a night ends or the worker stops — also on SIGTERM or Ctrl-C.

A night (one farm run id) opens each phone's ``PhoneSession`` at its first job
(``harness.phone_run.PhoneRuns``) and closes it at ``end_night``; the host's per-model work
(accuracy references) is shared by every phone of the worker. What happens is told to the
controller as Dask events on ``EVENT_TOPIC`` (the night's timeline)."""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench.errors import one_line
from npubench.harness.farm.config import PhoneSlot
from npubench.harness.farm.health import STRIKES_TO_QUARANTINE, Health, check

EVENT_TOPIC = "npubench-farm"
CLASS_RESOURCE = "npubench-class:"


def class_resource(phone_class: str) -> str:
    """The Dask worker resource that counts a worker's healthy phones of a class."""
    return CLASS_RESOURCE + phone_class


@dataclass
class Phone:
    slot: PhoneSlot
    device: Any = None
    open_error: str | None = None
    busy_with: str | None = None
    strikes: list[str] = field(default_factory=list)
    quarantined: str | None = None
    process: Any = None
    """A simulated phone's own process (``farm.sim_phones``)."""

    @property
    def name(self) -> str:
        return self.slot.name

    @property
    def usable(self) -> bool:
        return self.device is not None and self.quarantined is None

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "class": self.slot.phone_class, "labels": self.slot.labels,
                "device": self.slot.device, "open": self.device is not None,
                "open_error": self.open_error, "busy_with": self.busy_with,
                "strikes": list(self.strikes), "quarantined": self.quarantined}


@dataclass
class Night:
    run_id: str
    runs: Any  # harness.phone_run.PhoneRuns
    host_cache: dict = field(default_factory=dict)
    last_activity: float = field(default_factory=time.monotonic)
    summaries: dict[str, dict] = field(default_factory=dict)
    work_dir: Path | None = None
    """The host's files of the night's jobs on this worker (logs on their way to the
    controller, inputs pushed to phones), removed when the night ends."""


class PhonePool:
    def __init__(self, slots: list[PhoneSlot], name: str | None = None,
                 emit: Callable[[dict], None] | None = None, log=None):
        self.phones = [Phone(slot) for slot in slots]
        self.name = name or f"npubench-{socket.gethostname()}"
        self.emit_to = emit
        self.log = log or sys.stderr
        self._lock = threading.Condition()
        self._nights: dict[str, Night] = {}
        self.night_id: str | None = None
        """The night the phones' quarantines belong to (``start_night``)."""
        self.on_capacity: Callable[[dict[str, int]], None] | None = None
        """Called with the new class resources when a phone is quarantined."""

    # --- opening and closing ----------------------------------------------------------------

    def open_all(self) -> None:
        """Open every phone (in parallel: a phone that does not answer must not hold up the
        others); one that cannot be opened is out for the night, with the reason."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, min(16, len(self.phones)))) as pool:
            list(pool.map(self._open, self.phones))

    def _open(self, phone: Phone) -> None:
        from npubench.devices.registry import resolve_device

        try:
            spec = phone.slot.open_spec
            if phone.slot.simulated:  # a process of its own, as a phone is a machine
                from npubench.harness.farm import sim_phones

                spec, phone.process = sim_phones.start(spec, phone.name)
            device = resolve_device(spec)
            if getattr(device, "kind", None) != "android":
                raise RuntimeError(getattr(device, "reason", f"{phone.slot.device} is not a phone"))
            device.info()  # authorized and answering: its identity is readable
            phone.open_error = phone.quarantined = None
            phone.device = device
            self.emit("phone_ready", phone=phone.name)
            print(f"npubench farm worker: {phone.name} ready ({phone.slot.phone_class})",
                  file=self.log, flush=True)
        except Exception as exc:
            phone.open_error = one_line(exc)
            phone.quarantined = f"could not be opened: {phone.open_error}"
            self.emit("phone_failed", phone=phone.name, reason=phone.open_error)
            print(f"npubench farm worker: {phone.name} is out for the night: "
                  f"{phone.open_error}", file=self.log, flush=True)

    def start_night(self, run_id: str) -> None:
        """A new night gives every phone another chance: the quarantines of an earlier night
        end and phones that could not be opened are tried again (the same night, resumed,
        keeps its quarantines)."""
        if run_id == self.night_id:
            return
        self.night_id = run_id
        changed = False
        unopened = [p for p in self.phones if p.device is None]
        if unopened:  # in the background: a phone that does not answer takes its timeout
            threading.Thread(target=self._reopen, args=(unopened,), daemon=True).start()
        for phone in self.phones:
            if phone.device is not None and phone.quarantined is not None:
                with self._lock:
                    phone.quarantined, phone.strikes = None, []
                    self._lock.notify_all()
                self.emit("phone_released", phone=phone.name, run_id=run_id)
                changed = True
        if changed and self.on_capacity is not None:
            self.on_capacity(self.resources())

    def _reopen(self, phones: list[Phone]) -> None:
        for phone in phones:  # (out until it opens: its reason stays meanwhile)
            self._open(phone)
        if any(p.usable for p in phones) and self.on_capacity is not None:
            self.on_capacity(self.resources())

    def resources(self) -> dict[str, float]:
        """Dask resources: per class, the number of usable phones."""
        out: dict[str, float] = {}
        for phone in self.phones:
            key = class_resource(phone.slot.phone_class)
            out[key] = out.get(key, 0) + (1 if phone.usable else 0)
        return out

    def end_night(self, run_id: str | None = None) -> dict[str, dict]:
        """Restore the phones of a night (every night when ``run_id`` is None): charging back
        on, the night's files removed. {phone: what was restored}."""
        with self._lock:
            nights = ([self._nights.pop(run_id)] if run_id in self._nights
                      else [] if run_id else list(self._nights.values()))
            if run_id is None:
                self._nights.clear()
        out: dict[str, dict] = {}
        for night in nights:
            night.runs.closed = True  # a job still running does not open its phone again
            for phone in self.phones:
                if phone.device is None:
                    continue
                summary = self._close_session(night, phone)
                if summary is not None:
                    out[phone.name] = summary
            if night.work_dir is not None:
                shutil.rmtree(night.work_dir, ignore_errors=True)
        return out

    def _close_session(self, night: Night, phone: Phone) -> dict | None:
        if phone.name in night.summaries:
            return night.summaries[phone.name]
        # a phone still busy (or quarantined) has a link in an unknown state: reset it
        summary = night.runs.close(phone.device, abnormal=phone.quarantined is not None or
                                   phone.busy_with is not None)
        if summary is None:
            return None
        try:
            phone.device.clean()
        except Exception as exc:
            summary["clean_error"] = one_line(exc)
        restored = summary.get("charging_restore") or {}
        self.emit("phone_restored", phone=phone.name, run_id=night.run_id,
                  status="ok" if "error" not in summary else "error",
                  reason=restored.get("reason") or summary.get("error"))
        night.summaries[phone.name] = summary
        print(f"npubench farm worker: {phone.name} restored after night {night.run_id} "
              f"({restored_text(summary)})", file=self.log, flush=True)
        return summary

    def close(self) -> dict[str, dict]:
        """End every night and close every phone (the worker is stopping)."""
        out = self.end_night(None)
        for phone in self.phones:
            if phone.device is not None:
                try:
                    phone.device.close()
                except Exception:
                    pass
                phone.device = None
            if phone.process is not None:
                from npubench.harness.farm import sim_phones

                sim_phones.stop(phone.process)
                phone.process = None
        return out

    def restore_idle(self, idle_s: float) -> None:
        """End the nights whose last job ended over ``idle_s`` ago (their controller is gone)."""
        now = time.monotonic()
        with self._lock:
            busy = any(p.busy_with for p in self.phones)
            stale = [n.run_id for n in self._nights.values()
                     if now - n.last_activity > idle_s and not busy]
        for run_id in stale:
            print(f"npubench farm worker: night {run_id} idle for over {idle_s:.0f} s: "
                  "restoring its phones", file=self.log, flush=True)
            self.end_night(run_id)

    # --- lending ----------------------------------------------------------------------------

    def acquire(self, phone_class: str, job: str, avoid: list[str] = (),
                wait_s: float = 30.0) -> Phone | None:
        """A free, usable phone of the class (one not in ``avoid`` if there is one), marked
        busy with ``job``; None when none frees up within ``wait_s``."""
        start = time.monotonic()
        with self._lock:
            while True:
                mine = [p for p in self.phones if p.slot.phone_class == phone_class and p.usable]
                free = [p for p in mine if p.busy_with is None]
                fresh = [p for p in free if p.name not in avoid]
                waited = time.monotonic() - start
                # a retry waits a while for a phone it has not failed on, if this worker has one
                if fresh or (free and (waited >= wait_s / 2 or
                                       all(p.name in avoid for p in mine))):
                    phone = (fresh or free)[0]
                    phone.busy_with = job
                    return phone
                if waited >= wait_s or not mine:
                    return None
                self._lock.wait(min(wait_s - waited, 0.5))

    def release(self, phone: Phone) -> None:
        with self._lock:
            phone.busy_with = None
            self._lock.notify_all()

    def night(self, run_id: str, options, settings) -> Night:
        with self._lock:
            night = self._nights.get(run_id)
            if night is None:
                from npubench.harness.phone_run import PhoneRuns
                from npubench.workloads.fetch import cache_dir

                night = self._nights[run_id] = Night(
                    run_id, PhoneRuns(run_id, options, settings),
                    work_dir=cache_dir() / "farm" / run_id / self.name)
            night.last_activity = time.monotonic()
            return night

    def health(self, phone: Phone, night: Night) -> Health:
        """Check the phone before a job (opening its session for the night first); a failure
        is a strike, and the second strike quarantines it."""
        began = time.monotonic()
        try:
            run = night.runs.get(phone.device)
            run.host_cache = night.host_cache
            sensors = run.session.sensors
        except Exception as exc:
            result = Health(False, [f"the phone could not be prepared: {one_line(exc)}"])
        else:
            prepared_s = time.monotonic() - began  # ~0 but at the phone's first job
            result = check(phone.device, sensors, phone.slot.limits)
            result.readings["prepare_s"] = round(prepared_s, 3)
        if result.cooldown_s > 0.5:
            self.emit("cooldown", phone=phone.name, job=phone.busy_with,
                      waited_s=round(result.cooldown_s, 2))
        if not result.ok:
            self.strike(phone, result.reason or "unhealthy")
        return result

    def strike(self, phone: Phone, reason: str) -> None:
        phone.strikes.append(reason)
        self.emit("health_failed", phone=phone.name, job=phone.busy_with, reason=reason)
        if len(phone.strikes) >= STRIKES_TO_QUARANTINE and phone.quarantined is None:
            self.quarantine(phone, f"failed health {len(phone.strikes)} times: "
                            + " / ".join(phone.strikes[-STRIKES_TO_QUARANTINE:]))

    def quarantine(self, phone: Phone, reason: str) -> None:
        with self._lock:
            phone.quarantined = reason
            self._lock.notify_all()
        self.emit("quarantine", phone=phone.name, reason=reason)
        print(f"npubench farm worker: {phone.name} quarantined for the night: {reason}",
              file=self.log, flush=True)
        for night in list(self._nights.values()):
            if phone.device is not None:
                self._close_session(night, phone)
        if self.on_capacity is not None:
            self.on_capacity(self.resources())

    def state(self) -> dict[str, Any]:
        from npubench import __version__

        return {"worker": self.name, "host": socket.gethostname(), "version": __version__,
                "nights": sorted(self._nights), "phones": [p.state() for p in self.phones]}

    def emit(self, event: str, **fields: Any) -> None:
        message = {"event": event, "ts": time.time(), "worker": self.name, **fields}
        if self.emit_to is not None:
            try:
                self.emit_to(message)
            except Exception:  # the timeline must never break a job
                pass


def restored_text(summary: dict) -> str:
    """What closing a phone's night did, for the worker's log."""
    if "error" in summary:
        return f"with an error: {summary['error']}"
    restore = summary.get("charging_restore") or {}
    if not summary.get("charging"):
        return "files removed; charging was not suspended"
    return "files removed, charging restored" if restore.get("applied") else (
        f"files removed; charging NOT restored: {restore.get('reason')}")


CURRENT: PhonePool | None = None
"""The pool of the worker in this process (set by ``npubench farm worker``)."""
