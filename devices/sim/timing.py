"""The simulated phone's timing modes: ``measured`` (the default) and ``modeled``.

``measured``: the emulated tools run each inference for real on the host CPU and report the
host's time (``tools/``). ``modeled`` (``npubench sim --timing modeled``,
``sim:PROFILE?timing=modeled``): each tool WAITS the time the model below gives instead of
computing, so that 8 or 16 simulated phones on a 2-core machine measure a farm, not the CPU.
Every modeled number is a model's output, never a measurement of a phone:

- **Calibration**: once per (model sha256, backend) per process, a few real inferences are
  timed on the host (after a warm-up; their median, ``_calibrate``) — the one bit of
  CPU work left. The result is kept in memory and in ``$NPUBENCH_CACHE/sim-timing.json`` so
  that the phones of a farm, and the next process, do not each calibrate. llama-bench needs no
  calibration.
- **Scale**: the host time is divided by the profile's ``timing.speed[UNIT]`` — how many times
  faster than this host the phone's CPU / GPU / NPU is taken to be (``profiles/*.yaml``,
  documented as modeled numbers). UNIT is the class of the backend (``slowdown.BACKEND_CLASS``).
  Model initialisation is scaled by ``speed.cpu``.
- **Noise and heat**: each iteration is multiplied by a log-normal draw ``exp(sigma * z)``
  (``timing.sigma``, a seeded generator per tool run: same seed, same sequence) and divided by
  the physics model's clock ratio (``Physics.speed_factor``: 1 at full speed, lower throttled).
- **llama-bench**: prompt processing at ``2 * n_params`` operations per token over
  ``timing.llm_tops[UNIT]`` tera-operations per second; each decoded token reads every weight:
  ``file bytes / timing.memory_bandwidth_gb_s`` (decode is memory bound), plus the attention's
  read of the KV cache.

The slowdown knob (``slowdown.py``) applies on top: the tool reports modeled time x FACTOR. The
mode is logged on the simulator's stderr and shown by the phone as ``ro.npubench.timing``, which
the harness records as ``device.simulated_timing``. The harness never imports this module.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from npubench.errors import ConfigError

MODES = ("measured", "modeled")
DEFAULT_MODE = "measured"
PROP = "ro.npubench.timing"
CALIBRATION_RUNS = 5
WARMUP_S, CALIBRATION_S, MAX_CALLS = 0.02, 0.05, 2000
CACHE_FILE = "sim-timing.json"
CACHE_VERSION = 3
UNITS = ("cpu", "gpu", "npu")


def check_mode(text: str) -> str:
    """A timing mode as written by a user -> ``measured`` or ``modeled``; ConfigError else."""
    mode = str(text).strip().lower()
    if mode not in MODES:
        raise ConfigError(f"unknown simulated timing {text!r}: it is measured or modeled",
                          hint="e.g. --timing modeled, or --device 'sim:sm8650?timing=modeled'")
    return mode


@dataclass(frozen=True)
class TimingSpec:
    """A profile's ``timing:`` block (modeled numbers, not measurements)."""

    speed: Mapping[str, float] = field(default_factory=lambda: {u: 1.0 for u in UNITS})
    sigma: float = 0.02
    memory_bandwidth_gb_s: float = 50.0
    llm_tops: Mapping[str, float] = field(default_factory=lambda: {u: 1.0 for u in UNITS})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TimingSpec:
        data = dict(data or {})
        unknown = set(data) - {"speed", "sigma", "memory_bandwidth_gb_s", "llm_tops"}
        if unknown:
            raise ValueError(f"timing: unknown keys {sorted(unknown)}")
        spec = cls(speed={**{u: 1.0 for u in UNITS}, **(data.get("speed") or {})},
                   sigma=float(data.get("sigma", 0.02)),
                   memory_bandwidth_gb_s=float(data.get("memory_bandwidth_gb_s", 50.0)),
                   llm_tops={**{u: 1.0 for u in UNITS}, **(data.get("llm_tops") or {})})
        numbers = [*spec.speed.values(), *spec.llm_tops.values(), spec.memory_bandwidth_gb_s]
        if any(not (isinstance(v, int | float) and v > 0) for v in numbers) or spec.sigma < 0:
            raise ValueError("timing: speeds, llm_tops and memory_bandwidth_gb_s must be "
                             "positive numbers, sigma >= 0")
        return spec


# --- pure model ----------------------------------------------------------------------------------

def noise(seed: int, n: int, sigma: float) -> list[float]:
    """``n`` log-normal multipliers ``exp(sigma * z)`` from a generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    return [math.exp(sigma * z) for z in rng.standard_normal(n)]


def modeled_sequence(host_s: float, speed: float, sigma: float, seed: int, n: int,
                     clock_ratio: float = 1.0) -> list[float]:
    """``n`` modeled per-inference times in seconds: host time / unit speed / clock ratio,
    times a log-normal draw. The same arguments give the same sequence."""
    base = host_s / speed / max(clock_ratio, 1e-3)
    return [base * m for m in noise(seed, n, sigma)]


def llm_test_s(n_params: int, weight_bytes: int, kv_bytes_per_token: float, n_prompt: int,
               n_gen: int, n_depth: int, tops: float, bandwidth_gb_s: float) -> float:
    """Modeled seconds of one llama-bench repetition: the prompt at ``2 * n_params`` operations
    a token over ``tops`` (1e12 op/s), then ``n_gen`` decodes, each reading every weight and the
    KV cache filled so far over the memory bandwidth. The depth fill is not timed."""
    prompt_s = 2.0 * n_params * n_prompt / (tops * 1e12)
    bandwidth = bandwidth_gb_s * 1e9
    context = n_depth + n_prompt
    decode_s = sum((weight_bytes + kv_bytes_per_token * (context + i)) / bandwidth
                   for i in range(n_gen))
    return prompt_s + decode_s


def seed_for(phone_seed: int, *parts: object) -> int:
    """A stable 32-bit seed from the phone's seed and what a run is (crc32, not ``hash``)."""
    return zlib.crc32("\0".join(map(str, (phone_seed, *parts))).encode())


# --- calibration (host) --------------------------------------------------------------------------

class Calibration:
    """Host seconds per inference by (model sha256, backend): in memory, in a JSON file."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._values: dict[str, float] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    @staticmethod
    def default() -> Calibration:
        from npubench.workloads.fetch import cache_dir

        return Calibration(cache_dir() / CACHE_FILE)

    def host_s(self, key: str, measure: Callable[[], float],
               runs: int = CALIBRATION_RUNS) -> float:
        """The calibrated host time for ``key``; ``measure()`` (one inference, seconds) runs
        ``runs`` times (their median) the first time in this process and on no cached value."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._values:
                return self._values[key]
            value = self._read_file().get(key)
            if not (isinstance(value, int | float) and value > 0):
                value = _calibrate(measure, runs)
                value = max(value, 1e-6)
                self._write_file(key, value)
            self._values[key] = float(value)
            return float(value)

    def _read_file(self) -> dict[str, float]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return {}
        return data.get("host_s") or {}

    def _write_file(self, key: str, value: float) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            values = {**self._read_file(), key: value}
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "host_s": values}, indent=1),
                           encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache: in memory is enough


def _calibrate(measure: Callable[[], float], runs: int) -> float:
    """The median of at least ``runs`` timed calls of ``measure`` and ``CALIBRATION_S`` of
    them, after warming up for ``WARMUP_S`` (at least 3 calls): the first inferences of a
    session are slow (lazy initialisation, cold caches), and a model of a few microseconds needs
    many calls to show its steady time. ``runs`` 1: one call, no warm-up."""
    if runs <= 1:
        return measure()
    started, calls = time.perf_counter(), 0
    while calls < 3 or (time.perf_counter() - started < WARMUP_S and calls < MAX_CALLS):
        measure()
        calls += 1
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < runs or (time.perf_counter() - started < CALIBRATION_S
                                  and len(samples) < MAX_CALLS):
        samples.append(measure())
    return statistics.median(samples)


_CALIBRATION: Calibration | None = None
_CALIBRATION_LOCK = threading.Lock()


def calibration() -> Calibration:
    global _CALIBRATION
    with _CALIBRATION_LOCK:
        if _CALIBRATION is None:
            _CALIBRATION = Calibration.default()
        return _CALIBRATION


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- a phone's timing ----------------------------------------------------------------------------

class Timing:
    """One simulated phone's timing mode. ``modeled`` is False in measured mode: the tools
    then time real work as before."""

    def __init__(self, mode: str, spec: TimingSpec, speed_factor: Callable[[], float],
                 seed: int = 0, calibration_store: Calibration | None = None):
        self.mode = check_mode(mode)
        self.spec = spec
        self.speed_factor = speed_factor
        self.seed = seed
        self._calibration = calibration_store
        self._runs = 0
        self._lock = threading.Lock()
        self._logged: set[tuple[str, str]] = set()

    @property
    def modeled(self) -> bool:
        return self.mode == "modeled"

    def describe(self) -> str:
        if not self.modeled:
            return "measured (each inference runs on the host CPU; times are the host's)"
        s = self.spec
        speeds = ", ".join(f"{u} x{s.speed[u]:g}" for u in UNITS)
        return (f"modeled (the tools wait modeled times: host calibration / speed [{speeds}], "
                f"log-normal sigma {s.sigma:g}, throttling from the thermal model)")

    def init_s(self, sha256: str, backend: str, measured_s: float) -> float:
        """The modeled initialisation time: the first host initialisation of this model and
        backend in this process (or the cache), / ``speed.cpu``, times a log-normal draw."""
        store = self._calibration or calibration()
        host_s = store.host_s(f"{sha256}|{backend}|init", lambda: measured_s, runs=1)
        with self._lock:
            self._runs += 1
            seed = seed_for(self.seed, "init", sha256, backend, self._runs)
        return modeled_sequence(host_s, self.spec.speed["cpu"], self.spec.sigma, seed, 1,
                                self.speed_factor())[0]

    def run(self, tool: str, sha256: str, backend: str,
            measure: Callable[[], float] | None,
            shares: Mapping[str, float] | None = None) -> ModeledRun:
        """The modeled times of one tool run of a model on a backend. ``measure``: one real
        inference on the host, seconds (for calibration; None where it is not needed).
        ``shares``: the part of the work on each unit where a delegate takes only part of the
        graph (``{"npu": 0.8, "cpu": 0.2}``); the speed is then ``1 / sum(share / speed)``.
        Without it, the whole inference runs at the speed of the backend's unit."""
        from npubench.devices.sim.slowdown import BACKEND_CLASS

        unit = BACKEND_CLASS.get(backend, "cpu")
        speed = self.spec.speed[unit]
        if shares and sum(shares.values()) > 0:
            total = sum(shares.values())
            speed = 1.0 / sum(share / total / self.spec.speed[u]
                              for u, share in shares.items() if share > 0)
        store = self._calibration or calibration()
        host_s = store.host_s(f"{sha256}|{backend}", measure) if measure is not None else 0.0
        with self._lock:
            self._runs += 1
            seed = seed_for(self.seed, tool, sha256, backend, self._runs)
            first = (tool, backend) not in self._logged
            self._logged.add((tool, backend))
        if first:
            mixed = " and CPU for what it does not take" if speed != self.spec.speed[unit] else ""
            what = (f"host {host_s * 1e3:.3g} ms / speed {speed:.3g} ({unit}{mixed}) per "
                    "inference" if measure is not None else
                    f"the prompt at {self.spec.llm_tops[unit]:g} TOPS ({unit}) and each decode "
                    f"at {self.spec.memory_bandwidth_gb_s:g} GB/s")
            print(f"npubench-sim: timing modeled: {tool} on {backend} waits {what} "
                  "(modeled, not measured)", file=sys.stderr, flush=True)
        return ModeledRun(host_s, speed, self.spec.sigma, seed, self.speed_factor)


class ModeledRun:
    """Draws the modeled time of each inference of one tool run."""

    RATIO_EVERY_S = 0.1
    """How often the clock ratio is read from the physics model (stepping it costs CPU; the
    thermal state moves over seconds)."""

    def __init__(self, host_s: float, speed: float, sigma: float, seed: int,
                 speed_factor: Callable[[], float]):
        self.host_s, self.speed, self.sigma = host_s, speed, sigma
        self.rng = np.random.default_rng(seed)
        self.speed_factor = speed_factor
        self._ratio, self._ratio_at = 1.0, -math.inf

    def clock_ratio(self) -> float:
        now = time.monotonic()
        if now - self._ratio_at >= self.RATIO_EVERY_S:
            self._ratio, self._ratio_at = max(float(self.speed_factor()), 1e-3), now
        return self._ratio

    def next_s(self, base_s: float | None = None) -> float:
        """The next modeled time: ``base_s`` (default: host time / unit speed) at the phone's
        clock ratio now, times a log-normal draw."""
        base = self.host_s / self.speed if base_s is None else base_s
        return base / self.clock_ratio() * math.exp(self.sigma * float(self.rng.standard_normal()))


def wait(sleep: Callable[[float], None], seconds: float, started: float | None = None) -> None:
    """Sleep ``seconds`` (less what passed since ``started``, a ``time.perf_counter``)."""
    left = seconds - (time.perf_counter() - started if started is not None else 0.0)
    if left > 0:
        sleep(left)
