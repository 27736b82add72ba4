"""Which CPU cores a benchmark tool runs on, from the phone's cpufreq topology. Pure: the
policies' cores and top frequencies in, a thread count and a ``taskset`` mask out.

Phones mix core types (big.LITTLE, DynamIQ): a little cluster runs at a lower top frequency.
TFLite's own advice is to pin the benchmark to the big cores with ``taskset MASK`` ("the mask
varies with the device", DEVICE_TOOLS.md 1.2); the mask is read here from cpufreq: every
policy (a cluster of cores sharing a clock, its ``related_cpus``) has a ``cpuinfo_max_freq``.

Rule: the **big cores** are the cores of every policy except the one(s) with the lowest
``cpuinfo_max_freq``; a phone whose policies all top out at the same frequency has no little
cores, and then all of them count. Threads = one per big core. Examples: Pixel 2 (4x 1.9 GHz +
4x 2.46 GHz) -> cores 4-7, mask f0 (TFLite's own example); Snapdragon 8 Gen 3 (2x A520 2.27,
5x A720 2.96-3.15, X4 3.30) -> cores 2-7; Dimensity 9300 (4x A720 2.0, 4x X4 2.85-3.25) ->
cores 4-7.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_THREADS = 4
"""Threads when the phone's topology cannot be read (benchmark_model's README uses 4)."""


@dataclass(frozen=True)
class CpuPlan:
    threads: int
    cpus: tuple[int, ...] | None  # the cores the tool is pinned to (None: not pinned)
    source: str  # where the numbers come from, for the record

    @property
    def mask(self) -> str | None:
        return cpu_mask(self.cpus) if self.cpus else None

    def as_dict(self) -> dict:
        return {"threads": self.threads, "cpus": list(self.cpus) if self.cpus else None,
                "taskset_mask": self.mask, "source": self.source}


def parse_cpu_list(text: str | None) -> tuple[int, ...]:
    """Cores named by ``related_cpus`` ("4 5 6 7") or a kernel cpu list ("0-3,6")."""
    cpus: list[int] = []
    for part in (text or "").replace(",", " ").split():
        low, _, high = part.partition("-")
        try:
            cpus.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            return ()
    return tuple(sorted(set(cpus)))


def cpu_mask(cpus: Iterable[int]) -> str:
    """The hex affinity mask ``taskset`` takes: cores 4-7 -> "f0"."""
    return format(sum(1 << c for c in set(cpus)), "x")


def big_cores(policies: Mapping[str, tuple[tuple[int, ...], float | None]]) -> tuple[int, ...]:
    """The big cores (see the module's rule) from {policy: (its cores, cpuinfo_max_freq)};
    () when no policy has both."""
    known = {name: (cpus, top) for name, (cpus, top) in policies.items() if cpus and top}
    if not known:
        return ()
    lowest = min(top for _, top in known.values())
    big = [c for cpus, top in known.values() if top > lowest for c in cpus]
    if not big:  # every cluster tops out alike: no little cores
        big = [c for cpus, _ in known.values() for c in cpus]
    return tuple(sorted(set(big)))


def plan(policies: Mapping[str, tuple[tuple[int, ...], float | None]],
         explicit_threads: int | None = None, can_pin: bool = True,
         pin_reason: str | None = None) -> CpuPlan:
    """Threads and cores for a tool: one thread per big core, pinned to them; an explicit
    thread count (``?threads=N``) wins, pinned to the big cores when it fits on them."""
    big = big_cores(policies)
    names = ", ".join(f"{n} {int(top) // 1000} MHz" for n, (_, top) in sorted(policies.items())
                      if top)
    if not big:
        threads = explicit_threads or DEFAULT_THREADS
        why = ("?threads" if explicit_threads else
               f"no cpufreq topology readable: {DEFAULT_THREADS} threads")
        return CpuPlan(threads, None, f"{why}; not pinned")
    pinned = tuple(big) if can_pin else None
    where = (f"big cores {_ranges(big)} (cpuinfo_max_freq per policy: {names})")
    if explicit_threads:
        if explicit_threads > len(big):
            return CpuPlan(explicit_threads, None, f"?threads={explicit_threads}, more than the "
                           f"{len(big)} {where}: not pinned")
        return CpuPlan(explicit_threads, pinned, f"?threads={explicit_threads} on the {where}"
                       + ("" if can_pin else f"; not pinned: {pin_reason}"))
    return CpuPlan(len(big), pinned, f"one thread per {where}"
                   + ("" if can_pin else f"; not pinned: {pin_reason}"))


def _ranges(cpus: tuple[int, ...]) -> str:
    out, start = [], None
    for i, c in enumerate(cpus):
        if start is None:
            start = c
        if i + 1 == len(cpus) or cpus[i + 1] != c + 1:
            out.append(str(start) if start == c else f"{start}-{c}")
            start = None
    return ",".join(out)
