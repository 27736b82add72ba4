"""Charging over a phone session: checked and suspended once when the session opens, suspended
again only where the phone restored it (its guardian does when the link drops), restored once
when it closes (``devices.charging_guard`` makes that happen even when npubench cannot)."""

from __future__ import annotations

import time

from npubench.devices.charging_guard import ChargingGuard
from npubench.devices.phone_power import DISCHARGING_STATES
from npubench.devices.phone_steps import BatteryCheck, SuspendCharging
from npubench.devices.phone_telemetry import Sensors


class SessionCharging:
    """``open`` -> the reason power cannot be measured (None: charging is suspended or not
    needed); ``keep`` before each job; ``restore`` at the end. ``epoch`` counts suspensions
    (an idle baseline is valid within one); ``pre`` holds the record's blocks."""

    def __init__(self, device, sensors: Sensors, run_id: str | None,
                 min_battery_percent: float = 20.0):
        self.device, self.sensors, self.run_id = device, sensors, run_id
        self.min_battery_percent = min_battery_percent
        self.suspend: SuspendCharging | None = None
        self.epoch = 0
        self.suspended_at: float | None = None  # host clock
        self.pre: dict[str, dict] = {}

    def open(self) -> str | None:
        sensors = self.sensors
        check = BatteryCheck(self.device, sensors, self.min_battery_percent)
        self.pre["battery"] = check.apply().as_dict()
        if not sensors.has_power:
            return "no fuel gauge: " + "; ".join(
                sensors.missing[k] for k in ("battery", "current_now", "voltage_now")
                if k in sensors.missing)
        if not check.ok:
            return self.pre["battery"]["reason"]
        return self._suspend()

    def _suspend(self) -> str | None:
        suspend = SuspendCharging(self.device, guard=ChargingGuard(self.device, self.run_id))
        if self.sensors.status_path:
            suspend.status_path = self.sensors.status_path
        self.suspend = suspend  # before apply(): restore() works even if it is interrupted
        self.pre["charging"] = {**suspend.apply().as_dict(), "scope": "the whole session"}
        self.epoch += 1
        self.suspended_at = time.monotonic()
        return None if suspend.power_ok else suspend.power_reason

    def keep(self, status: str | None) -> str | None:
        """Suspend charging again where the phone has restored it: the guardian's link went
        away, or the battery's ``status`` says it charges. The reason power cannot be measured
        now, or None."""
        suspend = self.suspend
        if suspend is None or not suspend.power_ok or not suspend._touched:
            return None
        guard = suspend.guard
        lost = guard is not None and guard.guardian_reason is None and not guard.alive
        if not lost and (status is None or status in DISCHARGING_STATES):
            return None
        suspend.restore()  # claims the marker if the phone has not yet
        reason = self._suspend()
        self.pre["charging"]["why_again"] = ("the link to the phone was lost (its guardian "
                                             "restored charging)" if lost else
                                             f"the battery reads {status!r}")
        return reason

    def record(self) -> dict | None:
        """The job record's ``charging`` block."""
        block = self.pre.get("charging")
        return {**block, "epoch": self.epoch} if block is not None else None

    def restore(self) -> dict | None:
        return self.suspend.restore().as_dict() if self.suspend is not None else None
