"""The simulated phone's battery and temperatures: a small physical model driven by the load.

No background thread: the state advances lazily from the clock whenever it is read or the load
changes, integrating the piecewise-constant load in sub-steps of at most ``MAX_STEP_S``.
Deterministic for a seed and a sequence of (clock, load) events. Its numbers are plausible, never
a phone's.

Power (W), with ``s_c`` the frequency scale of cluster c (1 = unthrottled) and busy cores filled
fastest cluster first::

    P_cpu = sum_core active_w(c) * s_c**3 * busy + uncore_w * min(1, cores)
    P_soc = soc_idle_w + P_cpu + (gpu_w * gpu + npu_w * npu) * s**3
    P_sys = P_soc + platform_w
    P_in  = min(charger_w, P_sys + max_charge_w * taper(SoC))   when USB is plugged and the
            input is not suspended, else 0; taper = 1 below 80 %, falling linearly to 0 at 100 %
    P_bat = P_sys - P_in            (positive: the battery discharges)

Battery: ``V = OCV(SoC) - I R`` and ``P_bat = V I`` give
``I = (OCV - sqrt(OCV**2 - 4 R P_bat)) / 2R`` (positive: discharging); ``dQ/dt = -I``; the
ground-truth energy is ``E = integral of P_bat dt``.
The fuel gauge reports, during window k of ``gauge_period_s``, the averages over window k-1
(``I = dQ / p``, ``V = dE / dQ``) plus Gaussian noise (``noise_ma``; seeded by (seed, k)).

Temperatures: each zone relaxes towards its reference zone (or the ambient) plus its heat::

    dT/dt = (T_ref + sum_src heat[src] * P_src - T) / tau

solved exactly per sub-step (exponential), zones in dependency order. Heat sources: ``core.N``,
``cluster.NAME``, ``cpu``, ``gpu``, ``npu``, ``soc``, ``sys`` and ``charge`` (charger loss
``charger_loss * P_in`` plus the cell's ``I**2 R``). Throttling: the frequency scale is
``1 - (T_throttle_zone - start) / span``, clamped to [min_scale, 1], snapped to the cpufreq table.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from npubench.devices.sim.profiles import Cluster, Profile

MAX_STEP_S = 0.5
MERGE_S = 0.05
HISTORY_LIMIT = 2_000_000  # points (48 MB); energy_between() reaches back this far


@dataclass(frozen=True)
class Load:
    cores: float = 0.0  # busy CPU cores (fractions allowed)
    gpu: float = 0.0  # GPU utilisation 0..1
    npu: float = 0.0  # NPU utilisation 0..1

    def __add__(self, other: Load) -> Load:
        return Load(self.cores + other.cores, self.gpu + other.gpu, self.npu + other.npu)


@dataclass(frozen=True)
class Snapshot:
    """The true state at one instant (not what the sensors report)."""

    uptime_s: float
    energy_j: float  # drawn from the battery since the model started (negative: charged)
    charge_c: float  # in the battery now
    level: float  # state of charge 0..1
    voltage_v: float
    current_a: float  # positive while discharging
    battery_power_w: float
    system_power_w: float
    temps_c: dict[str, float]
    speed: float  # CPU frequency scale from throttling (1 = none)


@dataclass(frozen=True)
class GaugeReading:
    current_a: float  # positive while discharging (the sysfs layer applies the vendor's sign)
    voltage_v: float


class Physics:
    def __init__(self, profile: Profile, clock: Callable[[], float] = time.monotonic,
                 seed: int = 0, uptime_s: float | None = None):
        self.profile = profile
        self._clock = clock
        self._seed = seed
        self._lock = threading.RLock()
        rng = np.random.default_rng(seed)
        self._uptime0 = float(uptime_s if uptime_s is not None else rng.uniform(3600, 86400))
        self._start = clock()
        self._s = 0.0  # model time: seconds since start
        b = profile.battery
        self._q_full = b.capacity_mah * 3.6
        self._q = self._q_full * b.start_level / 100
        self._e = 0.0
        self._ocv_x = [s for s, _ in b.ocv]
        self._ocv_y = [v for _, v in b.ocv]
        self.ambient_c = profile.thermal.ambient_c
        self.plugged = b.usb_plugged
        self.input_suspended = False
        self._base = Load()
        self._loads: dict[int, Load] = {}
        self._token = 0
        zones = {z.type: z for z in profile.thermal.zones}
        self._order = _dependency_order(zones)
        self._zones = zones
        self._fill = [cpu for c in sorted(profile.clusters, key=lambda c: -c.max_khz)
                      for cpu in c.cpus]
        self._cluster_of = {cpu: c for c in profile.clusters for cpu in c.cpus}
        self._scales = {c.name: 1.0 for c in profile.clusters}
        self._busy_s = [self._uptime0 * 0.03] * profile.cpu_count
        self._freq_s = {c.name: _boot_residency(c, self._uptime0) for c in profile.clusters}
        self._temps = {t: self.ambient_c for t in zones}
        self._offsets = {t: z.offset_c + float(rng.normal(0, 0.4)) for t, z in zones.items()}
        """Sensor calibration spread: a zone reads its true temperature plus this."""
        self._v = self._i = 0.0
        self._step(math.inf)  # start in the idle steady state
        self._hist_s, self._hist_q, self._hist_e = array("d", [0.0]), array("d", [self._q]), \
            array("d", [0.0])
        self._pinned = 0  # index of the last history point where the load or charging changed
        self._gauge_cache: tuple[int, GaugeReading] | None = None

    # --- load --------------------------------------------------------------------------------

    @contextmanager
    def load(self, cores: float = 0.0, gpu: float = 0.0, npu: float = 0.0) -> Iterator[None]:
        """Count work as load while the block runs (loads of concurrent commands add up)."""
        with self._lock:
            self._advance(pin=True)
            self._token += 1
            token = self._token
            self._loads[token] = Load(cores, gpu, npu)
        try:
            yield
        finally:
            with self._lock:
                self._advance(pin=True)
                del self._loads[token]

    def set_load(self, cores: float = 0.0, gpu: float = 0.0, npu: float = 0.0) -> None:
        """The background load, in force until changed."""
        with self._lock:
            self._advance(pin=True)
            self._base = Load(cores, gpu, npu)

    def set_charging(self, plugged: bool | None = None,
                     input_suspended: bool | None = None) -> None:
        with self._lock:
            self._advance(pin=True)
            if plugged is not None:
                self.plugged = plugged
            if input_suspended is not None:
                self.input_suspended = input_suspended

    def set_ambient(self, celsius: float) -> None:
        with self._lock:
            self._advance(pin=True)
            self.ambient_c = celsius

    def set_temperatures(self, celsius: float) -> None:
        """Every zone at ``celsius`` now (a test's hot or cooled-down phone); from here the
        zones relax towards the ambient as usual."""
        with self._lock:
            self._advance(pin=True)
            for zone in self._temps:
                self._temps[zone] = celsius

    # --- readings ----------------------------------------------------------------------------

    def now(self) -> float:
        """Device uptime in seconds (``/proc/uptime``, ``date``)."""
        return self._uptime0 + (self._clock() - self._start)

    def snapshot(self) -> Snapshot:
        with self._lock:
            self._advance()
            soc = self._q / self._q_full
            temps = {t: v + self._offsets[t] for t, v in self._temps.items()}
            return Snapshot(self._uptime0 + self._s, self._e, self._q, soc, self._v, self._i,
                            self._v * self._i, self._sys_w, temps, min(self._scales.values()))

    def energy_j(self) -> float:
        """Ground truth: energy drawn from the battery since the model started."""
        return self.snapshot().energy_j

    def energy_between(self, t0: float, t1: float) -> float:
        """Energy drawn from the battery between two uptimes (seconds), from the history."""
        with self._lock:
            self._advance()
            return (self._interp(self._hist_e, t1 - self._uptime0)
                    - self._interp(self._hist_e, t0 - self._uptime0))

    def gauge(self) -> GaugeReading:
        """What the fuel gauge reports now: the previous window's averages plus noise."""
        b = self.profile.battery
        with self._lock:
            self._advance()
            k = int(self._s // b.gauge_period_s)
            if self._gauge_cache and self._gauge_cache[0] == k:
                return self._gauge_cache[1]
            current, voltage = self._i, self._v
            if k >= 1:
                s0, s1 = (k - 1) * b.gauge_period_s, k * b.gauge_period_s
                dq = self._interp(self._hist_q, s0) - self._interp(self._hist_q, s1)
                de = self._interp(self._hist_e, s1) - self._interp(self._hist_e, s0)
                current = dq / b.gauge_period_s
                if abs(dq) > 1e-3 * b.gauge_period_s:
                    voltage = de / dq
            noise = np.random.default_rng([self._seed, k]).normal(size=2)
            reading = GaugeReading(current + noise[0] * b.noise_ma / 1000,
                                   voltage + noise[1] * 0.0005)
            self._gauge_cache = (k, reading)
            return reading

    def level_percent(self) -> float:
        with self._lock:
            self._advance()
            return 100 * self._q / self._q_full

    def charging(self) -> bool:
        """True while current flows into the battery from the charger."""
        with self._lock:
            self._advance()
            return self.plugged and not self.input_suspended and self._i < 0

    def temperature_c(self, zone: str) -> float:
        """What the zone's sensor reads (true temperature plus its calibration offset)."""
        with self._lock:
            self._advance()
            return self._temps[zone] + self._offsets[zone]

    def thermal_status(self) -> int:
        """Android's thermal status (0 NONE .. 6 SHUTDOWN) from the status zone."""
        t = self.temperature_c(self.profile.thermal.status_zone)
        return sum(t >= limit for limit in self.profile.thermal.status_thresholds_c)

    def speed_factor(self, cluster: str | None = None) -> float:
        """Frequency scale left by throttling (1 = full speed); the lowest cluster's if None."""
        with self._lock:
            self._advance()
            return self._scales[cluster] if cluster else min(self._scales.values())

    def cluster_freqs_khz(self, cluster: Cluster) -> tuple[int, int]:
        """(current, thermal cap) of a cluster: the cap when busy, the lowest when idle."""
        with self._lock:
            self._advance()
            cap = _snap(cluster, self._scales[cluster.name])
            busy = any(self._busy_now[cpu] > 0 for cpu in cluster.cpus)
            return (cap if busy else cluster.min_khz), cap

    def time_in_state_s(self, cluster: Cluster) -> dict[int, float]:
        with self._lock:
            self._advance()
            return dict(self._freq_s[cluster.name])

    def busy_s(self) -> list[float]:
        """Busy seconds per CPU since boot (``/proc/stat``)."""
        with self._lock:
            self._advance()
            return list(self._busy_s)

    # --- the model ---------------------------------------------------------------------------

    def _interp(self, series: array, s: float) -> float:
        hist = self._hist_s
        if s <= hist[0]:
            return series[0]
        if s >= hist[-1]:
            return series[-1]
        i = bisect.bisect_right(hist, s)
        s0, s1 = hist[i - 1], hist[i]
        f = (s - s0) / (s1 - s0) if s1 > s0 else 1.0
        return series[i - 1] + f * (series[i] - series[i - 1])

    def _advance(self, pin: bool = False) -> None:
        """Integrate up to the clock's present. The (time, charge, energy) history keeps a
        point per sub-step and per read, but merges points closer than ``MERGE_S`` unless the
        load or charging changed there (``pin``): E is piecewise linear between them."""
        target = self._clock() - self._start
        hist_s, hist_q, hist_e = self._hist_s, self._hist_q, self._hist_e
        while target - self._s > 1e-12:
            self._step(min(MAX_STEP_S, target - self._s))
            if (len(hist_s) >= 2 and len(hist_s) - 1 > self._pinned
                    and self._s - hist_s[-2] < MERGE_S):
                hist_s[-1], hist_q[-1], hist_e[-1] = self._s, self._q, self._e
            else:
                hist_s.append(self._s)
                hist_q.append(self._q)
                hist_e.append(self._e)
        if pin:
            self._pinned = len(hist_s) - 1
        if len(hist_s) > HISTORY_LIMIT:
            half = HISTORY_LIMIT // 2
            del hist_s[:half], hist_q[:half], hist_e[:half]
            self._pinned = max(self._pinned - half, 0)

    def _step(self, h: float) -> None:
        """Advance by ``h`` seconds at the present load (``inf``: go to the steady state)."""
        p, b = self.profile.power, self.profile.battery
        load = sum(self._loads.values(), self._base)
        busy = [0.0] * self.profile.cpu_count
        left = min(load.cores, len(busy))
        for cpu in self._fill:
            busy[cpu] = min(1.0, max(left, 0.0))
            left -= busy[cpu]
        self._busy_now = busy
        src: dict[str, float] = {}
        for cpu, frac in enumerate(busy):
            c = self._cluster_of[cpu]
            src[f"core.{cpu}"] = c.active_w * self._scales[c.name] ** 3 * frac
            src[f"cluster.{c.name}"] = src.get(f"cluster.{c.name}", 0.0) + src[f"core.{cpu}"]
        s3 = min(self._scales.values()) ** 3
        src["cpu"] = sum(src[f"core.{i}"] for i in range(len(busy))) + p.uncore_w * min(
            1.0, load.cores)
        src["gpu"] = p.gpu_w * min(load.gpu, 1.0) * s3
        src["npu"] = p.npu_w * min(load.npu, 1.0) * s3
        src["soc"] = p.soc_idle_w + src["cpu"] + src["gpu"] + src["npu"]
        src["sys"] = self._sys_w = src["soc"] + p.platform_w
        level = self._q / self._q_full
        p_in = 0.0
        if self.plugged and not self.input_suspended:
            taper = 1.0 if level < 0.8 else max(0.0, (1.0 - level) / 0.2)
            p_in = min(b.charger_w, src["sys"] + b.max_charge_w * taper)
        p_bat = src["sys"] - p_in
        ocv = float(np.interp(level, self._ocv_x, self._ocv_y))
        r = b.internal_resistance_ohm
        self._i = (ocv - math.sqrt(max(ocv * ocv - 4 * r * p_bat, 0.0))) / (2 * r)
        self._v = ocv - self._i * r
        src["charge"] = b.charger_loss * p_in + self._i ** 2 * r
        for zone_type in self._order:
            z = self._zones[zone_type]
            ref = self.ambient_c if z.ref == "ambient" else self._temps[z.ref]
            goal = ref + sum(k * src[name] for name, k in z.heat.items())
            decay = 0.0 if math.isinf(h) else math.exp(-h / z.tau_s)
            self._temps[zone_type] = goal + (self._temps[zone_type] - goal) * decay
        th = self.profile.thermal
        scale = 1 - (self._temps[th.throttle_zone] - th.throttle_start_c) / th.throttle_span_c
        scale = min(1.0, max(th.throttle_min_scale, scale))
        self._scales = {c.name: _snap(c, scale) / c.max_khz for c in self.profile.clusters}
        if math.isinf(h):
            return
        self._q = min(max(self._q - self._i * h, 0.0), self._q_full)
        self._e += p_bat * h
        self._s += h
        for cpu, frac in enumerate(busy):
            self._busy_s[cpu] += frac * h
        for c in self.profile.clusters:
            on = any(busy[cpu] > 0 for cpu in c.cpus)
            freq = _snap(c, self._scales[c.name]) if on else c.min_khz
            self._freq_s[c.name][freq] = self._freq_s[c.name].get(freq, 0.0) + h


def _snap(cluster: Cluster, scale: float) -> int:
    """The highest table frequency at or under ``scale`` x max (the lowest at least)."""
    limit = cluster.max_khz * scale + 1e-6
    return max((f for f in cluster.freqs_khz if f <= limit), default=cluster.min_khz)


def _boot_residency(cluster: Cluster, uptime_s: float) -> dict[int, float]:
    """Plausible time_in_state for the time before the model started (mostly idle)."""
    freqs = cluster.freqs_khz
    residency = {f: 0.0 for f in freqs}
    residency[freqs[0]] += 0.90 * uptime_s
    residency[freqs[len(freqs) // 2]] += 0.08 * uptime_s
    residency[freqs[-1]] += 0.02 * uptime_s
    return residency


def _dependency_order(zones: dict) -> list[str]:
    """Zone types ordered so that every zone comes after the zone it sits on."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in path:
            raise ValueError(f"thermal zones refer to each other in a loop: {path}")
        ref = zones[name].ref
        if ref != "ambient":
            visit(ref, path + (name,))
        seen.add(name)
        order.append(name)

    for name in zones:
        visit(name, ())
    return order
