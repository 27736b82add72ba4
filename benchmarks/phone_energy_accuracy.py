"""Phone energy accuracy against the simulated phone's ground truth, on both SoC profiles
(Snapdragon: current_now in µA, negative while discharging; Dimensity: mA, positive; their
fuel gauges update every 0.25 s and 0.5 s and report the previous window's mean).

For each profile and load: ``prepare_power_measurement`` suspends charging, calibrates unit
and sign at idle and measures the idle baseline with the on-phone sampler; then a known load
runs (``physics.load``) for ``LOAD_S`` seconds inside ``session.active()``. Compared with
``physics.energy_between`` over the same device-uptime window:

* gross energy of the window (active power x time): target within 5 %;
* net energy (active - idle), what energy per inference is made of: target within 5 %;
* the sampler: rate >= 20 samples/s, largest gap <= 200 ms.

Also reported: what the naive estimate (the samples of the window, no lag handling) would
have given. Prints JSON; exits 1 when a target is missed.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from npubench.devices.android import AndroidDevice
from npubench.devices.phone_session import prepare_power_measurement
from npubench.devices.sim import start_sim
from npubench.devices.transport import AdbShellTransport

LOAD_S = 5.0
LOADS = ({"cores": 4}, {"cores": 1}, {"gpu": 0.6, "cores": 1})
TARGET_REL = 0.05


def measure(profile: str, load: dict) -> dict:
    phone = start_sim(profile)
    host, port = phone.address
    device = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}").connect()
    physics = phone.userland.physics
    try:
        with prepare_power_measurement(device, idle_s=3.0) as session:
            with session.active():
                with physics.load(**load):
                    time.sleep(LOAD_S)
        r = session.result
        a0, a1 = session.window
        i0, i1 = r["preconditions"]["idle_baseline"]["window"]
        truth_j = physics.energy_between(a0, a1)
        idle_truth_mw = physics.energy_between(i0, i1) / (i1 - i0) * 1000
        out = {"profile": profile, "load": load, "window_s": round(a1 - a0, 2)}
        power = r["power"]
        if power is None:
            return {**out, "failed": r["power_missing_reason"]}
        gross_j = power["active_mw"] * (a1 - a0) / 1000
        net_j, net_truth_j = ((power["active_mw"] - power["idle_mw"]) * (a1 - a0) / 1000,
                              truth_j - idle_truth_mw * (a1 - a0) / 1000)
        naive = _naive_mw(r["samples"], power, a0, a1)
        return {**out, "calibration": {k: power["calibration"][k]
                                       for k in ("current_unit", "discharge")},
                "gauge_lag_s": power["gauge_lag_s"],
                "energy_j": round(gross_j, 3), "truth_j": round(truth_j, 3),
                "energy_error": round(gross_j / truth_j - 1, 4),
                "net_energy_j": round(net_j, 3), "net_truth_j": round(net_truth_j, 3),
                "net_error": round(net_j / net_truth_j - 1, 4),
                "idle_mw": power["idle_mw"], "idle_truth_mw": round(idle_truth_mw, 1),
                "naive_error": round(naive * (a1 - a0) / 1000 / truth_j - 1, 4),
                "sample_rate_hz": power["sample_rate_hz"], "max_gap_ms": power["max_gap_ms"]}
    finally:
        device.close()
        phone.stop()


def _naive_mw(side: dict, power: dict, a0: float, a1: float) -> float:
    """Mean V x I of the samples inside the window, ignoring the gauge's lag."""
    from npubench.devices.phone_power import Calibration
    from npubench.energy import mean_power_from_samples

    cal = power["calibration"]
    c = Calibration(cal["current_unit"], -1 if cal["discharge"] == "negative" else 1,
                    cal["voltage_unit"], "")
    col = {name: k for k, name in enumerate(side["columns"])}
    rows = [row for row in side["rows"] if a0 <= row[0] <= a1]
    t = [row[0] for row in rows]
    p = [row[col["current_now"]] * c.amps_per_unit * c.discharge_sign
         * row[col["voltage_now"]] * c.volts_per_unit * 1000 for row in rows]
    return mean_power_from_samples(t, p)


def main() -> int:
    os.environ.setdefault("ANDROID_USER_HOME", tempfile.mkdtemp(prefix="npb-adb-"))
    runs = [measure(profile, load) for profile in ("sm8650", "mt6989") for load in LOADS]
    done = [r for r in runs if "failed" not in r]
    summary = {"worst_energy_error": max((abs(r["energy_error"]) for r in done), default=None),
               "worst_net_error": max((abs(r["net_error"]) for r in done), default=None),
               "worst_naive_error": max((abs(r["naive_error"]) for r in done), default=None),
               "min_rate_hz": min((r["sample_rate_hz"] for r in done), default=None),
               "max_gap_ms": max((r["max_gap_ms"] for r in done), default=None)}
    ok = len(done) == len(runs) and summary["worst_energy_error"] <= TARGET_REL and summary[
        "worst_net_error"] <= TARGET_REL and summary["min_rate_hz"] >= 20 and summary[
        "max_gap_ms"] <= 200
    print(json.dumps({"target": {"energy_rel": TARGET_REL, "rate_hz_min": 20,
                                 "max_gap_ms": 200}, **summary, "ok": ok, "runs": runs},
                     indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
