"""Turn a job and what its worker returned into one schema-v1 record (see ``npubench.results``)."""

from __future__ import annotations

from typing import Any

from npubench import __version__
from npubench.energy import energy_mj_per_inference

LLM_KEYS = ("ttft_ms", "prefill_tokens_per_s", "decode_tokens_per_s", "energy_mj_per_token",
            "energy_missing_reason", "llm")
NO_POWER = "no power sensor on this host (no RAPL powercap, no NVIDIA GPU with NVML)"


def base_record(job, run_id: str, started_at: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The identity fields every record carries, whatever its status."""
    workload = job.workload.to_record()
    return {
        "run_id": run_id,
        "job_id": job.job_id,
        "index": job.index,
        "started_at": started_at,
        "harness_version": __version__,
        "device": job.device.info().to_dict(),
        "workload": workload,
        "backend": job.backend.to_record(),
        "tool": None,
        "settings": settings,
        **({"memory_fit": job.memory_fit} if getattr(job, "memory_fit", None) else {}),
    }


def finish_record(record: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Fill ``record`` from a worker's result (ok, failed or skipped)."""
    record["status"] = result.get("status", "failed")
    record["error"] = result.get("error")
    if record["status"] != "ok":
        record.update(validity=None, validity_reasons=[], latency_ms=None, power=None,
                      thermal=None, delegation=None)
        return record
    backend = record["backend"]
    backend["library"] = result.get("library")
    backend["library_version"] = result.get("library_version")
    backend["details"] = result.get("runtime_details", {})
    for key in ("validity", "validity_reasons", "init_ms", "first_inference_ms", "warmup",
                "latency_ms", "stop_reason", "precision_reached", "ci95_relative_half_width",
                "measured_s", "inference_s", "memory_peak_mb", "memory_before_load_mb",
                "memory_source"):
        record[key] = result.get(key)
    if "power" in result:  # a phone job measured its own power and temperature
        for key in ("power", "power_missing_reason", "thermal", "thermal_missing_reason",
                    "tool", "iterations", "accuracy", "telemetry", "preconditions"):
            record[key] = result.get(key)
    else:
        record.update(power_fields(result.get("telemetry"), result))
    if record["memory_peak_mb"] is None:
        record["memory_missing_reason"] = result.get("memory_missing_reason") or \
            "the tool's peak memory was not seen"
    record["delegation"] = result.get("delegation")
    if "precision" in result:  # an fp16 model on ONNX Runtime: what precision ran
        record["precision"] = result["precision"]
    if "pipeline" in result:  # a pipeline job's stages and end to end (workloads.pipelines)
        record["pipeline"] = result["pipeline"]
    for key in LLM_KEYS:  # an LLM job's figures (host decode loop or llama-bench)
        if key in result:
            record[key] = result[key]
    if "framerate" in result:  # frame-rate mode (harness.framerate)
        record["framerate"] = result["framerate"]
    return record


def power_fields(tele: dict[str, Any] | None, result: dict[str, Any]) -> dict[str, Any]:
    """``power`` and ``thermal`` blocks (or None with the reason), from the host telemetry."""
    if tele is None:
        return {"power": None, "power_missing_reason": "telemetry was not collected",
                "thermal": None, "thermal_missing_reason": "telemetry was not collected"}
    out: dict[str, Any] = {}
    active = tele.get("active_mw")
    if active is None:
        out["power"] = None
        out["power_missing_reason"] = tele.get("power_missing_reason") or NO_POWER
    else:
        idle = tele.get("idle_mw")
        n = result["latency_ms"]["n"]
        try:
            energy = energy_mj_per_inference(active, idle, result["measured_s"], n)
        except ValueError as exc:
            out["power"] = None
            out["power_missing_reason"] = str(exc)
        else:
            out["power"] = {
                "source": tele.get("power_source"),
                "sample_rate_hz": tele.get("sample_rate_hz"),
                "idle_mw": idle,
                "active_mw": active,
                "energy_mj_per_inference": energy,
                "scope": "whole package or GPU, not the process alone",
            }
            out["power_missing_reason"] = None
    if tele.get("max_c") is None:
        out["thermal"] = None
        out["thermal_missing_reason"] = tele.get("thermal_missing_reason") or "no thermal sensor"
    else:
        out["thermal"] = {
            "source": tele.get("thermal_source"),
            "start_c": tele.get("start_c"),
            "end_c": tele.get("end_c"),
            "max_c": tele.get("max_c"),
            "throttled": None,
        }
        out["thermal_missing_reason"] = None
    return out
