"""System state for measuring a phone: small steps that show, apply and restore one thing
each (charging, cooldown, battery level, idle baseline). A step that cannot be applied records
"not applied" with the reason instead of failing; what a step changed is restored in a
``finally`` (``devices.phone_session`` composes them: once per run, or around each job), also
when a job failed or the phone had to be reconnected (``AndroidDevice.run`` reconnects)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from npubench.devices.phone_power import DISCHARGING_STATES, to_celsius
from npubench.devices.phone_telemetry import Sensors, _number, _reason, device_uptime_s


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
    untouched. ``restore`` runs ``dumpsys battery reset`` whenever suspend_input was sent.
    With a ``guard`` (``devices.charging_guard.ChargingGuard``), the guard is armed before
    suspend_input is sent, so the phone restores charging by itself if npubench cannot, and
    ``restore`` goes through it (restored exactly once, by whoever comes first)."""

    name = "suspend_charging"

    def __init__(self, device, status_path: str = "/sys/class/power_supply/battery/status",
                 verify_timeout_s: float = 3.0, guard=None):
        self.device, self.status_path, self.verify_timeout_s = device, status_path, verify_timeout_s
        self.guard = guard
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
            if self.guard is not None:
                self.guard.arm()
            self._touched = True
            result = self.device.run("dumpsys battery suspend_input", check=False)
            refused = _refusal(result.text)
            if refused:
                self._touched = False
                if self.guard is not None:
                    self.guard.disarm()
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
                details = {"attempts": attempt + 1}
                if self.guard is not None:
                    details.update(self.guard.restore())
                else:
                    self.device.run("dumpsys battery reset", check=False)
                self._touched = False
                return StepResult(self.name, True, None, details)
            except Exception as exc:  # reconnects on the next try
                last = _reason(exc)
                time.sleep(0.5 * (attempt + 1))
        guarded = self.guard is not None and self.guard.held is not None
        return StepResult(self.name, False, f"charging may still be suspended ({last}): " + (
            "the phone's guardian restores it when this connection closes" if guarded else
            "run `adb shell dumpsys battery reset` or `npubench clean`"))


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
                 timeout_s: float = 300.0, poll_s: float = 1.0, also_read: tuple = ()):
        self.device, self.sensors = device, sensors
        self.threshold_c, self.timeout_s, self.poll_s = threshold_c, timeout_s, poll_s
        self.validity_reason: str | None = None
        self.also_read = tuple(also_read)
        """Files read in the same shell call as the zones (the last reading: ``extra``)."""
        self.extra: dict[str, bytes | None] = {}
        self.hottest_c: float | None = None  # the hottest zone at the end

    def show(self) -> dict:
        zones = self.sensors.hot_zones()
        raw = self.device.read_files(list(zones.values()) + list(self.also_read))
        self.extra = {path: raw.get(path) for path in self.also_read}
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
        self.hottest_c = round(now[zone], 1)
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
