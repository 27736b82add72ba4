"""Compare two runs: each matched cell's figures as ratios NEW/BASE with their intervals,
a verdict per cell, and the whole as plain data (``Comparison.to_dict`` is the JSON output
and what every renderer reads)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from npubench.reports.cell_key import CellKey, cell_key
from npubench.reports.compare import noise, stats
from npubench.reports.compare.match import (
    CellPair,
    is_modeled,
    is_simulated,
    match_cells,
    run_notes,
)
from npubench.reports.compare.metrics import METRICS, Metric
from npubench.reports.run_view import RunView

JSON_FORMAT = "npubench-compare/1"
ORDER = {stats.SLOWER: 0, stats.FASTER: 1, stats.SAME: 2, stats.INCOMPARABLE: 3}
DEFAULT_THRESHOLD = 0.03
ONE_VALUE_NOTE = "one value per run, no interval"


@dataclass
class FigureResult:
    name: str
    label: str
    unit: str
    higher_is_better: bool
    base: float | None
    new: float | None
    ratio: float | None
    ci95_low: float | None = None
    ci95_high: float | None = None
    interval: bool = False
    """True when the ratio has a bootstrap interval."""
    decides: bool = False
    """True when this figure's verdict decides the cell's (an interval figure whose metric
    decides: the medians, not p90)."""
    verdict: str | None = None
    """``slower``/``faster``/``same``/``incomparable`` for interval figures; None for the
    one-value figures, which only inform."""
    n_base: int = 0
    n_new: int = 0
    note: str = ""
    within_low: float | None = None
    within_high: float | None = None
    """The bootstrap interval alone (the noise inside the two runs)."""
    run_spread: float | None = None
    """The run-to-run spread (sd of log medians) of this figure in the cell's earlier runs;
    None when fewer than ``noise.MIN_RUNS`` earlier runs were at hand."""
    history_runs: int = 0
    """How many earlier runs gave ``run_spread``."""


@dataclass
class CellResult:
    key: CellKey
    verdict: str
    reason: str = ""
    figures: list[FigureResult] = field(default_factory=list)
    environment_changes: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    base_job: str = ""
    new_job: str = ""
    simulated: bool = False

    @property
    def label(self) -> str:
        return self.key.as_text()

    def worst_ratio(self) -> float:
        """How far the deciding figures moved (for ordering regressions)."""
        moves = [max(f.ratio, 1 / f.ratio) for f in self.figures
                 if f.decides and f.ratio and f.verdict == self.verdict]
        return max(moves, default=1.0)


@dataclass
class Comparison:
    base: dict[str, Any]
    new: dict[str, Any]
    threshold: float
    same_phone: bool
    cells: list[CellResult]
    notes: list[str] = field(default_factory=list)
    common_environment_changes: list[tuple[str, str, str]] = field(default_factory=list)
    """Environment changes shared by every compared cell (shown once, above the cells)."""

    @property
    def regressions(self) -> list[CellResult]:
        return [c for c in self.cells if c.verdict == stats.SLOWER]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def counts(self) -> dict[str, int]:
        return {v: sum(1 for c in self.cells if c.verdict == v) for v in ORDER}

    def cell_changes(self, cell: CellResult) -> list[tuple[str, str, str]]:
        """The environment changes of a cell that are not already shown for all cells."""
        common = set(self.common_environment_changes)
        return [c for c in cell.environment_changes if c not in common]

    def to_dict(self) -> dict[str, Any]:
        cells = []
        for cell in self.cells:
            cells.append({
                "cell": asdict(cell.key), "id": cell.key.as_id(), "label": cell.label,
                "verdict": cell.verdict, "reason": cell.reason or None,
                "base_job": cell.base_job or None, "new_job": cell.new_job or None,
                "simulated": cell.simulated,
                "environment_changes": [{"name": n, "base": b, "new": v}
                                        for n, b, v in cell.environment_changes],
                "notes": cell.notes,
                "figures": [asdict(f) for f in cell.figures],
            })
        return {
            "format": JSON_FORMAT, "base": self.base, "new": self.new,
            "threshold": self.threshold, "same_phone": self.same_phone,
            "regressed": self.regressed, "counts": self.counts(), "notes": self.notes,
            "environment_changes": [{"name": n, "base": b, "new": v}
                                    for n, b, v in self.common_environment_changes],
            "cells": cells,
        }


def percent(fraction: float) -> str:
    """0.03 -> ``3%``, 0.025 -> ``2.5%``."""
    return f"{fraction * 100:g}%"


def _run_summary(run: RunView) -> dict[str, Any]:
    return {"run_id": run.run_id, "source": run.source, "started_at": run.started_at or None,
            "simulated": any(is_simulated(r) for r in run.records), "records": len(run.records),
            "simulated_timing": "modeled" if any(is_modeled(r) for r in run.records) else None}


def compare_runs(base: RunView, new: RunView, *, threshold: float = DEFAULT_THRESHOLD,
                 same_phone: bool = False, n_resamples: int = stats.N_RESAMPLES,
                 history: Sequence[RunView] = ()) -> Comparison:
    """Compare ``new`` against ``base`` cell by cell (see the module docstrings).

    ``history``: earlier runs (any order; BASE and NEW themselves are left out) whose medians
    give each cell's run-to-run spread (``noise``); an interval is then the wider of the
    within-run bootstrap and the run-to-run interval."""
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold {threshold!r} is not in [0, 1)")
    earlier = history_values(history, exclude={base.run_id, new.run_id},
                             same_phone=same_phone)
    cells = [compare_cell(pair, threshold, n_resamples, earlier.get(pair.key, {}))
             for pair in match_cells(base, new, same_phone=same_phone)]
    cells.sort(key=lambda c: (ORDER[c.verdict], -c.worst_ratio(), c.label))
    compared = [c for c in cells if c.base_job and c.new_job]
    common = (sorted(set.intersection(*(set(c.environment_changes) for c in compared)))
              if compared else [])
    notes = run_notes(base, new) + _noise_notes(cells)
    return Comparison(_run_summary(base), _run_summary(new), threshold, same_phone, cells,
                      notes=notes, common_environment_changes=common)


def history_values(history: Sequence[RunView], *, exclude: set[str] = frozenset(),
                   same_phone: bool = False) -> dict[CellKey, dict[str, list[float]]]:
    """cell -> metric name -> the figure's value in each earlier ok run (oldest first, the
    last ``noise.MAX_RUNS``)."""
    out: dict[CellKey, dict[str, list[float]]] = {}
    for view in sorted(history, key=lambda v: v.started_at):
        if view.run_id in exclude:
            continue
        for record in view.records:
            if record.get("status") != "ok":
                continue
            per_metric = out.setdefault(cell_key(record, same_phone=same_phone), {})
            for metric in METRICS:
                value = metric.value(record)
                if value is not None and value > 0:
                    per_metric.setdefault(metric.name, []).append(value)
    return {key: {name: values[-noise.MAX_RUNS:] for name, values in metrics.items()}
            for key, metrics in out.items()}


def _noise_notes(cells: list[CellResult]) -> list[str]:
    decided = [f for c in cells for f in c.figures if f.decides]
    if not decided:
        return []
    with_history = sum(1 for f in decided if f.run_spread is not None)
    if with_history == len(decided):
        return []
    what = ("no figure has" if with_history == 0
            else f"{len(decided) - with_history} of {len(decided)} figures have no")
    return [f"{what} {noise.MIN_RUNS} or more earlier runs of its cell to measure the "
            "run-to-run spread: those intervals cover only the noise inside each run, and a "
            "difference between whole runs (another load on the machine, a warmer phone) may "
            "be called a change; keep runs in a results store so that later comparisons "
            "know each cell's run-to-run spread"]


def compare_cell(pair: CellPair, threshold: float,
                 n_resamples: int = stats.N_RESAMPLES,
                 earlier: dict[str, list[float]] | None = None) -> CellResult:
    """One cell: its figures and its verdict (``incomparable`` with the reason when the
    records cannot be compared or no figure has an interval)."""
    cell = CellResult(pair.key, stats.INCOMPARABLE, environment_changes=pair.environment_changes,
                      notes=list(pair.notes),
                      base_job=str((pair.base or {}).get("job_id") or ""),
                      new_job=str((pair.new or {}).get("job_id") or ""),
                      simulated=is_simulated(pair.base) or is_simulated(pair.new))
    if pair.reason:
        cell.reason = pair.reason
        return cell
    assert pair.base is not None and pair.new is not None
    intervals: dict[str, dict[float, stats.Interval] | str] = {}
    for metric in METRICS:
        figure = _figure(metric, pair, threshold, intervals, n_resamples,
                         (earlier or {}).get(metric.name, []))
        if figure is not None:
            cell.figures.append(figure)
    decided = [f.verdict for f in cell.figures if f.decides]
    for verdict in (stats.SLOWER, stats.FASTER, stats.SAME):
        if verdict in decided:
            cell.verdict = verdict
            break
    else:
        reasons = [f"{f.label}: {f.note}" for f in cell.figures
                   if f.verdict == stats.INCOMPARABLE]
        cell.reason = "; ".join(reasons) or "no figure with per-iteration samples on both sides"
    return cell


def _figure(metric: Metric, pair: CellPair, threshold: float,
            cache: dict[str, dict[float, stats.Interval] | str],
            n_resamples: int, earlier: list[float]) -> FigureResult | None:
    base_value, new_value = metric.value(pair.base), metric.value(pair.new)
    base_series = pair.base_samples.get(metric.samples) if metric.samples else None
    new_series = pair.new_samples.get(metric.samples) if metric.samples else None
    if base_value is None and new_value is None and not base_series and not new_series:
        return None  # a figure neither record has (ttft of an image model)
    figure = FigureResult(metric.name, metric.label, metric.unit, metric.higher_is_better,
                          base_value, new_value, stats.single_ratio(base_value, new_value),
                          n_base=len(base_series or []), n_new=len(new_series or []))
    if metric.samples is None:
        return _one_value(figure, metric, pair, threshold)
    figure.verdict = stats.INCOMPARABLE
    if not base_series or not new_series:
        side = "BASE" if not base_series else "NEW"
        figure.note = f"no per-iteration {metric.samples} samples in {side}"
        return figure
    if metric.samples not in cache:
        try:
            cache[metric.samples] = stats.ratio_intervals(base_series, new_series,
                                                          n_resamples=n_resamples)
        except ValueError as exc:
            cache[metric.samples] = str(exc)
    result = cache[metric.samples]
    if isinstance(result, str):
        figure.note = result
        return figure
    interval = result[metric.quantile]
    figure.base, figure.new, figure.ratio = interval.base, interval.new, interval.ratio
    figure.within_low, figure.within_high = interval.low, interval.high
    figure.run_spread = noise.run_spread(earlier)
    figure.history_runs = len(earlier) if figure.run_spread is not None else 0
    figure.ci95_low, figure.ci95_high = noise.widen(interval.ratio, interval.low, interval.high,
                                                    figure.run_spread, figure.history_runs)
    if figure.run_spread is not None:
        figure.note = (f"interval includes the run-to-run spread of {figure.history_runs} "
                       f"earlier runs (±{figure.run_spread:.1%} per run)")
    figure.interval = True
    figure.decides = metric.decides
    figure.verdict = stats.verdict(figure.ci95_low, figure.ci95_high, threshold,
                                   higher_is_better=metric.higher_is_better)
    return figure


def _one_value(figure: FigureResult, metric: Metric, pair: CellPair,
               threshold: float) -> FigureResult:
    notes = [ONE_VALUE_NOTE]
    for value, record, side in ((figure.base, pair.base, "BASE"), (figure.new, pair.new, "NEW")):
        if value is None:
            why = metric.why_missing(record)
            notes.append(f"missing in {side}" + (f": {why}" if why else ""))
    if figure.ratio is not None and stats.changed_beyond(figure.ratio, threshold):
        notes.append(f"changed by more than {percent(threshold)} (information only)")
    figure.note = "; ".join(notes)
    return figure
