"""A farm phone's health before each job: reachable over ADB, battery inside the window, cool
enough (after a cooldown of at most ``cooldown_timeout_s``), enough free storage.

``judge`` is pure (readings + limits -> the reasons it is not healthy); ``check`` reads the
phone. A phone that fails twice in a night is quarantined by its pool (``farm.pool``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from npubench.errors import DeviceError, one_line
from npubench.harness.farm.config import Limits

STRIKES_TO_QUARANTINE = 2


@dataclass
class Health:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    readings: dict[str, Any] = field(default_factory=dict)
    cooldown_s: float = 0.0
    """How long the phone was left to cool before the job (0: it was cool)."""

    @property
    def reason(self) -> str | None:
        return "; ".join(self.reasons) or None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, "cooldown_s": round(self.cooldown_s, 2),
                **self.readings}


def judge(readings: dict[str, Any], limits: Limits) -> list[str]:
    """Why a phone with these readings may not run a job (empty: it may). A reading that is
    None was not available and is not held against the phone (its reason is in the
    readings); a phone that does not answer at all fails before this is asked."""
    reasons = []
    level = readings.get("battery_percent")
    if level is not None and level < limits.battery_min_percent:
        reasons.append(f"battery at {level:g} %, under battery_min_percent "
                       f"{limits.battery_min_percent:g} %: let it charge")
    if level is not None and level > limits.battery_max_percent:
        reasons.append(f"battery at {level:g} %, over battery_max_percent "
                       f"{limits.battery_max_percent:g} %")
    hottest = readings.get("temperature_c")
    if hottest is not None and hottest >= limits.max_temperature_c:
        reasons.append(f"hot: {readings.get('hottest_zone') or 'hottest zone'} at "
                       f"{hottest:.1f} °C after {readings.get('cooldown_s', 0):.0f} s of "
                       f"cooldown (max_temperature_c {limits.max_temperature_c:g})")
    free = readings.get("free_mb")
    if free is not None and free < limits.min_free_mb:
        reasons.append(f"{free:.0f} MB free in /data/local/tmp, under min_free_mb "
                       f"{limits.min_free_mb}: free space on the phone")
    return reasons


def check(device, sensors, limits: Limits, poll_s: float = 1.0) -> Health:
    """Read the phone and judge it; waits for it to cool down first (up to the limit). Two
    shell calls when the phone is cool: ``df`` (it answers, and its free storage), then the
    zones and the battery level in one read."""
    from npubench.devices.phone_steps import BatteryCheck, Cooldown
    from npubench.devices.phone_telemetry import _number

    started = time.monotonic()
    readings: dict[str, Any] = {}
    try:
        readings["free_mb"] = round(device.free_bytes() / 2**20, 1)
    except DeviceError as exc:
        if "df" not in str(exc):  # no answer at all, not an odd df
            return Health(False, [f"ADB: the phone does not answer ({one_line(exc)})"])
        readings.update(free_mb=None, free_missing_reason=one_line(exc))
    except Exception as exc:
        return Health(False, [f"ADB: the phone does not answer ({one_line(exc)})"])
    capacity = getattr(sensors, "capacity_path", None)
    if sensors is not None and sensors.hot_zones():
        step = Cooldown(device, sensors, threshold_c=limits.max_temperature_c,
                        timeout_s=limits.cooldown_timeout_s, poll_s=poll_s,
                        also_read=(capacity,) if capacity else ())
        result = step.apply()
        details = result.details or {}
        readings.update(temperature_c=step.hottest_c, hottest_zone=details.get("hottest_zone"),
                        cooldown_s=details.get("waited_s", 0.0))
        if not result.applied:
            readings["temperature_missing_reason"] = result.reason
        if capacity:
            readings["battery_percent"] = _number(step.extra.get(capacity))
    else:
        readings.update(temperature_c=None, temperature_missing_reason="no CPU/SoC zone found")
    if "battery_percent" not in readings or readings["battery_percent"] is None:
        try:
            level = BatteryCheck(device, sensors).show()["level_percent"] if capacity else None
            readings["battery_percent"] = level
            if level is None:
                readings["battery_missing_reason"] = "no battery capacity file found"
        except Exception as exc:
            readings.update(battery_percent=None, battery_missing_reason=one_line(exc))
    reasons = judge(readings, limits)
    cooled = float(readings.get("cooldown_s") or 0.0)
    readings["check_s"] = round(time.monotonic() - started, 3)
    return Health(not reasons, reasons, readings, cooled)
