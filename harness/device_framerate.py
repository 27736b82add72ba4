"""Frame-rate (sustained) mode on a phone: consecutive short rounds of benchmark_model paced by
its own ``--run_frequency`` (DEVICE_TOOLS.md section 1), one round per window, for the run's
duration, under the phone's own sampler (temperatures, CPU clocks, power).

benchmark_model prints only each round's count/min/max/avg/std, so a window's misses are exact
where the round's max is within the deadline (none) or its min beyond it (all), and bounds
otherwise (``framerate.miss_bounds``); no per-frame number is made up. Its pacing differs from
the host's: a run that overran its slot is followed at once by the next (nothing is dropped).
onnxruntime_perf_test and llama-bench have no per-run pacing option: such jobs are skipped with
the reason.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from npubench.devices.phone_power import HOT_KINDS
from npubench.errors import BackendUnavailable
from npubench.harness import framerate
from npubench.harness.device_job import PhoneJob, telemetry_fields
from npubench.harness.paced_measure import framerate_block
from npubench.harness.settings import MeasureSettings
from npubench.harness.stats import summarize


def mechanism(fps: float, runs: int) -> str:
    return (f"run_frequency rounds of {runs} frames: benchmark_model --run_frequency={fps:g} "
            f"--num_runs={runs} --warmup_runs=1 per round, one tool invocation per window "
            "(the model is loaded again each round; the frames of the gaps between rounds are "
            "not run); per round only count/min/max/avg/std are known")


def run_framerate(job, phone: PhoneJob, settings: MeasureSettings, options) -> dict[str, Any]:
    """A frame-rate job on a phone (``device_run.run_device_job`` dispatches here)."""
    why = framerate.unsupported(job.workload, job.backend, on_phone=True)
    if why is not None:  # planned with fps, make_plan has skipped it already
        raise BackendUnavailable(why)
    fps = float(settings.fps)
    runs = max(1, int(round(fps * settings.framerate_window_s)))
    phone.prepare()
    probe_inv = paced(phone.invocation(runs=runs, min_secs=0, warmup_runs=1, profiling=False),
                      fps)
    probe, code = phone._run_tool(probe_inv, timeout_s=settings.job_timeout_s)
    phone.check(probe, code)
    from npubench.harness.device_run import delegation_block, require_npu

    delegation = delegation_block(probe, probe_inv)
    require_npu(options, probe_inv, delegation, phone, job.backend)

    rounds: list[tuple[float, float, dict]] = []
    with phone.measurement(expect_active_s=settings.duration_s) as m:
        with m.active():
            begin = time.monotonic()
            while time.monotonic() - begin < settings.duration_s:
                inv = paced(phone.invocation(runs=runs, min_secs=0, warmup_runs=1,
                                             profiling=False), fps)
                started = time.monotonic() - begin
                parsed, code = phone._run_tool(inv, timeout_s=settings.job_timeout_s)
                phone.check(parsed, code)
                rounds.append((started, time.monotonic() - begin, parsed))
        frames = sum(r[2]["latency_ms"]["n"] for r in rounds)
        busy_s = sum(r[2]["latency_ms"]["n"] * r[2]["latency_ms"]["mean"] for r in rounds) / 1e3
        m.set_work(frames, busy_s)
    tele = m.result or {}
    windows, first = [], 0
    for _started, ended, parsed in rounds:
        stat = parsed["latency_ms"]
        window = framerate.window_from_round(0.0, fps, stat, first)
        window["t_s"] = round(max(ended - window["span_s"], 0.0), 3)
        windows.append(window)
        first += stat["n"]
    series = phone_series(tele.get("samples") or {}, m.sensors, m.window[0])
    framerate.window_telemetry(windows, series, settings.framerate_window_s)
    wall = rounds[-1][1] if rounds else 0.0
    block = framerate_block(
        dataclasses.replace(settings, duration_s=round(wall, 3)), windows,
        mechanism(fps, runs), asked_duration_s=settings.duration_s,
        rounds=len(rounds), frames_run_s=round(sum(w["span_s"] for w in windows), 3),
        gaps_s=round(max(wall - sum(w["span_s"] for w in windows), 0.0), 3),
        window_time="a window's t_s: when the round's frames began (the host's clock: the "
                    "call's end less the frames' span)")
    means = [r[2]["latency_ms"]["mean"] for r in rounds]
    reasons = list(tele.get("validity_reasons") or [])
    if len(rounds) < 2:
        reasons.append(f"{len(rounds)} round(s) in {settings.duration_s:g} s")
    return {
        "status": "ok", "error": None,
        "validity": "semivalid" if reasons else "valid",
        "validity_reasons": reasons,
        "library": phone.tool_name, "library_version": None,
        "runtime_details": {"command": probe_inv.args, "env": probe_inv.env,
                            **phone.runtime_cpus(),
                            "nnapi_accelerator": phone.nnapi_accelerator},
        "tool": {"name": phone.tool_name, "path_on_device": phone.tool_remote,
                 "rounds": len(rounds), "wall_s": round(phone.tool_wall_s, 3)},
        "latency_ms": summarize(means) if means else None,
        "init_ms": probe.get("init_ms"),
        "first_inference_ms": probe.get("first_inference_ms"),
        "warmup": {"iterations": len(rounds), "mean_ms": probe.get("warmup_mean_ms")},
        "iterations": frames,
        "measured_s": busy_s,
        "inference_s": busy_s,
        "stop_reason": "duration",
        "memory_peak_mb": tele.get("memory_peak_mb"),
        "memory_source": tele.get("memory_source"),
        **telemetry_fields(tele),
        "delegation": delegation,
        "framerate": block,
        "samples": {"latency_ms": means,
                    "rounds": [r[2]["latency_ms"] for r in rounds],
                    "telemetry": tele.get("samples") or [],
                    "framerate": {"window_t_s": [w["t_s"] for w in windows], **series}},
    }


def paced(inv, fps: float):
    """``inv`` with benchmark_model's own pacing at ``fps`` runs per second."""
    return dataclasses.replace(inv, args=[*inv.args, f"--run_frequency={fps:g}"])


def phone_series(side: dict, sensors, uptime0: float | None) -> dict[str, Any]:
    """The hottest CPU/SoC zone (°C) and each cpufreq policy's clock (MHz) from the phone
    sampler's side file, on the rounds' clock (s since the active window began)."""
    columns, rows = side.get("columns") or [], side.get("rows") or []
    empty = {"temp": {"t_s": [], "c": []}, "freq": {"t_s": [], "mhz": {}}}
    if not rows or "uptime_s" not in columns or sensors is None:
        return empty
    at = {c: i for i, c in enumerate(columns)}
    t_col = at["uptime_s"]
    base = uptime0 if uptime0 is not None else rows[0][t_col]
    zones = [z for z in sensors.zones if sensors.zone_kinds.get(z) in HOT_KINDS] or \
        list(sensors.zones)
    t_s, temps = [], []
    policies = [c[4:] for c in columns if c.startswith("cur:")]
    mhz: dict[str, list] = {p: [] for p in policies}
    capped = [p for p in policies if f"max:{p}" in at]
    cap: dict[str, list] = {p: [] for p in capped}
    for row in rows:
        if row[t_col] is None:
            continue
        t_s.append(round(row[t_col] - base, 3))
        values = [row[at[f"temp:{z}"]] / sensors.zone_divisors.get(z, 1.0)
                  for z in zones if f"temp:{z}" in at and row[at[f"temp:{z}"]] is not None]
        temps.append(round(max(values), 2) if values else None)
        for p in policies:
            khz = row[at[f"cur:{p}"]]
            mhz[p].append(round(khz / 1e3, 1) if khz is not None else None)
        for p in capped:
            khz = row[at[f"max:{p}"]]
            cap[p].append(round(khz / 1e3, 1) if khz is not None else None)
    source = "the phone's sampler (thermal zones, cpufreq scaling_cur_freq)"
    return {"temp": {"t_s": t_s, "c": temps, "source": source, "zones": zones,
                     "label": "hottest CPU/SoC zone (°C)"},
            "freq": {"t_s": t_s, "mhz": mhz, "cap_mhz": cap, "source": source}}
