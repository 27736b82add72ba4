"""Records and run infos -> rows of the store's tables, and filters -> SQL conditions.
Pure apart from building SQLAlchemy expressions."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

from npubench.errors import ConfigError
from npubench.reports.cell_key import cell_key, environment
from npubench.reports.store.schema import records, runs

RECORD_FILTERS = ("device_model", "soc", "workload", "backend", "run_id", "since", "until",
                  "simulated", "status")
"""What ``runs``, ``run_views`` and ``records_frame`` filter by (``since <= started_at <
until``; ``backend`` with ``?options`` matches the whole spec, without them any options)."""


def to_json(value: Any) -> str:
    from npubench.results import _json_default

    return json.dumps(value, sort_keys=True, allow_nan=False, default=_json_default)


def run_row(info: dict[str, Any]) -> dict[str, Any]:
    simulated = info.get("simulated")  # the run's own flag; else set from its records
    return {
        "run_id": str(info["run_id"]),
        "started_at": _moment(info.get("started_at")),
        "finished_at": _moment(info.get("finished_at")),
        "suite": _text(info.get("suite")),
        "simulated": bool(simulated) if simulated is not None else None,
        "info": to_json(info),
    }


def record_row(run_id: str, record: dict[str, Any], samples: dict[str, list[float]] | None,
               run_info: dict[str, Any] | None = None) -> dict[str, Any]:
    device = record.get("device") if isinstance(record.get("device"), dict) else {}
    backend = record.get("backend") if isinstance(record.get("backend"), dict) else {}
    cell = cell_key(record)
    spec = _text(backend.get("spec")) or cell.backend
    return {
        "run_id": run_id,
        "job_id": str(record.get("job_id") or f"job-{record.get('index')}"),
        "job_index": record.get("index") if isinstance(record.get("index"), int) else None,
        "started_at": _moment(record.get("started_at")),
        "status": _text(record.get("status")),
        "cell_id": cell.as_id(),
        "device_model": cell.device_model,
        "soc": cell.soc,
        "device_id": _text(device.get("id")),
        "workload": cell.workload,
        "workload_sha256": cell.workload_sha256[:64],
        "backend": spec,
        "backend_base": spec.partition("?")[0],
        "simulated": bool(device.get("simulated")),
        "record": to_json(record),
        "samples": to_json(samples or {}),
        "environment": to_json(environment(record, run_info)),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _moment(value: Any) -> str | None:
    """A stored time column: UTC ISO 8601 with milliseconds when it parses (so that text
    order is time order), else the text as given."""
    if value in (None, ""):
        return None
    try:
        return timestamp(value, "time")
    except ConfigError:
        return str(value)


def timestamp(value: Any, name: str) -> str:
    """A ``since``/``until`` value (ISO text, a date or a datetime) as the stored form: ISO
    8601 in UTC with milliseconds, which sorts as text."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a date or time",
                              hint="give ISO 8601, e.g. 2026-12-01 or "
                              "2026-12-01T08:00:00+00:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def record_conditions(filters: dict[str, Any]) -> list:
    """SQL conditions on ``records`` for the filters given (None means no filter)."""
    unknown = sorted(set(filters) - set(RECORD_FILTERS))
    if unknown:
        raise ConfigError(f"unknown results filter(s): {', '.join(unknown)}",
                          hint=f"filters are: {', '.join(RECORD_FILTERS)}")
    c = records.c
    out = []
    for name in ("device_model", "soc", "workload", "run_id", "status"):
        value = filters.get(name)
        if value is not None:
            column = getattr(c, name)
            out.append(column.in_([str(v) for v in value]) if isinstance(
                value, (list, tuple, set)) else column == str(value))
    backend = filters.get("backend")
    if backend is not None:
        values = [str(v) for v in backend] if isinstance(backend, (list, tuple, set)) else [
            str(backend)]
        from sqlalchemy import or_

        out.append(or_(*[(c.backend == v) if "?" in v else (c.backend_base == v)
                         for v in values]))
    if filters.get("since") is not None:
        out.append(c.started_at >= timestamp(filters["since"], "since"))
    if filters.get("until") is not None:
        out.append(c.started_at < timestamp(filters["until"], "until"))
    if filters.get("simulated") is not None:
        out.append(c.simulated == bool(filters["simulated"]))
    return out


def run_conditions(filters: dict[str, Any]) -> list:
    """Conditions on ``runs``: a run matches when one of its records matches the record
    filters; ``since``/``until`` are on the run's start."""
    from sqlalchemy import exists, select

    record_filters = {k: v for k, v in filters.items() if k not in ("since", "until")}
    out = []
    if filters.get("since") is not None:
        out.append(runs.c.started_at >= timestamp(filters["since"], "since"))
    if filters.get("until") is not None:
        out.append(runs.c.started_at < timestamp(filters["until"], "until"))
    conditions = record_conditions(record_filters)
    if conditions:
        out.append(exists(select(records.c.id).where(records.c.run_id == runs.c.run_id,
                                                     *conditions)))
    return out
