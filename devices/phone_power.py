"""Phone telemetry arithmetic, pure: the sampler's text in, numbers out (no I/O).

The sampler (``devices.phone_telemetry``) prints one line per sample::

    T <uptime_s> <idle_s> <epoch_s>                      once, at start (wall-clock mapping)
    S <uptime_s> <idle_s> <current> <voltage> <zone temps...> <cur/max kHz per policy...> M
      [VmHWM: <kB> kB VmRSS: <kB> kB]

Rules decided here, each documented where it is applied:

- **Time** is the phone's ``/proc/uptime`` (10 ms resolution): the same clock for every
  sample, no extra process per sample, and the clock device logs and the simulated phone's
  ground truth use. ``date +%s.%N`` is read once to map uptime to wall time.
- **Units and sign** of the fuel gauge are calibrated at idle (``calibrate``).
- **Mean power** is time-weighted (trapezoid over device timestamps). Repeated gauge values
  are not de-duplicated: the gauge holds each window's average until the next one, so the
  sample-and-hold series sampled faster than it updates has the right time-weighted mean;
  dropping repeats would weight windows by how often they changed instead.
- **Gauge lag**: a gauge reports the average of its last window, so its series trails the
  truth by about one update interval; ``gauge_lag_s`` estimates it from the samples and
  ``window_power_mw`` shifts the integration window by it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from npubench.energy import (
    energy_mj_per_inference,
    integrate_power_mw,
    mean_power_from_samples,
)

DISCHARGING_STATES = ("Discharging", "Not charging")
"""Battery ``status`` values in which the battery alone feeds the phone."""

_ZONE_KINDS = (  # (kind, pattern on the zone's type), first match wins
    ("battery", r"batt|bms"),
    ("skin", r"skin|shell|quiet|xo[-_]?therm|case"),
    ("gpu", r"gpu|g3d|mali|adreno"),
    ("npu", r"nsp|npu|apu|cdsp|hvx|hmx|mdla|tpu"),
    ("cpu", r"cpu|cluster|^(big|mid|little)"),
    ("soc", r"soc|aoss|tsens|mtkts|^ap$|sdm\d|^sm\d|^mt\d"),
)
HOT_KINDS = ("cpu", "soc")
"""Zones whose maximum is "the hottest CPU/SoC zone" (cooldown, thermal summary)."""


def zone_kind(zone_type: str) -> str:
    """What a thermal zone measures, from its ``type`` name (zones are matched by type,
    never by index: their order changes between boots)."""
    name = zone_type.lower()
    for kind, pattern in _ZONE_KINDS:
        if re.search(pattern, name):
            return kind
    return "other"


# --- parsing ---------------------------------------------------------------------------------

@dataclass
class Samples:
    """Sampler output as arrays. ``values`` holds the raw numbers per column (vendor units)."""

    t_s: np.ndarray  # device uptime
    values: dict[str, np.ndarray]
    vm_hwm_kb: np.ndarray  # NaN where the process was not (yet) there
    vm_rss_kb: np.ndarray
    epoch_offset_s: float | None = None  # device wall clock minus uptime
    dropped_lines: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.t_s)

    def column(self, name: str) -> np.ndarray | None:
        return self.values.get(name)

    def between(self, start_s: float, end_s: float) -> Samples:
        """The samples with ``start_s <= t <= end_s``."""
        keep = (self.t_s >= start_s) & (self.t_s <= end_s)
        return Samples(self.t_s[keep], {k: v[keep] for k, v in self.values.items()},
                       self.vm_hwm_kb[keep], self.vm_rss_kb[keep], self.epoch_offset_s)


def parse_samples(text: str, columns: Sequence[str]) -> Samples:
    """Parse the sampler's output for a line layout of ``columns`` (the numeric fields after
    ``S``; the first two are ``uptime_s`` and ``idle_s``). Lines with the wrong number of
    fields or a non-number (a file that went unreadable, a line cut by ``kill``) are dropped
    and counted, not guessed at."""
    width = len(columns)
    rows, hwm, rss = [], [], []
    offset, dropped = None, 0
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0] == "T" and len(tokens) >= 4:
            try:
                offset = float(tokens[3]) - float(tokens[1])
            except ValueError:
                pass
            continue
        if tokens[0] != "S" or "M" not in tokens:
            dropped += 1
            continue
        m = tokens.index("M")
        try:
            row = [float(x) for x in tokens[1:m]]
        except ValueError:
            row = []
        if len(row) != width:
            dropped += 1
            continue
        rows.append(row)
        memory = _memory_fields(tokens[m + 1:])
        hwm.append(memory.get("VmHWM:", math.nan))
        rss.append(memory.get("VmRSS:", math.nan))
    table = np.array(rows, dtype=float).reshape(len(rows), width)
    order = np.argsort(table[:, 0], kind="stable") if rows else np.arange(0)
    table = table[order]
    problems = []
    if dropped:
        problems.append(f"{dropped} sampler lines dropped (not {width} numbers)")
    return Samples(t_s=table[:, 0], values={c: table[:, i] for i, c in enumerate(columns)},
                   vm_hwm_kb=np.array(hwm, dtype=float)[order],
                   vm_rss_kb=np.array(rss, dtype=float)[order],
                   epoch_offset_s=offset, dropped_lines=dropped, problems=problems)


def _memory_fields(tokens: list[str]) -> dict[str, float]:
    found = {}
    for key, value in zip(tokens, tokens[1:], strict=False):
        if key in ("VmHWM:", "VmRSS:"):
            try:
                found[key] = float(value)
            except ValueError:
                pass
    return found


# --- quality ---------------------------------------------------------------------------------

def sampler_quality(t_s: Sequence[float]) -> dict:
    """{n, rate_hz, max_gap_ms} of sample timestamps (seconds)."""
    t = np.asarray(t_s, dtype=float)
    if len(t) < 2 or t[-1] <= t[0]:
        return {"n": int(len(t)), "rate_hz": None, "max_gap_ms": None}
    return {"n": int(len(t)), "rate_hz": round(float((len(t) - 1) / (t[-1] - t[0])), 2),
            "max_gap_ms": round(float(np.diff(t).max() * 1000), 1)}


# --- calibration -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """How to turn a phone's raw ``current_now`` / ``voltage_now`` into amperes and volts
    with discharge positive. Store it per device model (the harness rule)."""

    current_unit: str  # uA | mA
    discharge_sign: int  # -1: raw negative while discharging (kernel ABI); +1: positive
    voltage_unit: str  # uV | mV | V
    basis: str  # what it was decided from

    @property
    def amps_per_unit(self) -> float:
        return {"uA": 1e-6, "mA": 1e-3}[self.current_unit]

    @property
    def volts_per_unit(self) -> float:
        return {"uV": 1e-6, "mV": 1e-3, "V": 1.0}[self.voltage_unit]

    def as_dict(self) -> dict:
        return {"current_unit": self.current_unit, "voltage_unit": self.voltage_unit,
                "discharge": "negative" if self.discharge_sign < 0 else "positive",
                "basis": self.basis}


def calibrate(current_raw: Sequence[float], voltage_raw: Sequence[float],
              status: str | None) -> Calibration:
    """Decide unit and sign of the gauge from idle samples taken while the battery alone
    feeds the phone. Raises ValueError with the reason when that cannot be decided.

    - The battery ``status`` must be "Discharging" or "Not charging" (charging suspended):
      only then is the sign seen at idle the discharge sign. While charging it is not.
    - Current unit by magnitude: a phone draws 10 mA to 5 A, so a median |current_now| of
      5000 or more is µA (5 mA+), less is mA (≤ 5 A).
    - Sign: at least 80 % of idle samples must share one sign; negative means the kernel ABI
      convention (discharge negative), positive the inverted one (MediaTek and others).
    - Voltage unit by magnitude: > 100000 µV, > 1000 mV, else V; the result must be a
      lithium cell's 2.5 to 5.5 V.
    """
    i = np.asarray(current_raw, dtype=float)
    v = np.asarray(voltage_raw, dtype=float)
    i, v = i[np.isfinite(i)], v[np.isfinite(v)]
    if status not in DISCHARGING_STATES:
        raise ValueError(f"battery status is {status!r}, not discharging: the sign of "
                         "current_now at idle would not be the discharge sign")
    if len(i) < 3 or len(v) < 1:
        raise ValueError(f"too few idle samples to calibrate ({len(i)})")
    magnitude = float(np.median(np.abs(i)))
    if magnitude == 0:
        raise ValueError("current_now reads 0 at idle: the fuel gauge reports no current")
    unit = "uA" if magnitude >= 5000 else "mA"
    nonzero = i[i != 0]
    negative = float(np.mean(nonzero < 0))
    if negative >= 0.8:
        sign = -1
    elif negative <= 0.2:
        sign = 1
    else:
        raise ValueError(f"current_now changes sign at idle ({negative:.0%} of samples "
                         "negative): no consistent discharge sign (charger still feeding?)")
    volts = float(np.median(v))
    vunit = "uV" if volts > 100_000 else "mV" if volts > 1000 else "V"
    scale = {"uV": 1e-6, "mV": 1e-3, "V": 1.0}[vunit]
    if not 2.5 <= volts * scale <= 5.5:
        raise ValueError(f"voltage_now {volts:g} is not a battery voltage in any unit")
    basis = (f"{len(i)} idle samples, status {status}: median |current_now| {magnitude:g} "
             f"-> {unit}, {negative:.0%} negative -> discharge "
             f"{'negative' if sign < 0 else 'positive'}; voltage_now {volts:g} -> {vunit}")
    return Calibration(unit, sign, vunit, basis)


# --- power -----------------------------------------------------------------------------------

def power_series_mw(samples: Samples, cal: Calibration) -> np.ndarray:
    """Battery power per sample, mW, positive while discharging (V x I)."""
    amps = samples.values["current_now"] * cal.amps_per_unit * cal.discharge_sign
    volts = samples.values["voltage_now"] * cal.volts_per_unit
    return amps * volts * 1000.0


def power_mw(samples: Samples, cal: Calibration, start_s: float | None = None,
             end_s: float | None = None) -> float:
    """Time-weighted mean battery power (mW) over the samples in [start_s, end_s] (device
    uptime; all samples by default), trapezoid over the device timestamps."""
    lo = -math.inf if start_s is None else start_s
    hi = math.inf if end_s is None else end_s
    part = samples.between(lo, hi)
    if part.n == 0:
        raise ValueError(f"no power samples between {lo:.2f} s and {hi:.2f} s")
    return mean_power_from_samples(part.t_s, power_series_mw(part, cal))


def gauge_lag_s(t_s: Sequence[float], current_raw: Sequence[float]) -> float:
    """The fuel gauge's update interval: the median time between changes of current_now.
    A gauge reporting the average of its last window trails the truth by about this much.
    With fewer than three changes, the median sample interval (no lag can be seen)."""
    t = np.asarray(t_s, dtype=float)
    i = np.asarray(current_raw, dtype=float)
    if len(t) < 2:
        return 0.0
    changes = t[1:][np.diff(i) != 0]
    if len(changes) >= 3:
        return float(np.median(np.diff(changes)))
    return float(np.median(np.diff(t)))


def window_power_mw(samples: Samples, cal: Calibration, start_s: float, end_s: float,
                    lag_s: float = 0.0, idle_mw: float | None = None) -> float:
    """Mean power (mW) the phone drew in the true window [start_s, end_s] (device uptime),
    read from a gauge that trails by ``lag_s``.

    Without ``idle_mw``: the mean of the samples of [start_s + lag_s, end_s + lag_s]. A gauge
    window that straddles an edge spreads the load over the whole window, so cutting there
    loses on average lag/6 x (load - idle) per edge (up to lag/4).
    With ``idle_mw`` (the phone idles right before and after the window, as in a measured
    job): integrate over the window widened by ``lag_s`` on each side, which holds all of
    the spread, and take away the idle energy of the widening."""
    duration = end_s - start_s
    if duration <= 0:
        raise ValueError("the window spans no time")
    if idle_mw is None or lag_s <= 0:
        return power_mw(samples, cal, start_s + lag_s, end_s + lag_s)
    lo, hi = start_s, end_s + 2 * lag_s
    part = samples.between(lo, hi)
    if part.n < 2 or part.t_s[0] > lo + lag_s / 2 or part.t_s[-1] < hi - lag_s / 2:
        raise ValueError(f"the samples ({samples.t_s[0]:.2f}..{samples.t_s[-1]:.2f} s) do not "
                         f"cover {lo:.2f}..{hi:.2f} s (sampler stopped too early?)")
    energy_mj = integrate_power_mw(part.t_s, power_series_mw(part, cal))
    widened = float(part.t_s[-1] - part.t_s[0])
    return (energy_mj - idle_mw * (widened - duration)) / duration


def power_summary(samples: Samples, status: str | None, idle_window: tuple[float, float],
                  active_window: tuple[float | None, float | None],
                  iterations: int | None = None, measured_s: float | None = None) -> dict:
    """Calibrate on the idle window, then idle and active power (mW), the gauge lag and,
    given the work done, energy per inference (npubench.energy). Raises ValueError with the
    reason power cannot be given."""
    (i0, i1), (a0, a1) = idle_window, active_window
    if a0 is None or a1 is None or a1 <= a0:
        raise ValueError("the active window is unknown (the phone's uptime was unreadable)")
    base = samples.between(i0, i1)
    cal = calibrate(base.values["current_now"], base.values["voltage_now"], status)
    lag = gauge_lag_s(samples.t_s, samples.values["current_now"])
    idle_mw = power_mw(samples, cal, i0, i1)  # idle before i0 (settled) and up to i1
    active_mw = window_power_mw(samples, cal, a0, a1, lag, idle_mw)
    return power_block(samples, idle_mw, active_mw, a1 - a0, lag, iterations, measured_s,
                       idle_s=round(i1 - i0, 3), calibration=cal.as_dict())


def power_block(samples: Samples, idle_mw: float, active_mw: float, active_s: float,
                lag_s: float, iterations: int | None, measured_s: float | None,
                **extra) -> dict:
    """The record's ``power`` fields from the powers found: the sampler's quality, idle and
    active power, and energy per inference where the work done is known (else the reason)."""
    quality = sampler_quality(samples.t_s)
    power = {"sample_rate_hz": quality["rate_hz"], "max_gap_ms": quality["max_gap_ms"],
             "idle_mw": round(idle_mw, 1), "active_mw": round(active_mw, 1),
             "energy_mj_per_inference": None, "active_s": round(active_s, 3),
             "gauge_lag_s": round(lag_s, 3), **extra}
    if iterations and measured_s:
        try:
            power["energy_mj_per_inference"] = round(energy_mj_per_inference(
                active_mw, idle_mw, measured_s, iterations), 4)
        except ValueError as exc:
            power["energy_missing_reason"] = str(exc)
    return power


# --- temperature -----------------------------------------------------------------------------

def celsius_divisor(raw: Sequence[float]) -> float:
    """1000 (millidegrees), 10 (tenths) or 1 (degrees), by the median magnitude of a zone's
    readings: >= 1000 millidegrees (1 °C and up), >= 200 tenths (20 °C and up), else °C.
    Decided per zone over many readings, so one odd value does not flip the unit."""
    values = np.asarray(raw, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return 1.0
    magnitude = float(np.median(np.abs(values)))
    return 1000.0 if magnitude >= 1000 else 10.0 if magnitude >= 200 else 1.0


def to_celsius(raw: Sequence[float], divisor: float | None = None) -> np.ndarray:
    """Readings in °C; implausible ones (below -40 °C or above 150 °C: a disabled sensor's
    -273000, a stuck register) become NaN."""
    values = np.asarray(raw, dtype=float)
    c = values / (divisor or celsius_divisor(values))
    return np.where((c >= -40) & (c <= 150), c, np.nan)


def thermal_summary(samples: Samples, zone_kinds: dict[str, str],
                    cpuinfo_max_khz: dict[str, float] | None = None,
                    thermal_status: Sequence[int | None] = (),
                    divisors: dict[str, float] | None = None) -> dict:
    """{start_c, end_c, max_c, hottest_zone, throttled, throttle_evidence, zones_c_max} of the
    hottest CPU/SoC zone over the samples (battery temperature when there is no such zone).
    ``throttled``: a cpufreq policy's cap (``scaling_max_freq``) fell below its
    ``cpuinfo_max_freq``, or Android's thermal status reached LIGHT (1) or more. A zone's
    unit is its entry in ``divisors``, else decided by magnitude."""
    if samples.n == 0:
        raise ValueError("no samples")
    divisors = divisors or {}
    temps = {z: to_celsius(samples.values[f"temp:{z}"], divisors.get(z)) for z in zone_kinds
             if f"temp:{z}" in samples.values}
    hot = [z for z in temps if zone_kinds[z] in HOT_KINDS] or [
        z for z in temps if zone_kinds[z] == "battery"]
    hot = [z for z in hot if np.isfinite(temps[z]).any()]
    if not hot:
        raise ValueError("no readable CPU, SoC or battery temperature")
    stack = np.vstack([temps[z] for z in hot])
    hottest = np.nanmax(stack, axis=0)
    peak = int(np.nanargmax(np.nanmax(stack, axis=1)))
    evidence = []
    for policy, top in (cpuinfo_max_khz or {}).items():
        cap = samples.values.get(f"max:{policy}")
        if cap is not None and len(cap) and np.nanmin(cap) < top:
            evidence.append(f"{policy} capped at {np.nanmin(cap):.0f} of {top:.0f} kHz")
    statuses = [s for s in thermal_status if s is not None]
    if statuses and max(statuses) >= 1:
        evidence.append(f"Android thermal status {max(statuses)}")
    return {"start_c": _round(hottest[0]), "end_c": _round(hottest[-1]),
            "max_c": _round(np.nanmax(hottest)), "hottest_zone": hot[peak],
            "throttled": bool(evidence), "throttle_evidence": evidence,
            "zones_c_max": {z: _round(np.nanmax(t)) for z, t in temps.items()
                            if np.isfinite(t).any()}}


def _round(x: float) -> float | None:
    return round(float(x), 1) if np.isfinite(x) else None


# --- memory ----------------------------------------------------------------------------------

def memory_peak_mb(vm_hwm_kb: Sequence[float]) -> float | None:
    """Peak resident memory (MB = MiB) from VmHWM samples in kB; None without one."""
    values = np.asarray(vm_hwm_kb, dtype=float)
    values = values[np.isfinite(values)]
    return round(float(values.max()) / 1024, 1) if len(values) else None
