"""What one measured job on a phone puts in its record: power (against the session's idle
baseline and calibration), temperature and throttling, peak memory, the sampler's quality and
the raw samples. No I/O: the sampler's result and the session's numbers in, a dict out; each
field that cannot be given is None with the reason."""

from __future__ import annotations

from dataclasses import dataclass

from npubench.devices.phone_power import Calibration, memory_peak_mb, thermal_summary
from npubench.devices.phone_telemetry import Sensors, TelemetrySamples
from npubench.devices.power_window import job_lag_s, job_power

POWER_SOURCE = "battery fuel gauge (current_now x voltage_now)"
THERMAL_SOURCE = ("thermal zones by type (sysfs), cpufreq caps, dumpsys thermalservice")


@dataclass
class PowerInputs:
    """What power needs besides the samples (all from the session)."""

    calibration: Calibration | None
    provenance: str | None  # "stored calibration from ..." | "calibrated in this run ..."
    idle_mw: float | None
    lag_s: float | None


def job_result(telemetry: TelemetrySamples | None, sensors: Sensors | None,
               window: tuple[float | None, float | None], power_reason: str | None,
               power_in: PowerInputs, work: tuple[int | None, float | None],
               statuses: tuple, pre: dict, validity: list[str],
               pid_file: str | None) -> dict:
    """The record fields of one job (see the module's docstring). ``power_reason`` is why power
    was not measured, or None; ``work`` is (iterations, seconds of inference)."""
    samples = telemetry.samples if telemetry is not None else None
    sensors = sensors or Sensors()
    a0, a1 = window
    result = {"power": None, "power_missing_reason": power_reason, "thermal": None,
              "thermal_missing_reason": None, "memory_peak_mb": None, "memory_source": None,
              "validity_reasons": list(validity), "preconditions": pre,
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
            if power_in.calibration is None or power_in.idle_mw is None:
                raise ValueError("no idle baseline or calibration for this job")
            lag = job_lag_s(samples, power_in.lag_s)
            power = job_power(samples, power_in.calibration, power_in.idle_mw, (a0, a1), lag,
                              *work)
            result["power"] = {"source": POWER_SOURCE, **power, "calibration": {
                **power_in.calibration.as_dict(), "provenance": power_in.provenance}}
        except ValueError as exc:
            result["power_missing_reason"] = str(exc)
    try:
        active = samples.between(a0, a1) if a0 is not None and a1 is not None else samples
        caps = {p.name: p.cpuinfo_max_khz for p in sensors.policies.values()}
        thermal = thermal_summary(active if active.n else samples, sensors.zone_kinds,
                                  {k: v for k, v in caps.items() if v}, statuses,
                                  sensors.zone_divisors)
        result["thermal"] = {**thermal, "source": THERMAL_SOURCE, "status_start": statuses[0],
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


def failed_result(reason: str, pre: dict, validity: list[str]) -> dict:
    """When the analysis itself failed (a bug must not hide the job's own outcome)."""
    return {"power": None, "thermal": None, "preconditions": pre,
            "power_missing_reason": f"analysis failed: {reason}",
            "validity_reasons": list(validity)}
