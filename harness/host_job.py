"""What a worker process does for one host job: load, measure, read its own peak memory."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from npubench.errors import RuntimeFailure, first_line
from npubench.harness.backends import parse_backend
from npubench.harness.measure import measure
from npubench.harness.settings import MeasureSettings
from npubench.harness.stats import summarize


def run_host_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one (model, backend) on this host. ``job`` holds ``model_path``, ``backend``,
    ``inputs`` (name -> InputSpec), ``settings`` (a MeasureSettings dict); an LLM job also
    ``llm`` (see ``harness.llm_job``)."""
    from npubench.harness.runners import open_session

    settings = MeasureSettings(**job["settings"])
    if job.get("llm"):
        from npubench.harness.llm_job import run_host_llm_job

        return run_host_llm_job(job)
    backend = parse_backend(job["backend"])
    rss_before_mb = _rss_mb()
    session = open_session(Path(job["model_path"]), backend, job.get("inputs"), settings.seed)
    if settings.fps:  # frame-rate (sustained) mode: frames at the camera's rate
        from npubench.harness.paced_measure import run_host_framerate_job

        result = run_host_framerate_job(job, session, settings)
        precision = _precision(Path(job["model_path"]), backend, session)
        return {**result, "memory_before_load_mb": rss_before_mb,
                **({"precision": precision} if precision is not None else {})}
    telemetry = _telemetry(job)
    idle_mw = None
    if telemetry is not None and telemetry.available()[0] and settings.idle_baseline_s > 0:
        idle_mw = telemetry.measure_idle(settings.idle_baseline_s)
    try:
        if telemetry is not None:
            telemetry.start()
        with runtime_failures(session.library):
            m = measure(session.invoke, settings)
    finally:
        tele = telemetry.stop() if telemetry is not None else None
    tele_summary = None
    if tele is not None:
        tele_summary = {**tele.summary(), "idle_mw": idle_mw}
    peak_mb, source = _peak_memory_mb()  # before the precision check opens the model again
    precision = _precision(Path(job["model_path"]), backend, session)
    return {
        **({"precision": precision} if precision is not None else {}),
        "status": "ok",
        "error": None,
        "validity": m.validity,
        "validity_reasons": m.validity_reasons,
        "library": session.library,
        "library_version": session.library_version,
        "runtime_details": session.details,
        "init_ms": session.init_ms,
        "first_inference_ms": m.first_inference_ms,
        "warmup": {
            "iterations": len(m.warmup_ms),
            "mean_ms": sum(m.warmup_ms) / len(m.warmup_ms) if m.warmup_ms else None,
        },
        "latency_ms": summarize(m.latency_ms),
        "stop_reason": m.stop_reason,
        "precision_reached": m.precision_reached,
        "ci95_relative_half_width": m.relative_ci_half_width,
        "measured_s": m.measured_s,
        "inference_s": m.inference_s,
        "memory_peak_mb": peak_mb,
        "memory_before_load_mb": rss_before_mb,
        "memory_source": source,
        "telemetry": tele_summary,
        "samples": {
            "latency_ms": m.latency_ms,
            "warmup_ms": m.warmup_ms,
            "telemetry": tele.samples if tele is not None else [],
        },
    }


@contextlib.contextmanager
def runtime_failures(library: str, what: str = "the model") -> Iterator[None]:
    """A runtime's own RuntimeError while running becomes a RuntimeFailure naming the library."""
    try:
        yield
    except RuntimeError as exc:
        raise RuntimeFailure(f"{library} failed to run {what}: {first_line(exc)}") from None


def _precision(model_path: Path, backend, session) -> dict[str, Any] | None:
    """For ONNX Runtime, at which precision an fp16 model ran (``runners.ort.precision_facts``);
    None for other runtimes and models without float16."""
    if backend.runtime != "ort":
        return None
    from npubench.harness.runners.ort import precision_facts

    return precision_facts(model_path, list(session.details.get("providers") or []))


def _telemetry(job: dict[str, Any]):
    """The host telemetry service for this job, or None when the harness asked for none."""
    if not job.get("telemetry", True):
        return None
    from npubench.harness.monitors import HostTelemetry

    return HostTelemetry()


def _rss_mb() -> float | None:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_memory_mb() -> tuple[float, str]:
    """Peak resident memory of this worker: VmHWM where /proc has it, else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                kb = float(line.split()[1])
                return kb / 1024, "peak RSS of the job's worker process (VmHWM)"
    except OSError:
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return peak * scale / 2**20, "peak RSS of the job's worker process (ru_maxrss)"
