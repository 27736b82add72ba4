"""A phone prepared once per run (``PhoneSession``) and measured per job (``measure``).

Per run and phone (``open`` ... ``close``): restore charging that a killed earlier run left
suspended; find the sensors and the CPU topology (one shell call); check the battery; suspend
charging once, with a guard that makes the phone restore it by itself if npubench cannot
(``devices.charging_guard``); take the gauge's calibration from the cache when this model and
build have one (``devices.calibration_store``), else calibrate it at the first idle baseline
and store it; remember what was pushed (``AndroidDevice.push_memo``). ``close`` restores
charging once: always, also after Ctrl-C (the link is reset first: its state is unknown), an
exception or a lost phone.

Per job (``measure``): the cooldown gate (one read per poll, which also gives the battery's
level and status and the phone's clock); charging suspended again if the phone restored it
(its guardian does when the link drops); the idle baseline measured again only when the rule
of ``devices.idle_baseline`` says it may have changed; a sampler around the job; after the
active window, only the tail that the gauge's lag needs (none when the window is long enough:
``devices.power_window``). Nothing here raises into the job: failures become reasons.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from npubench.devices import cpu_topology
from npubench.devices.calibration_store import CalibrationStore, device_key
from npubench.devices.charging_guard import restore_stale
from npubench.devices.idle_baseline import Baseline, BaselineRule, PhoneState, decide
from npubench.devices.phone_power import power_mw
from npubench.devices.phone_result import PowerInputs, failed_result, job_result
from npubench.devices.phone_steps import Cooldown, IdleBaseline
from npubench.devices.phone_telemetry import (
    PhoneSampler,
    Sensors,
    _number,
    _reason,
    device_uptime_s,
    discover,
    thermal_status,
)
from npubench.devices.power_window import (
    DEFAULT_LAG_S,
    interior_window,
    observed_lag_s,
    tail_needed_s,
)
from npubench.devices.session_calibration import SessionCalibration
from npubench.devices.session_charging import SessionCharging


@dataclass
class SessionOptions:
    measure_power: bool = True
    cooldown_c: float = 40.0
    cooldown_timeout_s: float = 300.0
    min_battery_percent: float = 20.0
    idle_s: float = 2.0  # the idle baseline's length (settings.idle_baseline_s)
    settle_s: float = 1.0  # before a baseline right after charging was suspended
    tail_s: float | None = None  # None: what the gauge's lag needs (often none)
    interval_s: float = 0.04
    poll_s: float = 0.25  # the cooldown gate's reads (one small read_files call each)
    rule: BaselineRule = field(default_factory=BaselineRule)


@dataclass
class JobMeasurement:
    """Yielded by ``PhoneSession.measure``: ``with m.active():`` marks the active window (the
    whole body by default), ``set_work`` gives what energy per inference needs, ``result`` is
    the record-ready dict once the ``with`` block has ended."""

    device: object
    sensors: Sensors | None = None
    window: list[float | None] = field(default_factory=lambda: [None, None])
    iterations: int | None = None
    measured_s: float | None = None
    result: dict | None = None
    pre_gap_s: float = 0.0  # idle before the window, where the window may be too short
    _marked: bool = False
    _ended_at: float | None = None  # host clock at the window's end

    @contextmanager
    def active(self) -> Iterator[None]:
        if self.pre_gap_s > 0:
            time.sleep(self.pre_gap_s)
        self._marked = True
        self.window[0] = device_uptime_s(self.device)
        try:
            yield
        except Exception:
            self._end()
            raise
        else:
            self._end()  # (not after Ctrl-C: the link's state is unknown)

    def _end(self) -> None:
        self._ended_at = time.monotonic()
        self.window[1] = device_uptime_s(self.device)

    def set_work(self, iterations: int, measured_s: float) -> None:
        self.iterations, self.measured_s = iterations, measured_s


class PhoneSession:
    """One phone for one run (see the module's docstring). ``store`` None: the calibration
    is neither taken from nor written to the cache."""

    def __init__(self, device, options: SessionOptions | None = None, run_id: str | None = None,
                 store: CalibrationStore | None = None):
        self.device, self.options, self.run_id, self.store = (
            device, options or SessionOptions(), run_id, store)
        self.sensors: Sensors | None = None
        self.pre: dict[str, dict] = {}  # what open() found and did (in every job's record)
        self.power_reason: str | None = None  # why power cannot be measured in this session
        self.charging: SessionCharging | None = None
        self.calib = SessionCalibration(None, None, run_id)
        self.lag_s: float | None = None
        self.baseline: Baseline | None = None
        self.can_pin, self.pin_reason = False, "the CPU topology is unknown"
        self.counts = {"jobs": 0, "baselines_measured": 0, "baselines_reused": 0}
        self.opened = self.closed = False
        self._broken = False  # a job was interrupted: the link's state is unknown
        self._stray_pids: list[int] = []  # samplers of interrupted jobs

    # --- per run ----------------------------------------------------------------------------

    def open(self) -> PhoneSession:
        device, opts = self.device, self.options
        self.opened = True
        if hasattr(device, "push_memo"):
            device.push_memo = {}
        stale = restore_stale(device)
        if stale:
            self.pre["stale_charging_restored"] = stale
        try:
            self.sensors = discover(device)
        except Exception as exc:
            self.sensors = Sensors(missing={"all": f"sensor discovery failed: {_reason(exc)}"})
        self.pre["sensors"] = self.sensors.summary()
        self._check_pinning()
        if not opts.measure_power:
            self.power_reason = "power measurement not asked for"
        else:
            self.charging = SessionCharging(device, self.sensors, self.run_id,
                                            opts.min_battery_percent)
            self.power_reason = self.charging.open()
            if "battery" in self.charging.pre:
                self.pre["battery"] = self.charging.pre["battery"]
        if self.store is not None:
            try:
                info = device.info()
                key = device_key(info.model, info.build_fingerprint)
            except Exception:  # no identity, no stored calibration: calibrate in this run
                key = None
            self.calib = SessionCalibration(self.store, key, self.run_id)
            self.lag_s = self.calib.stored_lag_s
        return self

    def _check_pinning(self) -> None:
        big = cpu_topology.big_cores(self._policies())
        if not big:
            return
        try:
            code = self.device.run(f"taskset {cpu_topology.cpu_mask(big)} true",
                                   check=False).exit_code
        except Exception as exc:
            code, self.pin_reason = None, f"taskset failed: {_reason(exc)}"
        self.can_pin = code == 0
        if code not in (0, None):
            self.pin_reason = f"`taskset MASK true` exited with {code}"

    def _policies(self) -> dict:
        sensors = self.sensors or Sensors()
        return {p.name: (p.cpus, p.cpuinfo_max_khz) for p in sensors.policies.values()}

    def cpu_plan(self, explicit_threads: int | None = None) -> cpu_topology.CpuPlan:
        """Threads and cores for a tool (``devices.cpu_topology``): read once per session."""
        return cpu_topology.plan(self._policies(), explicit_threads, self.can_pin,
                                 self.pin_reason)

    def close(self, abnormal: bool = False) -> dict:
        """Restore charging (once), stop what interrupted jobs left running; the session's
        summary. After Ctrl-C or an error (``abnormal``) the link is reset first: its state is
        unknown, and its closing makes the phone's guardian restore charging by itself."""
        if self.closed or not self.opened:
            return {}
        self.closed = True
        device = self.device
        if abnormal or self._broken:
            try:
                device.transport.close()  # also stops a tool still running on the phone
            except Exception:
                pass
        if self._stray_pids:
            try:
                device.run("kill " + " ".join(map(str, self._stray_pids)) + " 2>/dev/null",
                           check=False, timeout_s=10)
            except Exception:
                pass
        charging = self.charging
        out = {"charging": charging.record() if charging else None, "jobs": self.counts["jobs"],
               "baselines_measured": self.counts["baselines_measured"],
               "baselines_reused": self.counts["baselines_reused"],
               "calibration": self.calib.provenance, "gauge_lag_s": self.lag_s}
        if charging is not None and charging.suspend is not None:
            out["charging_restore"] = charging.restore()
        if hasattr(device, "push_memo"):
            device.push_memo = None
        return out

    def __enter__(self) -> PhoneSession:
        return self.open() if not self.opened else self

    def __exit__(self, exc_type, *_exc) -> None:
        self.close(abnormal=exc_type is not None)

    # --- per job ----------------------------------------------------------------------------

    @contextmanager
    def measure(self, pid_file: str | None = None, idle_s: float | None = None,
                expect_active_s: float | None = None,
                label: str | None = None) -> Iterator[JobMeasurement]:
        """One job's measurement (see the module's docstring). ``expect_active_s``: how long
        the caller knows the active window will last at least (None: unknown), so that no
        idle gap is needed before it when the interior reading will do."""
        if self.closed:  # charging is restored: a job must not suspend it again
            from npubench.errors import DeviceError

            raise DeviceError(self.device.spec, "the phone's session was closed (its run or "
                              "farm night ended) before this job measured")
        if not self.opened:
            self.open()
        device, opts = self.device, self.options
        idle_s = opts.idle_s if idle_s is None else idle_s
        self.counts["jobs"] += 1
        m = JobMeasurement(device, self.sensors)
        sensors = self.sensors
        pre: dict[str, dict] = dict(self.pre)
        validity: list[str] = []
        clock = "/proc/uptime"
        cooldown = Cooldown(device, sensors, opts.cooldown_c, opts.cooldown_timeout_s,
                            opts.poll_s, also_read=(clock, *filter(None, (
                                sensors.capacity_path, sensors.status_path))))
        pre["cooldown"] = cooldown.apply().as_dict()
        if cooldown.validity_reason:
            validity.append(cooldown.validity_reason)
        status = (cooldown.extra.get(sensors.status_path) or b"").decode().strip() or None
        charging = self.charging
        epoch = 0
        if charging is not None:
            if self.power_reason is None:
                self.power_reason = charging.keep(status)
            if charging.record() is not None:
                pre["charging"] = charging.record()
            epoch = charging.epoch
        power_reason = self.power_reason
        state = PhoneState(_number(cooldown.extra.get(clock)), cooldown.hottest_c,
                           _number(cooldown.extra.get(sensors.capacity_path)), epoch)
        status_start = thermal_status(device)
        sampler = PhoneSampler(device, sensors, opts.interval_s, pid_file)
        sampler.start()
        idle_mw = None
        if power_reason is None and sampler.pid is None:
            power_reason = "; ".join(sampler.reasons)
        elif power_reason is None and idle_s <= 0:
            power_reason = "no idle baseline (idle_baseline_s is 0)"
        elif power_reason is None:
            reuse, why = decide(self.baseline, state, opts.rule)
            if reuse:
                self.counts["baselines_reused"] += 1
                pre["idle_baseline"] = self.baseline.describe(state, True, why)
            else:
                pre["idle_baseline"], power_reason = self._measure_baseline(
                    sampler, state, status, idle_s, why, label)
            pre["idle_baseline"]["rule"] = opts.rule.as_dict()
            if self.baseline is not None and power_reason is None:
                idle_mw = self.baseline.idle_mw
                lag = self.lag_s or DEFAULT_LAG_S
                long_enough = expect_active_s is not None and interior_window(
                    0.0, expect_active_s, lag) is not None
                if reuse and not long_enough:
                    m.pre_gap_s = lag + 2 * opts.interval_s
        body_start = device_uptime_s(device)
        try:
            yield m
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C: no more talk on this link
                self._broken = True
                if sampler.pid is not None:
                    self._stray_pids.append(sampler.pid)
                raise
            self._finish(m, sampler, body_start, power_reason, idle_mw, status_start, pre,
                         validity, pid_file)
            raise
        self._finish(m, sampler, body_start, power_reason, idle_mw, status_start, pre,
                     validity, pid_file)

    def _finish(self, m: JobMeasurement, sampler: PhoneSampler, body_start, power_reason,
                idle_mw, status_start, pre, validity, pid_file) -> None:
        try:
            if not m._marked:
                m.window = [body_start, device_uptime_s(self.device)]
                m._ended_at = time.monotonic()
            if power_reason is None and sampler.pid is not None:
                self._wait_tail(m)
            telemetry = sampler.stop()
            m.result = job_result(
                telemetry, self.sensors, tuple(m.window), power_reason,
                PowerInputs(self.calib.calibration, self.calib.provenance, idle_mw, self.lag_s),
                (m.iterations, m.measured_s), (status_start, thermal_status(self.device)),
                pre, validity, pid_file)
        except Exception as exc:  # a bug here must not hide the job's own outcome
            sampler.stop()
            m.result = failed_result(_reason(exc), pre, validity)

    def _wait_tail(self, m: JobMeasurement) -> None:
        """Keep sampling for as long as the gauge's lag needs after the window."""
        a0, a1 = m.window
        lag = self.lag_s or DEFAULT_LAG_S
        if self.options.tail_s is not None:
            need = self.options.tail_s
        elif a0 is None or a1 is None:
            need = 0.0
        else:
            need = tail_needed_s(a0, a1, lag, self.options.interval_s)
        left = need - (time.monotonic() - (m._ended_at or time.monotonic()))
        if left > 0:
            time.sleep(left)

    def _measure_baseline(self, sampler: PhoneSampler, state: PhoneState, status: str | None,
                          idle_s: float, why: str, label: str | None) -> tuple[dict, str | None]:
        """Settle, then ``idle_s`` of idle; calibration (stored, or from these samples) and
        the gauge lag; the new baseline. (pre entry, why power is unavailable or None)."""
        opts = self.options
        lag = self.lag_s
        settle = opts.settle_s if lag is None else 2 * lag + 2 * opts.interval_s
        suspended_at = self.charging.suspended_at if self.charging else None
        if suspended_at is not None:  # the gauge must leave the charging readings behind
            settle = max(settle, opts.settle_s - (time.monotonic() - suspended_at))
        step = IdleBaseline(self.device, idle_s, settle)
        result = step.apply()
        entry = {**result.as_dict(), "reused": False, "reason": why, "settle_s": round(settle, 3)}
        if not result.applied:
            return entry, result.reason
        samples = sampler.peek()
        t0, t1 = step.window
        try:
            if samples is None or "current_now" not in samples.values:
                raise ValueError("the sampler's idle samples could not be read")
            # the gauge's lag: the larger of what these samples show and what was known (a
            # gauge that holds its value at idle, or a short baseline, shows nothing)
            seen = observed_lag_s(samples.t_s, samples.values["current_now"])
            self.lag_s = max(seen, self.lag_s or 0.0) if seen else self.lag_s
            cal = self.calib.decide(samples.between(t0, t1), status, self.lag_s)
            idle_mw = power_mw(samples, cal, t0, t1)
        except ValueError as exc:
            return entry, str(exc)
        taken = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        at_end = PhoneState(t1, state.hottest_c, state.level_percent, state.charging_epoch)
        self.baseline = Baseline((t0, t1), idle_mw, at_end, taken, label)
        self.counts["baselines_measured"] += 1
        return {**self.baseline.describe(at_end, False, why), "settle_s": round(settle, 3)}, None


@contextmanager
def prepare_power_measurement(
        device, *, measure_power: bool = True, cooldown_c: float = 40.0,
        cooldown_timeout_s: float = 300.0, min_battery_percent: float = 20.0,
        idle_s: float = 3.0, settle_s: float = 1.0, tail_s: float | None = None,
        interval_s: float = 0.04, pid_file: str | None = None,
        poll_s: float = 1.0) -> Iterator[JobMeasurement]:
    """One job in a session of its own: everything prepared before it and restored after it
    (what each phone job did before sessions; for a single measurement). The session's
    ``charging_restore`` is in ``result["preconditions"]``."""
    options = SessionOptions(measure_power, cooldown_c, cooldown_timeout_s, min_battery_percent,
                             idle_s, settle_s, tail_s, interval_s, poll_s)
    session = PhoneSession(device, options)
    m = None
    try:
        session.open()
        with session.measure(pid_file=pid_file) as m:
            yield m
    finally:
        closing = session.close(abnormal=sys.exc_info()[0] is not None
                                and not isinstance(sys.exc_info()[1], Exception))
        if m is not None and m.result is not None and "charging_restore" in closing:
            m.result["preconditions"]["charging_restore"] = closing["charging_restore"]
