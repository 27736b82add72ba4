"""From runs (``RunView``s, oldest first) to one history per cell: per run, the median and its
95% interval of each followed figure, the run's time and environment, and the change points
found in it. Pure: no files are read or written here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from npubench.reports.cell_key import CellKey, cell_key, environment, environment_changes
from npubench.reports.history.steps import detect_steps, segment_medians
from npubench.reports.run_view import RunView


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    higher_is_better: bool


LATENCY = Metric("latency_ms", "latency median (ms)", higher_is_better=False)
DECODE = Metric("decode_tokens_per_s", "decode tokens/s (median)", higher_is_better=True)
METRICS = (LATENCY, DECODE)


@dataclass
class Point:
    """One run of one cell, for one figure."""

    run_id: str
    started_at: str
    simulated: bool
    median: float | None = None
    low: float | None = None
    high: float | None = None
    missing: str = ""
    """Why there is no median (a failed or skipped job, no such figure), else empty."""
    interval_missing: str = ""
    """Why there is a median but no 95% interval, else empty."""
    env_changes: list[tuple[str, str, str]] = field(default_factory=list)
    """Environment changes since the cell's previous run."""


@dataclass
class StepAt:
    """A change point placed in a cell's history."""

    metric: Metric
    index: int
    """Position in ``MetricHistory.points`` of the first run after the step."""
    run_id: str
    started_at: str
    before: float
    after: float
    env_changes: list[tuple[str, str, str]]
    """What changed in the environment between the runs either side: a possible cause."""

    @property
    def relative(self) -> float:
        return self.after / self.before - 1.0 if self.before else math.inf

    @property
    def worse(self) -> bool:
        return (self.relative < 0) if self.metric.higher_is_better else (self.relative > 0)


@dataclass
class MetricHistory:
    metric: Metric
    points: list[Point]
    steps: list[StepAt] = field(default_factory=list)
    fit: list[float | None] = field(default_factory=list)
    """The fitted level (segment median) at each point; None where a point has no median."""

    @property
    def measured(self) -> list[Point]:
        return [p for p in self.points if p.median is not None]

    @property
    def latest(self) -> Point | None:
        measured = self.measured
        return measured[-1] if measured else None


@dataclass
class CellHistory:
    key: CellKey
    metrics: list[MetricHistory]

    @property
    def page(self) -> str:
        """A safe file name for the cell's page (a hash of its id: no name reaches a path)."""
        return "cell-" + hashlib.sha1(self.key.as_id().encode()).hexdigest()[:16] + ".html"

    @property
    def simulated(self) -> bool:
        return any(p.simulated for m in self.metrics for p in m.points)

    @property
    def steps(self) -> list[StepAt]:
        return [s for m in self.metrics for s in m.steps]


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time (a run's ``started_at``) as an aware datetime; None when unreadable."""
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def select_runs(views: Sequence[RunView], *, since: datetime | None = None,
                limit_runs: int | None = None) -> list[RunView]:
    """The runs started at or after ``since`` (runs with no readable time are kept only when no
    ``since`` is given), at most the last ``limit_runs`` of them, oldest first."""
    keyed = sorted(views, key=lambda v: (parse_time(v.started_at) or datetime.min.replace(
        tzinfo=timezone.utc), v.run_id))
    if since is not None:
        keyed = [v for v in keyed if (t := parse_time(v.started_at)) is not None and t >= since]
    if limit_runs is not None and limit_runs >= 0:
        keyed = keyed[-limit_runs:] if limit_runs else []
    return keyed


def _block(record: dict[str, Any], metric: Metric) -> Any:
    if metric is LATENCY:
        return record.get("latency_ms")
    llm = record.get("llm") if isinstance(record.get("llm"), dict) else {}
    block = llm.get(metric.name)
    return block if isinstance(block, dict) else record.get(metric.name)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def make_point(record: dict[str, Any], info: dict[str, Any], metric: Metric) -> Point:
    """One record's value of ``metric`` with its interval, or the reason it has none."""
    device = record.get("device") if isinstance(record.get("device"), dict) else {}
    point = Point(run_id=str(record.get("run_id") or info.get("run_id") or ""),
                  started_at=str(info.get("started_at") or record.get("started_at") or ""),
                  simulated=bool(device.get("simulated")))
    status = record.get("status")
    if status != "ok":
        error = record.get("error") if isinstance(record.get("error"), dict) else {}
        point.missing = f"{status or 'no status'}: {error.get('message') or 'no message'}"
        return point
    block = _block(record, metric)
    median = _number(block.get("median")) if isinstance(block, dict) else _number(block)
    if median is None:
        point.missing = f"no {metric.name} in the record"
        return point
    point.median = median
    if isinstance(block, dict):
        point.low, point.high = _number(block.get("ci95_low")), _number(block.get("ci95_high"))
    if point.low is None or point.high is None:
        point.low = point.high = None
        n = block.get("n") if isinstance(block, dict) else None
        point.interval_missing = (f"no 95% interval in the record (n={n}: too few iterations)"
                                  if n is not None else "no 95% interval in the record")
    return point


def _is_llm(record: dict[str, Any]) -> bool:
    return isinstance(record.get("llm"), dict) or record.get("decode_tokens_per_s") is not None


def cell_histories(views: Iterable[RunView], *, device_model: str | None = None,
                   same_phone: bool = False) -> list[CellHistory]:
    """One history per cell over ``views`` (oldest first), sorted by device model then cell;
    ``device_model`` keeps only that model's cells (as the device reports it)."""
    by_cell: dict[CellKey, dict[str, tuple[dict, dict, dict]]] = {}
    llm_cells: set[CellKey] = set()
    order: list[str] = []
    for view in views:
        order.append(view.run_id)
        for record in view.records:
            key = cell_key(record, same_phone=same_phone)
            if device_model and key.device_model != device_model:
                continue
            runs = by_cell.setdefault(key, {})
            # Two records of one cell in one run: the last measured one stands for the run.
            if view.run_id not in runs or record.get("status") == "ok":
                runs[view.run_id] = (record, view.info, environment(record, view.info))
            if _is_llm(record):
                llm_cells.add(key)
    histories = []
    for key in sorted(by_cell):
        runs = by_cell[key]
        rows = [runs[run_id] for run_id in order if run_id in runs]
        metrics = [LATENCY, DECODE] if key in llm_cells else [LATENCY]
        histories.append(CellHistory(key, [_metric_history(rows, m) for m in metrics]))
    return histories


def _metric_history(rows: list[tuple[dict, dict, dict]], metric: Metric) -> MetricHistory:
    points: list[Point] = []
    previous_env: dict[str, str] | None = None
    for record, info, env in rows:
        point = make_point(record, info, metric)
        if previous_env is not None:
            point.env_changes = environment_changes(previous_env, env)
        previous_env = env
        points.append(point)
    history = MetricHistory(metric, points)
    measured = [i for i, p in enumerate(points) if p.median is not None]
    values = [points[i].median for i in measured]
    steps = detect_steps(values)
    fitted = segment_medians(values, steps) if values else []
    history.fit = [None] * len(points)
    for i, level in zip(measured, fitted, strict=True):
        history.fit[i] = level
    for step in steps:
        at, before_at = measured[step.index], measured[step.index - 1]
        changes = _changes_between(points, before_at, at)
        history.steps.append(StepAt(metric, at, points[at].run_id, points[at].started_at,
                                    step.before, step.after, changes))
    return history


def _changes_between(points: list[Point], before: int, after: int) -> list[tuple[str, str, str]]:
    """Environment changes from run ``before`` to run ``after`` (runs between included)."""
    seen: dict[str, tuple[str, str, str]] = {}
    for point in points[before + 1:after + 1]:
        for name, old, new in point.env_changes:
            first = seen.get(name)
            seen[name] = (name, first[1] if first else old, new)
    return [c for c in seen.values() if c[1] != c[2]]
