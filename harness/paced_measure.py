"""Frame-rate (sustained) mode on the host: feed frames at the camera's rate instead of back to
back (the pacing of ``harness.framerate``), with temperatures and CPU clock frequencies
sampled alongside. ``run_host_framerate_job`` replaces ``harness.measure``'s loop in a host
job; a warm-up still comes first."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from npubench.harness import framerate
from npubench.harness.settings import MeasureSettings

FREQ_INTERVAL_S = 0.25
FREQ_SOURCE = "psutil.cpu_freq per CPU (cpufreq scaling_cur_freq, else /proc/cpuinfo)"


@dataclass
class PacedRun:
    """What a paced run saw: per processed frame its camera index, start (s since the first
    frame's arrival) and latency (ms)."""

    fps: float
    duration_s: float
    first_inference_ms: float
    warmup_ms: list[float]
    index: list[int] = field(default_factory=list)
    start_s: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    t0_monotonic: float = 0.0
    """``time.monotonic()`` at the first frame's arrival (the telemetry's clock)."""
    wall_s: float = 0.0


def paced_measure(invoke: Callable[[], object], settings: MeasureSettings,
                  clock: Callable[[], float] = time.perf_counter,
                  sleep: Callable[[float], None] = time.sleep) -> PacedRun:
    """A first inference and ``warmup_iterations`` back to back, then frames at ``fps`` for
    ``duration_s``: the model takes the newest arrived frame when it is free, else waits for
    the next one (``framerate.next_frame``)."""
    fps, duration = float(settings.fps), float(settings.duration_s)
    t = clock()
    invoke()
    first_ms = (clock() - t) * 1e3
    warmup = []
    for _ in range(settings.warmup_iterations):
        t = clock()
        invoke()
        warmup.append((clock() - t) * 1e3)
    total = framerate.frame_count(fps, duration)
    run = PacedRun(fps, duration, first_ms, warmup)
    t0 = clock()
    run.t0_monotonic = time.monotonic()
    last = -1
    while True:
        now = clock() - t0
        index, arrival = framerate.next_frame(now, fps, last)
        if index >= total:
            break
        if arrival > now:
            sleep(arrival - now)
        start = clock()
        invoke()
        end = clock()
        run.index.append(index)
        run.start_s.append(start - t0)
        run.latency_ms.append((end - start) * 1e3)
        last = index
    run.wall_s = clock() - t0
    return run


class FrequencyProbe:
    """CPU clock frequencies for ``monitors._Sampler`` (the host telemetry's sampler thread)."""

    interval_s = FREQ_INTERVAL_S

    def _sample(self) -> dict:
        import psutil

        sample: dict[str, Any] = {"t_s": time.monotonic()}
        try:
            freqs = psutil.cpu_freq(percpu=True) or []
            sample["freq_mhz"] = {f"cpu{i}": round(f.current, 1) for i, f in enumerate(freqs)}
        except Exception as exc:  # never break the job: the gap is data
            sample["errors"] = {"cpufreq": str(exc) or type(exc).__name__}
        return sample


def run_host_framerate_job(job: dict[str, Any], session, settings: MeasureSettings
                           ) -> dict[str, Any]:
    """The result fields of a frame-rate job on an open host session (see ``host_job``)."""
    from npubench.harness.host_job import _peak_memory_mb, _telemetry, runtime_failures
    from npubench.harness.monitors import _Sampler
    from npubench.harness.stats import summarize

    telemetry = _telemetry(job)
    freq = _Sampler(FrequencyProbe())
    try:
        if telemetry is not None:
            telemetry.start()
        freq.start()
        with runtime_failures(session.library):
            run = paced_measure(session.invoke, settings)
    finally:
        freq_samples = freq.stop()
        tele = telemetry.stop() if telemetry is not None else None
    peak_mb, source = _peak_memory_mb()
    tele_samples = tele.samples if tele is not None else []
    series = host_series(run, tele_samples, freq_samples)
    windows = framerate.frame_windows(run.index, run.start_s, run.latency_ms, run.fps,
                                      run.duration_s, settings.framerate_window_s)
    framerate.window_telemetry(windows, series, settings.framerate_window_s)
    block = framerate_block(settings, windows, "host: paced loop in the job's worker "
                            "(perf_counter per frame)")
    validity, reasons = "valid", []
    if len(run.latency_ms) < 3:
        validity, reasons = "invalid", [f"only {len(run.latency_ms)} frame(s) ran"]
    return {
        "status": "ok",
        "error": None,
        "validity": validity,
        "validity_reasons": reasons,
        "library": session.library,
        "library_version": session.library_version,
        "runtime_details": session.details,
        "init_ms": session.init_ms,
        "first_inference_ms": run.first_inference_ms,
        "warmup": {"iterations": len(run.warmup_ms),
                   "mean_ms": sum(run.warmup_ms) / len(run.warmup_ms) if run.warmup_ms
                   else None},
        "latency_ms": summarize(run.latency_ms) if run.latency_ms else None,
        "stop_reason": "duration",
        "precision_reached": None,
        "ci95_relative_half_width": None,
        "measured_s": run.wall_s,
        "inference_s": sum(run.latency_ms) / 1e3,
        "memory_peak_mb": peak_mb,
        "memory_source": source,
        "telemetry": {**tele.summary(), "idle_mw": None} if tele is not None else None,
        "framerate": block,
        "samples": {
            "latency_ms": run.latency_ms,
            "warmup_ms": run.warmup_ms,
            "telemetry": tele_samples,
            "framerate": {"frame_index": run.index,
                          "start_s": [round(s, 6) for s in run.start_s], **series},
        },
    }


def framerate_block(settings: MeasureSettings, windows: list[dict], mechanism: str,
                    **extra: Any) -> dict[str, Any]:
    """The record's ``framerate`` block: settings, pacing, mechanism, figures and windows."""
    fps, duration = float(settings.fps), float(settings.duration_s)
    return {"fps": fps, "duration_s": duration, "deadline_ms": 1000.0 / fps,
            "window_s": settings.framerate_window_s, "pacing": framerate.PACING,
            "mechanism": mechanism, **extra,
            **framerate.analyse(windows, fps, duration),
            "steady_state": "the last third of the run; first span: the first minute (the "
                            "first third of runs shorter than three minutes); throughput = "
                            "frames that ran per second",
            "windows": windows}


def host_series(run: PacedRun, tele: list[dict], freq: list[dict]) -> dict[str, Any]:
    """Temperature (hottest zone, °C) and each CPU's clock (MHz) on the frames' clock (s since
    the first arrival), in the samples side file's ``framerate`` form."""
    temps = [(s["t_s"] - run.t0_monotonic, max(s["temp_c"].values()))
             for s in tele if s.get("temp_c")]
    clocks = [s for s in freq if s.get("freq_mhz")]
    names = sorted({name for s in clocks for name in s["freq_mhz"]},
                   key=lambda n: (len(n), n))
    return {
        "temp": {"t_s": [round(t, 4) for t, _ in temps], "c": [c for _, c in temps],
                 "source": "host thermal zones / NVML (harness.monitors.HostTelemetry)"},
        "freq": {"t_s": [round(s["t_s"] - run.t0_monotonic, 4) for s in clocks],
                 "mhz": {n: [s["freq_mhz"].get(n) for s in clocks] for n in names},
                 "source": FREQ_SOURCE},
    }
