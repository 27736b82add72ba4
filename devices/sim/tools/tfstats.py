"""TensorFlow's ``Stat`` line and op-profiling tables, in benchmark_model's exact text.

Pure. ``stat_line`` is ``tsl::Stat<int64_t>::OutputToStream``; ``profile_report`` is what
``ProfileSummaryDefaultFormatter`` prints from a ``tsl::StatsCalculator`` (node-type column 40
wide, every field ``"\\t" + setw(width)``, fixed 3 decimals; Run Order, Top by Computation Time
(10 rows), Summary by node type, and the short summary).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NODE_TYPE_WIDTH = 40
TOP_BY_TIME = 10


def stat_line(samples: Sequence[int]) -> str:
    """``count=0`` | ``count=1 curr=X`` | ``count=N curr=X(all same)`` | the full line."""
    if not samples:
        return "count=0"
    count, newest = len(samples), samples[-1]
    if min(samples) == max(samples):
        return f"count={count} curr={newest}" + ("(all same)" if count > 1 else "")
    avg = sum(samples) / count
    std = int(math.sqrt(max(sum(s * s for s in samples) / count - avg * avg, 0.0)))
    return (f"count={count} first={samples[0]} curr={newest} min={min(samples)} "
            f"max={max(samples)} avg={avg:g} std={std}")


@dataclass(frozen=True)
class Row:
    """One profiled node (a builtin op or a delegate kernel) with its time in each run."""

    type: str
    name: str
    times_us: tuple[int, ...]  # one per run
    mem_kb: float = 0.0


def _field(value: object, width: int) -> str:
    return "\t" + (f"{value:>{width}.3f}" if isinstance(value, float) else f"{value:>{width}}")


def _header(title: str) -> str:
    return (f"============================== {title} ==============================\n"
            + _field("[node type]", NODE_TYPE_WIDTH) + _field("[first]", 9)
            + _field("[avg ms]", 9) + _field("[%]", 8) + _field("[cdf%]", 8)
            + _field("[mem KB]", 10) + _field("[times called]", 9) + "\t[Name]\n")


def _by_metric(title: str, rows: Sequence[Row], total_us: int) -> str:
    out, cumulative = [_header(title)], 0
    for row in rows:
        cumulative += sum(row.times_us)
        runs = len(row.times_us)
        out.append(_field(row.type, NODE_TYPE_WIDTH) + _field(row.times_us[0] / 1000.0, 9)
                   + _field(sum(row.times_us) / runs / 1000.0, 9)
                   + _field(sum(row.times_us) * 100.0 / total_us, 7) + "%"
                   + _field(cumulative * 100.0 / total_us, 7) + "%"
                   + _field(row.mem_kb, 10) + _field(1, 9) + "\t" + row.name + "\n")
    return "".join(out) + "\n"


def _by_type(rows: Sequence[Row]) -> str:
    runs = len(rows[0].times_us)
    per_type: dict[str, list[float]] = {}
    accumulated = 0
    for row in rows:
        per_run = sum(row.times_us) // runs
        accumulated += per_run
        count_time_mem = per_type.setdefault(row.type, [0, 0, 0.0])
        count_time_mem[0] += 1
        count_time_mem[1] += per_run
        count_time_mem[2] += row.mem_kb
    out = [f"Number of nodes executed: {len(rows)}\n"
           "============================== Summary by node type "
           "==============================\n",
           _field("[Node type]", NODE_TYPE_WIDTH) + _field("[count]", 9) + _field("[avg ms]", 10)
           + _field("[avg %]", 11) + _field("[cdf %]", 11) + _field("[mem KB]", 10)
           + _field("[times called]", 10) + "\n"]
    cdf = 0.0
    for node_type, (count, time_us, mem) in sorted(per_type.items(),
                                                   key=lambda kv: (-kv[1][1], kv[0])):
        share = time_us / accumulated * 100.0 if accumulated else 0.0
        cdf += share
        out.append(_field(node_type, NODE_TYPE_WIDTH) + _field(count, 9)
                   + _field(time_us / 1000.0, 10) + _field(share, 10) + "%"
                   + _field(cdf, 10) + "%" + _field(float(mem), 10) + _field(count, 9) + "\n")
    return "".join(out) + "\n"


def profile_report(rows: Sequence[Row]) -> str:
    """The text a ``ProfilingListener`` logs after its header line (rows in run order)."""
    runs = len(rows[0].times_us)
    run_totals = [sum(row.times_us[r] for row in rows) for r in range(runs)]
    total = sum(run_totals) or 1
    top = sorted(rows, key=lambda r: -sum(r.times_us))[:TOP_BY_TIME]
    return (_by_metric("Run Order", rows, total)
            + _by_metric("Top by Computation Time", top, total)
            + _by_type(rows)
            + f"Timings (microseconds): {stat_line(run_totals)}\n"
            + "Memory (bytes): count=0\n"
            + f"{len(rows)} nodes observed\n\n")
