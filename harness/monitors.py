"""Host telemetry sampled beside a job: RAPL power, NVIDIA GPU power (NVML), temperatures.

``HostTelemetry`` is a sampler service: ``start()`` runs a background thread that samples every
``interval_s``; ``stop()`` returns a ``TelemetryResult``. A failing read is recorded in the
samples, never raised into the job. Every sysfs path hangs off ``root`` so tests can point the
sources at a folder that mimics sysfs.

Power: energy counters (RAPL ``energy_uj``, NVML total energy) give the mean power as
Δenergy / Δt, which is exact whatever the sampling rate; instantaneous power (NVML on GPUs
without an energy counter) is integrated with the trapezoid rule.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from npubench.harness.telemetry_sources import (
    NvmlSource,
    RaplSource,
    ThermalSource,
    _Channel,
    _reason,
)

DEFAULT_INTERVAL_S = 0.05


@dataclass
class TelemetryResult:
    """What the host's monitors saw during one job. Power and thermal are None with the
    reason when no source could measure them; never a made-up zero."""

    power_source: str | None
    sample_rate_hz: float | None
    active_mw: float | None
    power_missing_reason: str | None
    thermal_source: str | None
    start_c: float | None
    end_c: float | None
    max_c: float | None
    thermal_missing_reason: str | None
    samples: list[dict] = field(default_factory=list)
    read_errors: dict[str, str] = field(default_factory=dict)  # channel -> count and last error

    def summary(self) -> dict[str, Any]:
        """Everything but the raw samples (those go to a side file of the run folder)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "samples"}


class _Sampler:
    """One sampling session on a thread; the first sample is taken before ``start`` returns and
    a last one after ``stop`` is asked, so even a job shorter than the interval has a window."""

    def __init__(self, telemetry: HostTelemetry):
        self.telemetry = telemetry
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="npubench-telemetry", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._first.wait(timeout=5.0)

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(timeout=10.0)
        return list(self.samples)

    def _loop(self) -> None:
        interval = self.telemetry.interval_s
        next_t = time.monotonic()
        try:
            while True:
                self._take()
                self._first.set()
                next_t += interval
                delay = next_t - time.monotonic()
                if delay < 0:  # fell behind (slow read): skip the missed ticks
                    next_t, delay = time.monotonic(), 0.0
                if self._stop.wait(delay):
                    break
            self._take()
        finally:
            self._first.set()

    def _take(self) -> None:
        try:
            self.samples.append(self.telemetry._sample())
        except Exception as exc:  # never let the sampler die: the gap is data
            self.samples.append({"t_s": time.monotonic(), "errors": {"sampler": _reason(exc)}})


class HostTelemetry:
    """Power and temperature of the host, sampled beside a job. See the module docstring."""

    def __init__(
        self,
        root: Path = Path("/"),
        interval_s: float = DEFAULT_INTERVAL_S,
        use_nvml: bool | None = None,
    ):
        """``use_nvml`` None means: only when ``root`` is the real ``/`` (NVML is not in sysfs)."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.root = Path(root)
        self.interval_s = interval_s
        self.use_nvml = self.root == Path("/") if use_nvml is None else use_nvml
        self._probed = False
        self._lock = threading.Lock()
        self._power: list[RaplSource | NvmlSource] = []
        self._thermal: ThermalSource | None = None
        self._nvml: NvmlSource | None = None
        self._reasons: dict[str, str] = {}
        self._sampler: _Sampler | None = None
        self.result: TelemetryResult | None = None

    # discovery -----------------------------------------------------------------------------
    def _probe(self) -> None:
        with self._lock:
            if self._probed:
                return
            sources: list[Any] = [RaplSource(self.root)]
            if self.use_nvml:
                sources.append(NvmlSource())
            sources.append(ThermalSource(self.root))
            for source in sources:
                try:
                    reason = source.probe()
                except Exception as exc:
                    reason = f"probing failed ({_reason(exc)})"
                if reason is not None:
                    self._reasons[source.kind] = reason
                    continue
                if isinstance(source, ThermalSource):
                    self._thermal = source
                else:
                    self._power.append(source)
                    if isinstance(source, NvmlSource):
                        self._nvml = source
            self._probed = True

    def _channels(self) -> list[_Channel]:
        return [c for source in self._power for c in source.channels]

    def available(self) -> tuple[list[str], dict[str, str]]:
        """(power channel names, {source: reason it is unavailable})."""
        self._probe()
        return [c.name for c in self._channels()], dict(self._reasons)

    def _thermal_kinds(self) -> list[str]:
        kinds = list(self._thermal.kinds) if self._thermal else []
        if self._nvml is not None:
            kinds.append("nvml")
        return kinds

    # sampling ------------------------------------------------------------------------------
    def _sample(self) -> dict:
        values: dict[str, float] = {}
        temps: dict[str, float] = {}
        errors: dict[str, str] = {}
        t_s = time.monotonic()
        for source in self._power:
            source.read(values, errors)
        if self._thermal is not None:
            self._thermal.read(temps, errors)
        if self._nvml is not None:
            self._nvml.temperatures(temps, errors)
        sample: dict[str, Any] = {"t_s": t_s}
        if values:
            sample["power"] = values
        if temps:
            sample["temp_c"] = temps
        if errors:
            sample["errors"] = errors
        return sample

    def snapshot(self) -> dict[str, float]:
        """The temperatures now, °C by zone type (empty when there are no sensors)."""
        try:
            self._probe()
            temps: dict[str, float] = {}
            errors: dict[str, str] = {}
            if self._thermal is not None:
                self._thermal.read(temps, errors)
            if self._nvml is not None:
                self._nvml.temperatures(temps, errors)
            return temps
        except Exception:
            return {}

    def measure_idle(self, seconds: float) -> float | None:
        """Mean power (mW, all power channels summed) over ``seconds`` of doing nothing; None
        when no power source is available or the reading failed."""
        self._probe()
        if not self._channels():
            return None
        sampler = _Sampler(self)
        sampler.start()
        time.sleep(max(0.0, seconds))
        active_mw, _, _, _ = self._power_summary(sampler.stop())
        return active_mw

    def start(self) -> None:
        if self._sampler is not None:
            raise RuntimeError("telemetry is already running")
        try:
            self._probe()
        except Exception as exc:  # keep going with no sources rather than break the job
            self._reasons.setdefault("telemetry", _reason(exc))
        self.result = None
        self._sampler = _Sampler(self)
        self._sampler.start()

    def stop(self) -> TelemetryResult:
        if self._sampler is None:
            raise RuntimeError("telemetry was not started")
        samples = self._sampler.stop()
        self._sampler = None
        try:
            self.result = self._summarize(samples)
        except Exception as exc:  # a bug in the summary must not lose the job
            reason = f"telemetry summary failed ({_reason(exc)})"
            self.result = TelemetryResult(
                None, None, None, reason, None, None, None, None, reason, samples
            )
        return self.result

    def __enter__(self) -> HostTelemetry:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._sampler is not None:
            self.stop()

    # summary -------------------------------------------------------------------------------
    def _summarize(self, samples: list[dict]) -> TelemetryResult:
        active_mw, source, rate_hz, power_reason = self._power_summary(samples)
        start_c = end_c = max_c = None
        thermal_source = thermal_reason = None
        hottest = [(s["t_s"], max(s["temp_c"].values())) for s in samples if s.get("temp_c")]
        kinds = self._thermal_kinds()
        if not kinds:
            thermal_reason = self._reasons.get("thermal", "no temperature sensor")
        elif not hottest:
            thermal_reason = "every temperature read failed"
        else:
            thermal_source = "+".join(kinds)
            start_c, end_c = hottest[0][1], hottest[-1][1]
            max_c = max(t for _, t in hottest)
        return TelemetryResult(
            power_source=source,
            sample_rate_hz=rate_hz,
            active_mw=active_mw,
            power_missing_reason=power_reason,
            thermal_source=thermal_source,
            start_c=start_c,
            end_c=end_c,
            max_c=max_c,
            thermal_missing_reason=thermal_reason,
            samples=samples,
            read_errors=_error_counts(samples),
        )

    def _power_summary(
        self, samples: list[dict]
    ) -> tuple[float | None, str | None, float | None, str | None]:
        """(active_mw, source, sample_rate_hz, reason missing): the sum of every channel's
        mean power; None with the reason when any channel cannot be measured (a partial sum
        would understate the power)."""
        from npubench import energy  # lazy: numpy is not needed to import this module

        channels = self._channels()
        if not channels:
            reasons = {k: v for k, v in self._reasons.items() if k != "thermal"}
            return None, None, None, "; ".join(reasons.values()) or "no power source"
        source = "+".join(c.name for c in channels)
        times = [s["t_s"] for s in samples]
        rate_hz = (
            (len(times) - 1) / (times[-1] - times[0])
            if len(times) > 1 and times[-1] > times[0]
            else None
        )
        total_mw = 0.0
        for channel in channels:
            points = [
                (s["t_s"], s["power"][channel.name])
                for s in samples
                if channel.name in s.get("power", {})
            ]
            t_s = [p[0] for p in points]
            values = [p[1] for p in points]
            try:
                if channel.unit == "energy_uj":
                    total_mw += energy.mean_power_from_energy_counter(t_s, values, channel.wrap_uj)
                else:
                    total_mw += energy.mean_power_from_samples(t_s, values)
            except (ValueError, IndexError) as exc:
                return None, source, rate_hz, f"{channel.name}: {exc} ({len(points)} good samples)"
        return total_mw, source, rate_hz, None


def _error_counts(samples: list[dict]) -> dict[str, str]:
    counts: dict[str, int] = {}
    last: dict[str, str] = {}
    for sample in samples:
        for key, message in sample.get("errors", {}).items():
            counts[key] = counts.get(key, 0) + 1
            last[key] = message
    return {key: f"{counts[key]} failed reads; last: {last[key]}" for key in counts}
