"""A farm night's folder: an ordinary run folder (run.json, results.jsonl, logs/, samples/; the
report of ``npubench run`` works on it) plus ``farm-plan.json`` (every job of the night, so that
``--resume`` runs the same ones) and ``events.jsonl`` (the timeline, one event per line).

Only the controller writes here; records are appended as jobs end and the store gets each at
the same moment. ``done_keys`` is what ``--resume`` trusts: a job with a record is finished."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from npubench.errors import ConfigError
from npubench.results import (
    RESULTS_FILE,
    RunStore,
    iter_records,
    read_jsonl,
    read_run_info,
    write_text_atomic,
)

PLAN_FILE = "farm-plan.json"
EVENTS_FILE = "events.jsonl"
KIND = "farm-night"


@dataclass(frozen=True)
class FarmJob:
    """One job of the night: a workload on a backend on any phone of a class."""

    index: int
    key: str
    """``WORKLOAD@BACKEND@CLASS``: the record's job_id, stable across ``--resume``."""
    phone_class: str
    suite: str
    workload: str
    backend: str
    skip_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["class"] = data.pop("phone_class")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FarmJob:
        return cls(data["index"], data["key"], data["class"], data["suite"], data["workload"],
                   data["backend"], data.get("skip_reason"))


def job_key(workload: str, backend: str, phone_class: str) -> str:
    return f"{workload}@{backend}@{phone_class}"


class NightFolder:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.store = RunStore(self.run_dir)
        self._events = threading.Lock()

    def write_plan(self, run_id: str, jobs: list[FarmJob], devices: dict[str, dict]) -> None:
        write_text_atomic(self.run_dir / PLAN_FILE, json.dumps(
            {"run_id": run_id, "jobs": [j.to_dict() for j in jobs], "devices": devices},
            indent=1))

    def read_plan(self) -> tuple[list[FarmJob], dict[str, dict]]:
        path = self.run_dir / PLAN_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: this night has no plan: it was cut off before its "
                              "jobs were planned", hint="start a new night instead") from None
        return [FarmJob.from_dict(j) for j in data["jobs"]], data.get("devices") or {}

    def info(self) -> dict[str, Any]:
        return read_run_info(self.run_dir)

    def done_keys(self) -> set[str]:
        """The jobs that have their record (``--resume`` does not run them again)."""
        if not (self.run_dir / RESULTS_FILE).exists():
            return set()
        return {r["job_id"] for r in iter_records(self.run_dir)}

    def event(self, message: dict[str, Any]) -> None:
        """Append one event to the timeline (from any thread)."""
        ts = float(message.get("ts") or datetime.now().timestamp())
        line = {"ts": ts, "t": datetime.fromtimestamp(ts, timezone.utc).isoformat(
            timespec="milliseconds"), **{k: v for k, v in message.items() if k != "ts"}}
        text = json.dumps(line, default=str) + "\n"
        # flushed, not fsynced: the timeline is not worth a disk sync per event (records are)
        with self._events, open(self.run_dir / EVENTS_FILE, "a", encoding="utf-8") as fh:
            fh.write(text)

    def events(self) -> list[dict[str, Any]]:
        return read_jsonl(self.run_dir / EVENTS_FILE)


def find_night(ref: str, out: str | None = None) -> tuple[str, Path]:
    """The night that ``--resume REF`` means: its folder, ``runs/REF``, or ``--out``."""
    candidates = [Path(ref), Path("runs") / ref] + ([Path(out)] if out else [])
    for path in candidates:
        info = read_run_info(path) if path.is_dir() else {}
        if info.get("kind") == KIND:
            return info["run_id"], path
    raise ConfigError(f"--resume {ref}: no farm night with that id or folder (looked in "
                      f"{', '.join(str(c) for c in candidates)})",
                      hint="give the night's folder or its run id as `npubench farm run` "
                      "printed it")


def night_farm_info(farm, states: dict, scheduler: str, dashboard: str | None,
                    deadline_s: float | None) -> dict[str, Any]:
    """run.json's ``farm`` block: the farm file, and its phones as the workers found them
    (``states``: what ``task.start_night`` returned, one per Dask worker; a farm worker
    process serves each class through its own Dask worker, so the same phones repeat)."""
    phones = list({p["name"]: dict(p, worker=s.get("worker")) for s in states.values()
                   for p in s.get("phones", [])}.values())
    return {"name": Path(farm.source).stem, "source": str(Path(farm.source).resolve()),
            "classes": farm.classes(), "phones": phones, "deadline_s": deadline_s,
            "retries": farm.retries, "scheduler": scheduler, "dashboard": dashboard}
