"""What a user hands to a comparison: the two runs (a run folder, a run id or prefix,
``latest``/``previous`` from the results store) and the threshold (``3%`` or ``0.03``).
Bad input is a ``ConfigError`` or ``ResultsError`` that says what to give instead."""

from __future__ import annotations

import os
from pathlib import Path

from npubench.errors import ConfigError, ResultsError
from npubench.reports.run_view import RunView, read_run_folder
from npubench.results import RESULTS_FILE


def parse_threshold(text: str | float) -> float:
    """``3%`` -> 0.03, ``0.03`` -> 0.03; anything else (a bare 3, a negative number, 100%
    or more) is a ``ConfigError``."""
    raw = str(text).strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1] if percent else raw)
    except ValueError:
        raise ConfigError(f"--threshold {raw!r} is not a number",
                          hint="give a percentage such as 3% (or the fraction 0.03)") from None
    if percent:
        value /= 100
    elif value >= 1:
        raise ConfigError(f"--threshold {raw!r} is ambiguous",
                          hint=f"write {raw}% for a percentage, or a fraction below 1")
    if not 0 <= value < 1:
        raise ConfigError(f"--threshold {raw!r} must be at least 0% and below 100%")
    return value


def _looks_like_path(ref: str) -> bool:
    return os.sep in ref or "/" in ref or ref.startswith(".") or ref.endswith(RESULTS_FILE)


def load_run(ref: str | os.PathLike, store: str | os.PathLike | None = None) -> RunView:
    """The run ``ref`` names: a run folder (or its results.jsonl), else a run id, a unique
    prefix of one, ``latest`` or ``previous`` in the results store ``store`` (None: the
    default store)."""
    text = str(ref).strip()
    if not text:
        raise ConfigError("an empty run reference",
                          hint="give a run folder, a run id, latest or previous")
    path = Path(text)
    if path.is_file() and path.name == RESULTS_FILE:
        path = path.parent
    if path.is_dir():
        if not (path / RESULTS_FILE).exists():
            raise ResultsError(f"{text} is a folder but not a run folder (no {RESULTS_FILE})",
                               hint="give the folder that `npubench run --out` wrote")
        return read_run_folder(path)
    if _looks_like_path(text):
        raise ResultsError(f"no run folder {text}",
                           hint="check the path, or give a run id, latest or previous")
    from npubench.reports.store import open_store

    results = open_store(store)
    try:
        return results.run_view(results.resolve_run(text))
    finally:
        results.close()


def load_history(store: str | os.PathLike | None, base: RunView, new: RunView,
                 ) -> list[RunView]:
    """The earlier runs of NEW's workloads in the results store ``store`` (None: the default
    store), records only, started before NEW, for the run-to-run spread of each cell
    (``noise``). A store that cannot be read gives no history (the comparison then says its
    intervals cover only the noise inside each run), never an error."""
    from npubench.errors import NpubenchError
    from npubench.reports.store import open_store

    workloads = sorted({str((r.get("workload") or {}).get("name"))
                        for r in new.records if isinstance(r.get("workload"), dict)})
    if not workloads:
        return []
    try:
        results = open_store(store)
    except NpubenchError:
        return []
    try:
        found = results.records(workload=workloads, until=new.started_at or None)
    except (NpubenchError, OSError):
        return []
    finally:
        results.close()
    views: dict[str, RunView] = {}
    for record in found:
        run_id = str(record.get("run_id"))
        if run_id in (base.run_id, new.run_id):
            continue
        view = views.setdefault(run_id, RunView(run_id, {"run_id": run_id, "started_at":
                                                         record.get("started_at")}, []))
        view.records.append(record)
    return list(views.values())
