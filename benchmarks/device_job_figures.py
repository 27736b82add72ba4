"""Figures of issue 4, measured THROUGH THE HARNESS on the simulated phone (both profiles, so
both current-sign conventions and units):

* energy per inference within 5% of the simulated phone's ground truth (its physics knows the
  energy it drew) — the same formula, (active - idle) x inference time / iterations, with the
  truth's powers taken over the harness's own windows;
* the sampler's rate (>= 20 samples/s) and largest gap (<= 200 ms);
* harness time per job outside the tool's own run (< 1.5 s), the power-measurement waits
  (idle baseline, settle, tail) and the cooldown wait (the phone's, not the harness's) apart.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path

from npubench.devices.android import AndroidDevice
from npubench.devices.hashcache import HashCache
from npubench.devices.sim import start_sim
from npubench.devices.transport import AdbShellTransport
from npubench.harness.device_job import DeviceJobOptions
from npubench.harness.plan import make_plan
from npubench.harness.run import PhoneContext, execute, new_run_id, start_run
from npubench.harness.settings import MeasureSettings
from npubench.harness.tools import ToolConfig
from npubench.workloads.registry import resolve

WORKLOADS = ["face_detection_short_range", "face_landmark"]
BACKENDS = ["tflite:xnnpack", "tflite:gpu", "npu"]
IDLE_S, SETTLE_S, TAIL_S = 2.0, 1.0, 1.5  # phone_steps defaults besides idle


def run_profile(profile: str, tmp: Path) -> list[dict]:
    phone = start_sim(profile)
    host, port = phone.address
    device = AndroidDevice(AdbShellTransport("tcp", host, port), f"sim:{profile}",
                           simulated=True, hash_cache=HashCache(tmp / "h.json")).connect()
    settings = MeasureSettings(max_seconds=3, idle_baseline_s=IDLE_S, device_rounds_min=5)
    tools = ToolConfig()
    from npubench.harness.device_job import phone_backends

    jobs = make_plan([device], [resolve(w) for w in WORKLOADS], BACKENDS,
                     known_backends=lambda d: phone_backends(d, tools))
    run_id = new_run_id()
    store = start_run(tmp / profile, run_id, {}, None)
    outcome = execute(jobs, store, run_id, settings,
                      phone=PhoneContext(tools, DeviceJobOptions(cooldown_timeout_s=120)))
    physics = phone.userland.physics
    rows = []
    for r in outcome.records:
        if r["status"] != "ok" or not r.get("power"):
            rows.append({"job": r["job_id"], "status": r["status"], "error": r.get("error"),
                         "power_missing_reason": r.get("power_missing_reason")})
            continue
        a0, a1 = r["telemetry"]["window_s"]
        i0, i1 = r["preconditions"]["idle_baseline"]["window"]
        active_true_mw = physics.energy_between(a0, a1) / (a1 - a0) * 1e3
        idle_true_mw = physics.energy_between(i0, i1) / (i1 - i0) * 1e3
        truth = (active_true_mw - idle_true_mw) * r["measured_s"] / r["iterations"]
        measured = r["power"]["energy_mj_per_inference"]
        cooldown_s = (r["preconditions"].get("cooldown") or {}).get("waited_s") or 0.0
        outside = r["duration_s"] - r["tool"]["wall_s"] - IDLE_S - SETTLE_S - TAIL_S - cooldown_s
        rows.append({
            "job": r["job_id"], "energy_mj_per_inference": round(measured, 4),
            "truth_mj_per_inference": round(truth, 4),
            "error_percent": round((measured - truth) / truth * 100, 2),
            "sampler_rate_hz": r["telemetry"]["rate_hz"],
            "sampler_max_gap_ms": r["telemetry"]["max_gap_ms"],
            "job_s": r["duration_s"], "tool_s": r["tool"]["wall_s"],
            "cooldown_s": cooldown_s,
            "harness_outside_tool_s": round(outside, 3),
            "delegation": r["delegation"]["status"],
        })
    device.close()
    phone.stop()
    return rows


def main() -> None:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("ANDROID_USER_HOME", str(Path(tmp) / "android"))
        for profile in ("sm8650", "mt6989"):
            out[profile] = run_profile(profile, Path(tmp))
    ok = [row for rows in out.values() for row in rows if "error_percent" in row]
    out["summary"] = {
        "jobs_measured": len(ok),
        "max_abs_energy_error_percent": max(abs(r["error_percent"]) for r in ok),
        "energy_met": all(abs(r["error_percent"]) <= 5 for r in ok),
        "min_sampler_rate_hz": min(r["sampler_rate_hz"] for r in ok),
        "max_sampler_gap_ms": max(r["sampler_max_gap_ms"] for r in ok),
        "sampler_met": all(r["sampler_rate_hz"] >= 20 and r["sampler_max_gap_ms"] <= 200
                           for r in ok),
        "median_harness_outside_tool_s": statistics.median(r["harness_outside_tool_s"]
                                                           for r in ok),
        "max_harness_outside_tool_s": max(r["harness_outside_tool_s"] for r in ok),
        "overhead_met": all(r["harness_outside_tool_s"] < 1.5 for r in ok),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
