"""Which record of BASE meets which record of NEW: cells matched by their ``cell_key``, and
the reason a cell cannot be compared (only in one run, failed or skipped, model changed).
Pure: two ``RunView`` in, a list of ``CellPair`` out."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from npubench.reports.cell_key import CellKey, cell_key, environment, environment_changes
from npubench.reports.run_view import RunView


@dataclass
class CellPair:
    key: CellKey
    base: dict[str, Any] | None
    new: dict[str, Any] | None
    base_samples: dict[str, list[float]] = field(default_factory=dict)
    new_samples: dict[str, list[float]] = field(default_factory=dict)
    reason: str | None = None
    """Why the cell cannot be compared; None when both sides ran fine."""
    environment_changes: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _short(sha: str) -> str:
    return (sha[:12] + "…") if sha else "(none)"


def _problem(record: dict[str, Any], side: str) -> str | None:
    status = record.get("status")
    if status == "ok":
        return None
    error = record.get("error") if isinstance(record.get("error"), dict) else {}
    message = str(error.get("message") or "no message recorded")
    return f"{status or 'no status'} in {side}: {message}"


def _by_cell(run: RunView, same_phone: bool, side: str) -> tuple[dict[CellKey, dict], dict]:
    cells: dict[CellKey, dict[str, Any]] = {}
    counts: dict[CellKey, int] = {}
    for record in run.records:
        key = cell_key(record, same_phone=same_phone)
        counts[key] = counts.get(key, 0) + 1
        cells[key] = record  # the last record of a cell wins
    notes = {key: f"{n} records of this cell in {side}; the last one is compared"
             for key, n in counts.items() if n > 1}
    return cells, notes


def is_simulated(record: dict[str, Any] | None) -> bool:
    device = (record or {}).get("device")
    return bool(isinstance(device, dict) and device.get("simulated"))


def match_cells(base: RunView, new: RunView, *, same_phone: bool = False) -> list[CellPair]:
    """Every cell of either run, once: matched pairs, a changed model (same workload name,
    other sha256) as one pair, and the cells found in one run only."""
    base_cells, base_notes = _by_cell(base, same_phone, "BASE")
    new_cells, new_notes = _by_cell(new, same_phone, "NEW")
    pairs: list[CellPair] = []
    for key in sorted(set(base_cells) & set(new_cells)):
        b, n = base_cells[key], new_cells[key]
        pair = CellPair(key, b, n, base.samples_of(b), new.samples_of(n))
        problems = [p for p in (_problem(b, "BASE"), _problem(n, "NEW")) if p]
        pair.reason = "; ".join(problems) or None
        pairs.append(pair)
    only_base = sorted(set(base_cells) - set(new_cells))
    only_new = sorted(set(new_cells) - set(base_cells))
    unsha = lambda k: replace(k, workload_sha256="")  # noqa: E731
    new_by_name: dict[CellKey, list[CellKey]] = {}
    for key in only_new:
        new_by_name.setdefault(unsha(key), []).append(key)
    for key in only_base:
        candidates = new_by_name.get(unsha(key)) or []
        if len(candidates) == 1:
            other = candidates.pop()
            only_new.remove(other)
            b, n = base_cells[key], new_cells[other]
            pairs.append(CellPair(other, b, n, base.samples_of(b), new.samples_of(n), reason=(
                f"model changed: sha256 {_short(key.workload_sha256)} -> "
                f"{_short(other.workload_sha256)}")))
        else:
            pairs.append(CellPair(key, base_cells[key], None, reason="only in BASE"))
    pairs.extend(CellPair(key, None, new_cells[key], reason="only in NEW") for key in only_new)
    for pair in pairs:
        if pair.base is not None and pair.new is not None:
            pair.environment_changes = environment_changes(
                environment(pair.base, base.info), environment(pair.new, new.info))
        for notes in (base_notes, new_notes):
            if pair.key in notes:
                pair.notes.append(notes[pair.key])
    return pairs


def is_modeled(record: dict[str, Any] | None) -> bool:
    """A record from a simulated phone whose tools waited modeled times (``--timing modeled``)."""
    device = (record or {}).get("device")
    return bool(is_simulated(record) and device.get("simulated_timing") == "modeled")


def run_notes(base: RunView, new: RunView) -> list[str]:
    """Run-level warnings shown above every output: a simulated run against a real one."""
    sim_base = any(is_simulated(r) for r in base.records)
    sim_new = any(is_simulated(r) for r in new.records)
    notes = []
    if sim_base != sim_new:
        which, other = ("BASE", "NEW") if sim_base else ("NEW", "BASE")
        notes.append(f"{which} ran on a simulated phone and {other} did not: a simulated "
                     "phone's numbers come from the host's CPU, so the ratios say nothing "
                     "about a phone")
    elif sim_base:
        notes.append("both runs are from a simulated phone: the ratios test the harness, "
                     "not a phone")
    modeled = [name for name, run in (("BASE", base), ("NEW", new))
               if any(is_modeled(r) for r in run.records)]
    if modeled:
        notes.append(f"{' and '.join(modeled)} ran on a simulated phone, modeled timing: its "
                     "tools waited times modeled from the phone's profile, computing nothing")
    return notes
