"""Table cells for the HTML report: numbers formatted for reading, with a sort key and a tooltip.

Pure: plain values in, ``Cell`` out. Missing numbers print as an em dash, never as zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

DASH = "—"


@dataclass
class Cell:
    """One ``<td>``: ``text`` shown, ``sort`` (number or string) used by the sortable table,
    ``title`` as a tooltip, ``note`` a footnote number, ``lines`` small text under the value."""

    text: str
    sort: float | str | None = None
    title: str | None = None
    cls: str | None = None
    note: int | None = None
    lines: list[str] = field(default_factory=list)
    badge: str | None = None


def is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def fmt_num(value: Any) -> str:
    """About three significant digits, without exponents for the usual ranges."""
    if not is_number(value):
        return DASH
    a = abs(value)
    if a >= 100:
        return f"{value:,.0f}"
    if a >= 10:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    if a >= 0.01 or a == 0:
        return f"{value:.3f}"
    return f"{value:.2g}"


def num_cell(value: Any, *, title: str | None = None) -> Cell:
    if not is_number(value):
        return Cell(DASH, sort=None, title=title or "not recorded")
    return Cell(fmt_num(value), sort=float(value), title=title)


def int_cell(value: Any) -> Cell:
    if not is_number(value):
        return Cell(DASH, title="not recorded")
    return Cell(f"{int(value):,}", sort=float(value))


def range_cell(low: Any, high: Any, *, title: str | None = None) -> Cell:
    if not (is_number(low) and is_number(high)):
        return Cell(DASH, title="not recorded")
    return Cell(f"{fmt_num(low)}–{fmt_num(high)}", sort=float(low), title=title)


def speedup_cell(value: Any, baseline: str | None, is_self: bool) -> Cell:
    if not is_number(value) or not baseline:
        return Cell(DASH, title="no CPU job of this runtime for this workload and device")
    if is_self:
        return Cell("1.00× (CPU)", sort=1.0, title="the CPU baseline of this runtime")
    return Cell(
        f"{value:.2f}×",
        sort=float(value),
        title=f"median of {baseline} / median of this job",
        cls="fast" if value > 1 else ("slow" if value < 1 else None),
    )


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def fmt_time(text: Any) -> str:
    """``2026-11-24 13:20:01 UTC`` from an ISO time stamp; the raw text when it does not parse."""
    when = parse_time(text)
    if when is None:
        return str(text) if text else DASH
    out = when.strftime("%Y-%m-%d %H:%M:%S")
    offset = when.utcoffset()
    if offset is None:
        return out
    if offset == timedelta(0):
        return out + " UTC"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{out} UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def fmt_duration(seconds: Any) -> str:
    if not is_number(seconds):
        return DASH
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def fmt_bytes(value: Any) -> str:
    if not is_number(value):
        return DASH
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return DASH  # unreachable


def fmt_value(value: Any) -> str:
    """Any JSON value as short text for key/value tables."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(v) for v in value) if value else DASH
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt_value(v)}" for k, v in value.items()) if value else DASH
    return str(value)


def flatten_dict(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted.key, text)`` pairs of a nested dict, for key/value tables."""
    if not isinstance(data, dict):
        return [(prefix or "value", fmt_value(data))]
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            pairs.extend(flatten_dict(value, name))
        elif str(key).endswith("_bytes") and is_number(value):
            pairs.append((name, fmt_bytes(value)))
        else:
            pairs.append((name, fmt_value(value)))
    return pairs
