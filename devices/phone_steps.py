"""System state for measuring a phone: small steps that show, apply and restore one thing
each (charging, cooldown, battery level, idle baseline), and ``prepare_power_measurement``,
which composes them around a job. A step that cannot be applied records "not applied" with
the reason instead of failing; what a step changed is restored in a ``finally``, also when
the job failed or the phone had to be reconnected (``AndroidDevice.run`` reconnects)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from npubench.devices.phone_power import (
    DISCHARGING_STATES,
    memory_peak_mb,
    power_summary,
    thermal_summary,
    to_celsius,
)
from npubench.devices.phone_telemetry import (
    PhoneSampler,
    Sensors,
    _number,
    _reason,
    device_uptime_s,
    discover,
    thermal_status,
)

POWER_SOURCE = "battery fuel gauge (current_now x voltage_now)"


class _Step:
    name = "step"

    def restore(self) -> StepResult:
        return StepResult(self.name, False, "nothing to restore")


@dataclass
class StepResult:
    step: str
    applied: bool
    reason: str | None = None  # why it was not applied (or not restored)
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"applied": self.applied, "reason": self.reason, **self.details}


def parse_dumpsys_battery(text: str) -> dict:
    """``dumpsys battery``: {plugged, usb, ac, wireless, status (int), level, frozen}."""
    values = dict(re.findall(r"^\s*([A-Za-z ]+):\s*(\S+)\s*$", text, re.M))
    powered = {k: values.get(f"{name} powered") == "true"
               for k, name in (("ac", "AC"), ("usb", "USB"), ("wireless", "Wireless"))}
    level = values.get("level", "")
    return {**powered, "plugged": any(powered.values()),
            "status": int(values["status"]) if values.get("status", "").isdigit() else None,
            "level": int(level) if level.isdigit() else None,
            "frozen": "UPDATES STOPPED" in text}


class SuspendCharging:
    """``dumpsys battery suspend_input``: the phone runs on its battery although USB is
    plugged, so the fuel gauge measures what it draws. Works on debuggable builds of recent
    Android; elsewhere power is unavailable (``power_reason`` says why) and charging is left
    untouched. ``restore`` runs ``dumpsys battery reset`` whenever suspend_input was sent."""

    name = "suspend_charging"

    def __init__(self, device, status_path: str = "/sys/class/power_supply/battery/status",
                 verify_timeout_s: float = 3.0):
        self.device, self.status_path, self.verify_timeout_s = device, status_path, verify_timeout_s
        self.power_ok, self.power_reason = False, None
        self.status: str | None = None  # battery status once applied
        self._touched = False  # suspend_input was sent and not refused: reset on restore

    def show(self) -> dict:
        out = self.device.run(f"dumpsys battery; echo @@; cat {self.status_path} 2>/dev/null",
                              check=False).text
        service, _, status = out.partition("@@")
        return {**parse_dumpsys_battery(service), "sysfs_status": status.strip() or None}

    def apply(self) -> StepResult:
        try:
            before = self.show()
            if not before["plugged"] and before["sysfs_status"] in DISCHARGING_STATES:
                self.power_ok, self.status = True, before["sysfs_status"]
                return StepResult(self.name, False, "not needed: no charger is online",
                                  {"before": before})
            self._touched = True
            result = self.device.run("dumpsys battery suspend_input", check=False)
            refused = _refusal(result.text)
            if refused:
                self._touched = False
                return self._fail(f"charging could not be suspended ({refused})", before)
            deadline = time.monotonic() + self.verify_timeout_s
            while True:
                self.status = self.show()["sysfs_status"]
                if self.status in DISCHARGING_STATES:
                    self.power_ok = True
                    return StepResult(self.name, True, None,
                                      {"before": before, "status": self.status})
                if time.monotonic() > deadline:
                    self.restore()
                    return self._fail("charging continues after suspend_input (battery "
                                      f"status {self.status!r})", before)
                time.sleep(0.2)
        except Exception as exc:
            return self._fail(f"charging could not be suspended: {_reason(exc)}", None)

    def _fail(self, reason: str, before: dict | None) -> StepResult:
        self.power_ok, self.power_reason = False, reason
        return StepResult(self.name, False, reason, {"before": before})

    def restore(self, attempts: int = 3) -> StepResult:
        if not self._touched:
            return StepResult(self.name, False, "nothing to restore")
        last = ""
        for attempt in range(attempts):
            try:
                self.device.run("dumpsys battery reset", check=False)
                self._touched = False
                return StepResult(self.name, True, None, {"attempts": attempt + 1})
            except Exception as exc:  # reconnects on the next try
                last = _reason(exc)
                time.sleep(0.5 * (attempt + 1))
        return StepResult(self.name, False, f"charging may still be suspended ({last}): run "
                          "`adb shell dumpsys battery reset`")


def _refusal(text: str) -> str | None:
    """The reason in suspend_input's answer (SecurityException, unknown command), or None."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "Exception" in line and ":" in line and line.startswith("java."):
            return line
    for line in lines:
        if re.search(r"exception|unknown|not supported|denied|usage", line, re.I):
            return line
    return None


class Cooldown(_Step):
    """Wait until the hottest CPU/SoC zone is under ``threshold_c`` (one batched read each
    ``poll_s``), at most ``timeout_s``. Timed out: the job's thermal precondition is not met
    (``validity_reason``; the caller marks the job semivalid)."""

    name = "cooldown"

    def __init__(self, device, sensors: Sensors, threshold_c: float = 40.0,
                 timeout_s: float = 300.0, poll_s: float = 1.0):
        self.device, self.sensors = device, sensors
        self.threshold_c, self.timeout_s, self.poll_s = threshold_c, timeout_s, poll_s
        self.validity_reason: str | None = None

    def show(self) -> dict:
        zones = self.sensors.hot_zones()
        raw = self.device.read_files(list(zones.values()))
        temps = {}
        for zone, path in zones.items():
            value = _number(raw.get(path))
            if value is not None:
                c = float(to_celsius([value], self.sensors.zone_divisors[zone])[0])
                if c == c:  # not NaN
                    temps[zone] = c
        return temps

    def apply(self) -> StepResult:
        start = time.monotonic()
        try:
            first = now = self.show()
            while now and max(now.values()) >= self.threshold_c:
                left = self.timeout_s - (time.monotonic() - start)
                if left <= 0:
                    break
                time.sleep(min(self.poll_s, left))
                now = self.show()
        except Exception as exc:
            return StepResult(self.name, False, f"temperatures unreadable: {_reason(exc)}")
        if not now:
            return StepResult(self.name, False, "no CPU/SoC temperature readable")
        zone = max(now, key=now.get)
        reached = now[zone] < self.threshold_c
        waited = round(time.monotonic() - start, 2)
        details = {"reached": reached, "waited_s": waited, "threshold_c": self.threshold_c,
                   "start_c": round(max(first.values()), 1), "end_c": round(now[zone], 1),
                   "hottest_zone": zone}
        if not reached:
            self.validity_reason = (f"thermal precondition not met: {zone} at {now[zone]:.1f} "
                                    f"°C after {waited:.0f} s of cooldown (threshold "
                                    f"{self.threshold_c:g} °C)")
        return StepResult(self.name, True, self.validity_reason, details)


class BatteryCheck(_Step):
    """The battery level (``capacity``) must be at least ``min_percent``: fuel gauges behave
    differently along the discharge curve, and a draining phone may shut down."""

    name = "battery_check"

    def __init__(self, device, sensors: Sensors, min_percent: float = 20.0):
        self.device, self.sensors, self.min_percent = device, sensors, min_percent
        self.ok = True

    def show(self) -> dict:
        path = self.sensors.capacity_path
        value = _number(self.device.read_files([path])[path]) if path else None
        return {"level_percent": value}

    def apply(self) -> StepResult:
        try:
            level = self.show()["level_percent"]
        except Exception as exc:
            return StepResult(self.name, False, f"battery level unreadable: {_reason(exc)}")
        if level is None:
            return StepResult(self.name, False, "battery level (capacity) unreadable")
        self.ok = level >= self.min_percent
        reason = None if self.ok else (f"battery at {level:g} %, under the {self.min_percent:g} "
                                       "% needed to measure power: charge the phone first")
        return StepResult(self.name, True, reason, {"level_percent": level})


class IdleBaseline(_Step):
    """``seconds`` of doing nothing while a sampler runs (after ``settle_s`` for the gauge to
    leave the charging readings behind); the window, in device uptime, is ``window``."""

    name = "idle_baseline"

    def __init__(self, device, seconds: float = 3.0, settle_s: float = 1.0):
        self.device, self.seconds, self.settle_s = device, seconds, settle_s
        self.window: tuple[float, float] | None = None

    def show(self) -> dict:
        return {"seconds": self.seconds, "settle_s": self.settle_s, "window": self.window}

    def apply(self) -> StepResult:
        time.sleep(self.settle_s)
        t0 = device_uptime_s(self.device)
        time.sleep(self.seconds)
        t1 = device_uptime_s(self.device)
        if t0 is None or t1 is None or t1 <= t0:
            return StepResult(self.name, False, "the phone's uptime could not be read")
        self.window = (t0, t1)
        return StepResult(self.name, True, None, {"window": [t0, t1]})


# --- composition -----------------------------------------------------------------------------

@dataclass
class PowerSession:
    """Yielded by ``prepare_power_measurement``: ``with session.active():`` narrows the active
    window (the whole body by default), ``set_work`` gives what energy per inference needs,
    ``result`` is the record-ready dict once the ``with`` block has ended."""

    device: object
    sensors: Sensors | None = None
    window: list[float | None] = field(default_factory=lambda: [None, None])
    iterations: int | None = None
    measured_s: float | None = None
    result: dict | None = None
    _marked: bool = False

    @contextmanager
    def active(self) -> Iterator[None]:
        self._marked = True
        self.window[0] = device_uptime_s(self.device)
        try:
            yield
        finally:
            self.window[1] = device_uptime_s(self.device)

    def set_work(self, iterations: int, measured_s: float) -> None:
        self.iterations, self.measured_s = iterations, measured_s


@contextmanager
def prepare_power_measurement(
        device, *, measure_power: bool = True, cooldown_c: float = 40.0,
        cooldown_timeout_s: float = 300.0, min_battery_percent: float = 20.0,
        idle_s: float = 3.0, settle_s: float = 1.0, tail_s: float = 1.5,
        interval_s: float = 0.04, pid_file: str | None = None,
        poll_s: float = 1.0) -> Iterator[PowerSession]:
    """snapshot -> cooldown -> battery check -> suspend charging -> sampler with idle baseline
    -> the body (the caller runs the tool) -> ``tail_s`` more samples (the gauge trails) ->
    restore charging (always) -> ``session.result``: power, thermal, memory, validity
    reasons, preconditions and the raw samples. Power is None with ``power_missing_reason``
    whenever it cannot be measured honestly; nothing here raises into the body."""
    session = PowerSession(device)
    pre: dict[str, dict] = {}
    notes = {"power": None if measure_power else "power measurement not asked for",
             "validity": []}
    suspend = SuspendCharging(device)
    sampler = idle = status_start = None
    try:
        try:
            session.sensors = sensors = discover(device)
        except Exception as exc:
            sensors = Sensors(missing={"all": f"sensor discovery failed: {_reason(exc)}"})
            session.sensors = sensors
        pre["sensors"] = sensors.summary()
        cooldown = Cooldown(device, sensors, cooldown_c, cooldown_timeout_s, poll_s)
        pre["cooldown"] = cooldown.apply().as_dict()
        if cooldown.validity_reason:
            notes["validity"].append(cooldown.validity_reason)
        if measure_power:
            notes["power"] = _charging_steps(device, sensors, suspend, min_battery_percent, pre)
        status_start = thermal_status(device)
        sampler = PhoneSampler(device, sensors, interval_s, pid_file)
        sampler.start()
        if notes["power"] is None and idle_s > 0 and sampler.pid is not None:
            idle = IdleBaseline(device, idle_s, settle_s)
            pre["idle_baseline"] = idle.apply().as_dict()
        body_start = device_uptime_s(device)
        try:
            yield session
        finally:
            if not session._marked:
                session.window = [body_start, device_uptime_s(device)]
            if notes["power"] is None and sampler.pid is not None:
                time.sleep(tail_s)  # the gauge trails: keep sampling past the body
    finally:
        try:
            pre["charging_restore"] = suspend.restore().as_dict()
        finally:
            telemetry = sampler.stop() if sampler is not None else None
            try:
                session.result = _record(session, telemetry, notes, pre, idle, suspend,
                                         (status_start, thermal_status(device)), pid_file)
            except Exception as exc:  # a bug here must not hide the job's own outcome
                session.result = {"power": None, "thermal": None, "preconditions": pre,
                                  "power_missing_reason": f"analysis failed: {_reason(exc)}",
                                  "validity_reasons": notes["validity"]}


def _charging_steps(device, sensors: Sensors, suspend: SuspendCharging,
                    min_battery_percent: float, pre: dict) -> str | None:
    """Battery check, then suspend charging; the reason power cannot be measured, or None."""
    check = BatteryCheck(device, sensors, min_battery_percent)
    pre["battery"] = check.apply().as_dict()
    if not sensors.has_power:
        return "no fuel gauge: " + "; ".join(
            sensors.missing[k] for k in ("battery", "current_now", "voltage_now")
            if k in sensors.missing)
    if not check.ok:
        return pre["battery"]["reason"]
    if sensors.status_path:
        suspend.status_path = sensors.status_path
    pre["charging"] = suspend.apply().as_dict()
    return None if suspend.power_ok else suspend.power_reason


def _record(session: PowerSession, telemetry, notes: dict, pre: dict, idle, suspend,
            statuses: tuple, pid_file: str | None) -> dict:
    samples = telemetry.samples if telemetry is not None else None
    sensors = session.sensors or Sensors()
    a0, a1 = session.window
    result = {"power": None, "power_missing_reason": notes["power"], "thermal": None,
              "thermal_missing_reason": None, "memory_peak_mb": None, "memory_source": None,
              "validity_reasons": list(notes["validity"]), "preconditions": pre,
              "telemetry": {"clock": "device uptime", "window_s": [a0, a1],
                            **(telemetry.quality if telemetry else {}),
                            "reasons": telemetry.reasons if telemetry else []},
              "samples": telemetry.side_file() if telemetry is not None else None}
    if samples is None:
        why = "; ".join(telemetry.reasons) if telemetry else "the sampler did not run"
        result["power_missing_reason"] = result["power_missing_reason"] or why
        result["thermal_missing_reason"] = why
        return result
    if result["power_missing_reason"] is None:
        try:
            if idle is None or idle.window is None:
                raise ValueError("no idle baseline window")
            result["power"] = {"source": POWER_SOURCE, **power_summary(
                samples, suspend.status, idle.window, (a0, a1), session.iterations,
                session.measured_s)}
        except ValueError as exc:
            result["power_missing_reason"] = str(exc)
    try:
        active = samples.between(a0, a1) if a0 is not None and a1 is not None else samples
        caps = {p.name: p.cpuinfo_max_khz for p in sensors.policies.values()}
        thermal = thermal_summary(active if active.n else samples, sensors.zone_kinds,
                                  {k: v for k, v in caps.items() if v}, statuses,
                                  sensors.zone_divisors)
        result["thermal"] = {**thermal, "source": "thermal zones by type (sysfs), cpufreq "
                             "caps, dumpsys thermalservice", "status_start": statuses[0],
                             "status_end": statuses[1]}
    except ValueError as exc:
        result["thermal_missing_reason"] = str(exc)
    if pid_file:
        peak = memory_peak_mb(samples.vm_hwm_kb)
        result["memory_peak_mb"] = peak
        result["memory_source" if peak else "memory_missing_reason"] = (
            f"VmHWM of the process in {pid_file} (/proc/PID/status, sampled at "
            f"{telemetry.quality.get('rate_hz')} Hz)" if peak else
            f"no VmHWM: the process in {pid_file} was never seen in /proc")
    return result
