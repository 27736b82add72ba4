"""Table cells for the HTML report: numbers formatted for reading, with a sort key and a tooltip.

Pure: plain values in, ``Cell`` out. Missing numbers print as an em dash, never as zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

DASH = "—"
SIMULATED_NOTE = "simulated phone — not a phone measurement"
MODELED_NOTE = ("simulated phone, modeled timing — its tools waited times modeled from the "
                "profile (devices/sim/timing.py); not a measurement of any device")


def simulated_label(simulated: Any, timing: Any = None) -> str:
    """How a report names a simulated device: ``simulated`` or ``simulated phone, modeled
    timing``; empty for a real one."""
    if not simulated:
        return ""
    return "simulated phone, modeled timing" if timing == "modeled" else "simulated"


@dataclass
class Cell:
    """One ``<td>``: ``text`` shown, ``sort`` (number or string) used by the sortable table,
    ``title`` as a tooltip, ``note`` a footnote number (its anchor ``#<note_prefix>-<note>``),
    ``lines`` small text under the value,
    ``badge`` a label beside it (``badge_cls`` ``sim`` or ``warn``); ``wrap`` lets the badge go
    under the value and aligns the cell left."""

    text: str
    sort: float | str | None = None
    title: str | None = None
    cls: str | None = None
    note: int | None = None
    note_prefix: str = "note"
    lines: list[str] = field(default_factory=list)
    badge: str | None = None
    badge_cls: str = "sim"
    wrap: bool = False


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


def median_cell(median: Any, low: Any = None, high: Any = None, n: Any = None, *,
                what: str = "repetitions") -> Cell:
    """A median with its 95% confidence interval under it (when known) and ``n`` in the title."""
    if not is_number(median):
        return Cell(DASH, title="not recorded")
    title = f"median of {int(n)} {what}" if is_number(n) else "median"
    lines = []
    if is_number(low) and is_number(high):
        lines.append(f"CI95 {fmt_num(low)}–{fmt_num(high)}")
        title += "; 95% confidence interval of the median under it"
    return Cell(fmt_num(median), sort=float(median), title=title, lines=lines)


def fmt_count(value: Any) -> str:
    """A large count in short form: ``1.10 B``, ``124 M``, ``15.2 M``, ``850 K``."""
    if not is_number(value):
        return DASH
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{fmt_num(value / scale)} {unit}"
    return f"{int(value):,}"


def device_cell(label: Any, device_id: Any, simulated: bool, timing: Any = None) -> Cell:
    """A device's name, with a ``simulated`` badge for the simulated phone (``simulated phone,
    modeled timing`` when its tools waited modeled times)."""
    label = str(label or device_id or DASH)
    if simulated:
        return Cell(label, sort=label, title=MODELED_NOTE if timing == "modeled"
                    else SIMULATED_NOTE, badge=simulated_label(simulated, timing))
    return Cell(label, sort=label, title=str(device_id) if device_id else None)


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


def fmt_sci(value: Any) -> str:
    """Short scientific form: ``6.3e-5``, ``1.2e+3``; ``0`` for zero."""
    if not is_number(value):
        return DASH
    if value == 0:
        return "0"
    mantissa, _, exponent = f"{value:.1e}".partition("e")
    sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
    return f"{mantissa}e{sign}{digits}"


def is_true(value: Any) -> bool:
    """A flag from a record: True, a non-zero number or a word other than false/no/none."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "none", "0")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    try:
        return bool(value)
    except (TypeError, ValueError):
        return False


def delegation_text(status: Any, delegated: Any, total: Any) -> str:
    """``full 164/164``, ``partial 42/61``, ``not reported``."""
    counts = f"{int(delegated)}/{int(total)}" if is_number(delegated) and is_number(total) else ""
    return " ".join(p for p in (str(status) if status else "", counts) if p) or DASH


def delegate_lines(delegates: Any) -> list[str]:
    """One line per delegate applied (a record's ``delegation.delegates``): ``GPU full 31/31``,
    ``NNAPI none`` (it found nothing left), ``XNNPACK 6/21 (runtime default)``; [] for fewer
    than two, since the headline then says it all."""
    if not isinstance(delegates, list) or len(delegates) < 2:
        return []
    out = []
    for d in delegates:
        if not isinstance(d, dict):
            continue
        text = f"{d.get('delegate') or 'delegate'} " + delegation_text(
            d.get("status") or "not said", d.get("nodes_delegated"), d.get("nodes_total"))
        if d.get("applied_by") == "runtime default":
            text += " (runtime default)"
        out.append(text)
    return out


def precision_line(model: Any, executed: Any, at_fp32: Any, total: Any) -> str | None:
    """A few words under the backend of an fp16 model: ``fp16 model: fp32 on CPU``,
    ``fp16 model: fp32 for 3/5 nodes``, ``fp16 model: ran as stored``; None without a model
    precision."""
    if not model:
        return None
    if not executed:
        return f"{model} model: executed precision not inspected"
    if is_number(at_fp32) and is_number(total) and at_fp32 > 0:
        if at_fp32 >= total:
            return f"{model} model: fp32 on CPU"
        return f"{model} model: fp32 for {int(at_fp32)}/{int(total)} nodes"
    return f"{model} model: ran as stored"


def delegation_cell(present: bool, *, delegate: Any, status: Any, delegated: Any, total: Any,
                    kernels: Any, expected: Any, fallback: Any, delegates: Any = None) -> Cell:
    """How much of the graph the delegate took, with a ``CPU fallback`` badge; where several
    delegates were applied, one small line for each (``delegate_lines``)."""
    if not present:
        return Cell(DASH, title="no delegate report (host job or not recorded)", wrap=True)
    fell_back = is_true(fallback)
    if not delegate and not fell_back:
        text = "no delegate" if str(expected or "cpu") == "cpu" else delegation_text(
            status, delegated, total)
        return Cell(text, sort=text, title="the graph ran on the CPU, as the backend asks",
                    wrap=True)
    parts = [f"delegate {delegate}" if delegate else "delegate unknown"]
    if is_number(delegated) and is_number(total):
        parts.append(f"{int(delegated)} of {int(total)} nodes delegated")
    if is_number(kernels):
        parts.append(f"{int(kernels)} delegate kernel{'s' if kernels != 1 else ''}")
    if expected:
        parts.append(f"expected on the {expected}")
    if fell_back:
        parts.append("the rest ran on the CPU (fallback)")
    lines = delegate_lines(delegates)
    if lines:
        parts.append("delegates applied, in order: " + ", ".join(lines))
    share = float(delegated) / float(total) if (
        is_number(delegated) and is_number(total) and total > 0) else None
    return Cell(delegation_text(status, delegated, total), sort=share,
                title="; ".join(parts), cls="warn" if fell_back else None, lines=lines,
                badge="CPU fallback" if fell_back else None, badge_cls="warn", wrap=True)


def accuracy_cell(present: bool, *, cosine: Any, max_abs: Any, reference: Any, outputs: Any,
                  missing_reason: Any) -> Cell:
    """Cosine similarity to 6 decimals, max |Δ| under it; a dash with the reason when absent."""
    if not is_number(cosine) and not is_number(max_abs):
        reason = missing_reason or ("outputs were not compared" if present
                                    else "no accuracy check (host job or not recorded)")
        return Cell(DASH, title=str(reason))
    title = f"compared with {reference}" if reference else "compared with a CPU reference"
    if is_number(outputs):
        title += f"; {int(outputs)} output{'s' if outputs != 1 else ''}"
    return Cell(
        f"{cosine:.6f}" if is_number(cosine) else DASH,
        sort=float(cosine) if is_number(cosine) else None,
        title=title + "; cosine similarity and largest absolute difference",
        lines=[f"max |Δ| {fmt_sci(max_abs)}"] if is_number(max_abs) else [],
    )


def thermal_cell(*, max_c: Any, throttled: Any, start_c: Any, end_c: Any, zone: Any,
                 source: Any, missing_reason: Any) -> Cell:
    """The hottest temperature during the job, with a ``throttled`` badge."""
    if not is_number(max_c):
        return Cell(DASH, title=str(missing_reason or "temperature not measured"))
    parts = []
    if is_number(start_c) and is_number(end_c):
        parts.append(f"{fmt_num(start_c)} → {fmt_num(end_c)} °C")
    parts.extend(str(p) for p in (zone, source) if p)
    hot = is_true(throttled)
    if hot:
        parts.append("the phone throttled its clocks")
    return Cell(f"{max_c:.1f}", sort=float(max_c), title="; ".join(parts) or None,
                badge="throttled" if hot else None, badge_cls="warn",
                cls="stack" if hot else None)


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
