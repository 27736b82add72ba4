"""One farm night's run folder, read: run.json (with its ``farm`` block), farm-plan.json,
the records and samples (as a ``RunView``, what ``compare`` reads) and events.jsonl.

A night may have been cut short, so every file but results.jsonl may be missing or end in a
half-written line: what cannot be read becomes a note the report shows, never an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from npubench.reports.run_view import RunView, read_run_folder

PLAN_FILE = "farm-plan.json"
EVENTS_FILE = "events.jsonl"
NIGHT_KIND = "farm-night"


@dataclass
class Night:
    run_dir: Path
    view: RunView
    """run.json and the records with their samples."""
    plan: list[dict[str, Any]] = field(default_factory=list)
    """farm-plan.json's ``jobs`` (index, key, class, suite, workload, backend)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """events.jsonl, each with a float ``ts`` (unix seconds), in time order."""
    notes: list[str] = field(default_factory=list)
    """What could not be read, for the report."""

    @property
    def info(self) -> dict[str, Any]:
        return self.view.info

    @property
    def farm(self) -> dict[str, Any]:
        farm = self.info.get("farm")
        return farm if isinstance(farm, dict) else {}

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.view.records


def read_night(run_dir: Path) -> Night:
    """Read a night's folder. A night that ended before its first record (no
    results.jsonl) reads as a night with no records; ``ResultsError`` for records of a newer
    schema or a folder that is not a run folder at all (no run.json either)."""
    from npubench.results import RESULTS_FILE, RUN_FILE, read_run_info

    run_dir = Path(run_dir)
    if not (run_dir / RESULTS_FILE).exists() and (run_dir / RUN_FILE).exists():
        info = read_run_info(run_dir)
        run_id = str(info.get("run_id") or run_dir.name)
        night = Night(run_dir, RunView(run_id, {**info, "run_id": run_id}, [], {},
                                       source=str(run_dir)))
        night.notes.append(f"no {RESULTS_FILE}: no job finished")
    else:
        night = Night(run_dir, read_run_folder(run_dir))
    if night.info.get("kind") != NIGHT_KIND:
        night.notes.append(f"run.json does not say kind {NIGHT_KIND!r}: this may not be a "
                           "farm night")
    plan = _read_json(run_dir / PLAN_FILE, night.notes)
    jobs = plan.get("jobs") if isinstance(plan, dict) else None
    night.plan = [j for j in jobs if isinstance(j, dict)] if isinstance(jobs, list) else []
    night.events = read_events(run_dir / EVENTS_FILE, night.notes)
    return night


def _read_json(path: Path, notes: list[str]) -> Any:
    if not path.exists():
        notes.append(f"no {path.name}")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"{path.name} cannot be read: {exc}")
        return None


def read_events(path: Path, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """The events of events.jsonl that have a time, sorted by it. Lines that are not JSON
    objects or have no usable time are left out (counted in ``notes``)."""
    notes = notes if notes is not None else []
    if not path.exists():
        notes.append(f"no {path.name}: no timeline")
        return []
    events, bad = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            bad += 1
            continue
        ts = event_time(event) if isinstance(event, dict) else None
        if ts is None:
            bad += 1
            continue
        events.append({**event, "ts": ts})
    if bad:
        notes.append(f"{bad} line{'s' * (bad != 1)} of {path.name} left out (not an event "
                     "with a time)")
    events.sort(key=lambda e: e["ts"])
    return events


def event_time(event: dict[str, Any]) -> float | None:
    """An event's unix time: its ``ts``, else its ISO ``t``."""
    ts = event.get("ts")
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        return float(ts)
    return iso_seconds(event.get("t"))


def iso_seconds(text: Any) -> float | None:
    """Unix seconds of an ISO 8601 time (``Z`` allowed; naive means UTC), else None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
