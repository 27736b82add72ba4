"""The night a farm night is compared with: the one given (a run folder or a store run id),
else the latest earlier ``farm-night`` run of the same farm in the results store.

Never raises for a previous night that cannot be found or read: the report then says why and
its matrix shows no comparison.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench.errors import NpubenchError
from npubench.reports.farm.night import NIGHT_KIND, Night
from npubench.reports.run_view import RunView


@dataclass
class Previous:
    view: RunView | None
    """The previous night, or None (``reason`` says why)."""
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    """Warnings about the night found (another farm, not a farm night)."""
    history: list[RunView] = field(default_factory=list)
    """Earlier runs from the store, for each cell's run-to-run spread (``compare``)."""


def _why(exc: BaseException) -> str:
    if isinstance(exc, NpubenchError):
        return exc.one_line
    return f"{type(exc).__name__}: {exc}"


def farm_name(info: dict[str, Any]) -> str | None:
    farm = info.get("farm")
    name = farm.get("name") if isinstance(farm, dict) else None
    return str(name) if name is not None else None


def find_previous_id(night: Night, store: str | os.PathLike | None) -> str | None:
    """The run id of the latest run in ``store`` whose run.json says ``kind: farm-night`` and
    the same ``farm.name``, started before this night; None when there is none.
    ``NpubenchError`` when the store cannot be opened."""
    from npubench.reports.store import open_store

    name, started = farm_name(night.info), night.view.started_at
    results = open_store(store)
    try:
        infos = results.runs(until=started or None)
    finally:
        results.close()
    earlier = [info for info in infos
               if info.get("kind") == NIGHT_KIND and farm_name(info) == name
               and info.get("run_id") != night.view.run_id
               and (not started or str(info.get("started_at") or "") < started)]
    return str(earlier[-1]["run_id"]) if earlier else None


def load_previous(night: Night, previous: Path | str | None,
                  store: str | os.PathLike | None) -> Previous:
    """The previous night of ``night`` (see the module docstring)."""
    from npubench.reports.compare.inputs import load_history, load_run

    name = farm_name(night.info)
    ref: Path | str | None = previous
    if ref is None:
        try:
            ref = find_previous_id(night, store)
        except (NpubenchError, OSError) as exc:
            return Previous(None, f"no previous night: the results store cannot be read: "
                                  f"{_why(exc)}")
        if ref is None:
            return Previous(None, f"no previous night: the results store holds no earlier "
                                  f"{NIGHT_KIND} run of farm {name!r}")
    try:
        view = load_run(ref, store)
    except (NpubenchError, OSError, ValueError) as exc:
        return Previous(None, f"the previous night {str(ref)!r} cannot be loaded: {_why(exc)}")
    if view.run_id == night.view.run_id:
        return Previous(None, f"the previous night {str(ref)!r} is this night itself")
    out = Previous(view, f"previous night: {view.run_id} ({view.source})")
    if view.info.get("kind") != NIGHT_KIND:
        out.notes.append(f"the previous run {view.run_id} is not a farm night")
    elif farm_name(view.info) != name:
        out.notes.append(f"the previous night {view.run_id} is of farm "
                         f"{farm_name(view.info)!r}, not {name!r}")
    # The store gives each cell's run-to-run spread; a previous night named by its folder
    # with no store given leaves the user's default store alone.
    if store is not None or previous is None or not Path(str(previous)).is_dir():
        out.history = load_history(store, view, night.view)
    return out
