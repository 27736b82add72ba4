"""The fuel gauge's calibration (unit and sign of ``current_now`` / ``voltage_now``, and how far
the gauge trails: ``gauge_lag_s``), kept per device model and build fingerprint in the cache
folder (``npubench.workloads.fetch.cache_dir()``, ``$NPUBENCH_CACHE``), so that the next run on
a phone of that model and build starts from it (ANDROID_TELEMETRY.md: "calibrate sign and units
per device model at idle ... and store them"). A build update can change the gauge driver, so
the fingerprint is part of the key."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from npubench.devices.phone_power import Calibration
from npubench.workloads.fetch import cache_dir

FILE_NAME = "phone-calibrations.json"


@dataclass(frozen=True)
class StoredCalibration:
    calibration: Calibration
    gauge_lag_s: float | None
    run_id: str | None
    date: str | None

    @property
    def provenance(self) -> str:
        return f"stored calibration from run {self.run_id or '?'} ({self.date or '?'})"


def device_key(model: str | None, fingerprint: str | None) -> str | None:
    """The key of a phone's calibration; None when the phone does not say what it is."""
    if not model or not fingerprint:
        return None
    return f"{model}|{fingerprint}"


class CalibrationStore:
    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / FILE_NAME

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str | None) -> StoredCalibration | None:
        entry = self._load().get(key) if key else None
        if not isinstance(entry, dict):
            return None
        try:
            cal = Calibration(entry["current_unit"], int(entry["discharge_sign"]),
                              entry["voltage_unit"], entry["basis"])
        except (KeyError, TypeError, ValueError):
            return None
        if (cal.current_unit not in ("uA", "mA") or cal.voltage_unit not in ("uV", "mV", "V")
                or cal.discharge_sign not in (-1, 1)):
            return None
        return StoredCalibration(cal, entry.get("gauge_lag_s"), entry.get("run_id"),
                                 entry.get("date"))

    def put(self, key: str | None, cal: Calibration, gauge_lag_s: float | None,
            run_id: str | None) -> StoredCalibration | None:
        """Store (or replace) a calibration; None when it could not be written (a cache that
        cannot be written costs the next run a calibration, nothing more)."""
        if not key:
            return None
        date = time.strftime("%Y-%m-%d %H:%M:%S")
        data = self._load()
        data[key] = {"current_unit": cal.current_unit, "discharge_sign": cal.discharge_sign,
                     "voltage_unit": cal.voltage_unit, "basis": cal.basis,
                     "gauge_lag_s": gauge_lag_s, "run_id": run_id, "date": date}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError:
            return None
        return StoredCalibration(cal, gauge_lag_s, run_id, date)
