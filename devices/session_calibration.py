"""The fuel gauge's calibration over a phone session: decided once, at the session's first idle
baseline, from the cache when this model and build have one (``devices.calibration_store``)
and this run's idle samples agree with it (or cannot say), else from these samples, and then
stored for the next run. ``provenance`` says which, for every record."""

from __future__ import annotations

import time

from npubench.devices.calibration_store import CalibrationStore, StoredCalibration
from npubench.devices.phone_power import Calibration, Samples, calibrate


class SessionCalibration:
    """``key``: the phone's model and build (``calibration_store.device_key``); ``store``
    None: the cache is neither read nor written."""

    def __init__(self, store: CalibrationStore | None, key: str | None, run_id: str | None):
        self.store, self.key, self.run_id = store, key, run_id
        self.stored: StoredCalibration | None = store.get(key) if store is not None else None
        self.calibration: Calibration | None = None
        self.provenance: str | None = None

    @property
    def stored_lag_s(self) -> float | None:
        return self.stored.gauge_lag_s if self.stored is not None else None

    def decide(self, idle: Samples, status: str | None, lag_s: float | None) -> Calibration:
        """The session's calibration (decided on the first call; see the module's docstring).
        Raises ValueError when there is none to be had."""
        if self.calibration is not None:
            return self.calibration
        try:
            fresh = calibrate(idle.values["current_now"], idle.values["voltage_now"], status)
        except ValueError:
            if self.stored is None:
                raise
            fresh = None
        stored = self.stored
        if stored is not None and (fresh is None or same(fresh, stored.calibration)):
            self.calibration, self.provenance = stored.calibration, stored.provenance
            return self.calibration
        self.calibration = fresh
        self.provenance = (f"calibrated in this run ({self.run_id or 'this run'}, "
                           f"{time.strftime('%Y-%m-%d %H:%M:%S')})")
        if stored is not None:
            self.provenance += (f"; the {stored.provenance} disagreed "
                                f"({stored.calibration.as_dict()})")
        if self.store is not None:
            self.store.put(self.key, fresh, lag_s, self.run_id)
        return fresh


def same(a: Calibration, b: Calibration) -> bool:
    return (a.current_unit, a.discharge_sign, a.voltage_unit) == (
        b.current_unit, b.discharge_sign, b.voltage_unit)
