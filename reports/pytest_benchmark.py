"""Export a run as pytest-benchmark JSON, the format ``pytest-benchmark compare`` reads.

One benchmark per ok record that has per-iteration samples: ``name`` is the job id (with the
device in brackets when the run holds several devices), ``group`` the workload, stats in
SECONDS per inference as pytest-benchmark keeps them (``iterations`` is 1: every sample is one
inference). ``extra_info`` carries device, backend, ``simulated`` and validity. Records left out
(failed, skipped, no samples) are listed under the top-level ``npubench`` key, which
pytest-benchmark ignores. Built from the run's files, like the HTML report.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from npubench.reports.context import load_run, read_latency_ms
from npubench.reports.frame import device_label
from npubench.results import write_text_atomic

# The storage format written here is the one of pytest-benchmark 3.1 and later ("ops" added).
FALLBACK_FORMAT_VERSION = "5.1.0"


def write_pytest_benchmark_json(run_dir: Path, out: Path, *, include_data: bool = True) -> Path:
    """Write the run in ``run_dir`` as pytest-benchmark JSON to ``out``; returns ``out``."""
    data = pytest_benchmark_json(Path(run_dir), include_data=include_data)
    return write_text_atomic(out, json.dumps(data, indent=2, allow_nan=False))


def pytest_benchmark_json(run_dir: Path, *, include_data: bool = True) -> dict[str, Any]:
    info, records = load_run(run_dir)
    devices = {(r.get("device") or {}).get("id") for r in records if r.get("status") == "ok"}
    benchmarks, left_out = [], []
    for record in records:
        job_id = str(record.get("job_id") or f"job-{record.get('index')}")
        if record.get("status") != "ok":
            left_out.append({"job_id": job_id, "reason": f"status {record.get('status')}"})
            continue
        samples_ms = read_latency_ms(run_dir, record)
        if not samples_ms:
            left_out.append({"job_id": job_id, "reason": "no per-iteration samples"})
            continue
        benchmarks.append(_benchmark(record, job_id, samples_ms, len(devices) > 1, include_data))
    return {
        "machine_info": machine_info(info),
        "commit_info": commit_info(info),
        "benchmarks": benchmarks,
        "datetime": info.get("finished_at") or info.get("started_at") or _first_start(records),
        "version": _format_version(),
        "npubench": {
            "run_id": info.get("run_id"),
            "harness_version": info.get("harness_version"),
            "interrupted": bool(info.get("interrupted")) or "finished_at" not in info,
            "left_out": left_out,
        },
    }


def _benchmark(record: dict[str, Any], job_id: str, samples_ms: list[float],
               name_device: bool, include_data: bool) -> dict[str, Any]:
    device = record.get("device") if isinstance(record.get("device"), dict) else {}
    backend = record.get("backend") if isinstance(record.get("backend"), dict) else {}
    workload = record.get("workload") if isinstance(record.get("workload"), dict) else {}
    device_id = str(device.get("id") or "unknown-device")
    settings = record.get("settings") if isinstance(record.get("settings"), dict) else {}
    stats = seconds_stats([v / 1000.0 for v in samples_ms])
    if include_data:
        stats["data"] = [v / 1000.0 for v in samples_ms]
    stats["iterations"] = 1
    latency = record.get("latency_ms") if isinstance(record.get("latency_ms"), dict) else {}
    tool = record.get("tool") if isinstance(record.get("tool"), dict) else {}
    return {
        "group": workload.get("name") or job_id.partition("@")[0],
        "name": f"{job_id}[{device_id}]" if name_device else job_id,
        "fullname": f"{device_id}::{job_id}",
        "params": {"device": device_id, "backend": backend.get("spec")},
        "param": f"{device_id}-{backend.get('spec')}",
        "extra_info": {
            "run_id": record.get("run_id"),
            "device": device_id,
            "device_model": device_label(device),
            "simulated": bool(device.get("simulated")),
            "backend": backend.get("spec"),
            "library": backend.get("library"),
            "library_version": backend.get("library_version"),
            "validity": record.get("validity"),
            "validity_reasons": record.get("validity_reasons") or [],
            "median_ci95_ms": [latency.get("ci95_low"), latency.get("ci95_high")],
            "init_ms": record.get("init_ms"),
            "first_inference_ms": record.get("first_inference_ms"),
            "memory_peak_mb": record.get("memory_peak_mb"),
            "energy_mj_per_inference": (record.get("power") or {}).get("energy_mj_per_inference"),
            "stop_reason": record.get("stop_reason"),
        },
        "options": {
            "disable_gc": False,
            "timer": tool.get("name") or f"npubench {backend.get('runtime') or ''} runner".strip(),
            "min_rounds": settings.get("min_iterations"),
            "max_time": settings.get("max_seconds"),
            "min_time": settings.get("min_seconds"),
            "warmup": settings.get("warmup_iterations") or False,
        },
        "stats": stats,
    }


def seconds_stats(data: list[float]) -> dict[str, Any]:
    """pytest-benchmark's stats fields of ``data`` (seconds per round); with its own ``Stats``
    class when pytest-benchmark is installed, else the same definitions here."""
    try:
        from pytest_benchmark.stats import Stats
    except ImportError:
        return _stats_without_pytest_benchmark(data)
    stats = Stats()
    for value in data:
        stats.update(value)
    return stats.as_dict()


def _stats_without_pytest_benchmark(data: list[float]) -> dict[str, Any]:
    ordered = sorted(data)
    n = len(ordered)
    mean = statistics.mean(ordered)
    stddev = statistics.stdev(ordered) if n > 1 else 0.0
    q1, q3 = _quartiles(ordered)
    iqr = q3 - q1
    low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    iqr_outliers = sum(1 for v in ordered if v < low_fence or v > high_fence)
    stddev_outliers = sum(1 for v in ordered if v < mean - stddev or v > mean + stddev)
    inside = [v for v in ordered if low_fence <= v <= high_fence] or ordered
    total = math.fsum(ordered)
    return {
        "min": ordered[0], "max": ordered[-1], "mean": mean, "stddev": stddev, "rounds": n,
        "median": statistics.median(ordered), "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": iqr_outliers, "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}", "ld15iqr": inside[0],
        "hd15iqr": inside[-1], "ops": n / total if total else 0, "total": total,
    }


def _quartiles(ordered: list[float]) -> tuple[float, float]:
    # pytest-benchmark's quartiles (Wikipedia "Computing methods" 2 and 3).
    n = len(ordered)
    if n == 1:
        return ordered[0], ordered[0]
    if n % 2 == 0:
        return statistics.median(ordered[: n // 2]), statistics.median(ordered[n // 2 :])
    k, r = n // 4, n % 4
    if r == 1:
        return (0.25 * ordered[k - 1] + 0.75 * ordered[k],
                0.75 * ordered[3 * k] + 0.25 * ordered[3 * k + 1])
    return (0.75 * ordered[k] + 0.25 * ordered[k + 1],
            0.25 * ordered[3 * k + 1] + 0.75 * ordered[3 * k + 2])


def machine_info(info: dict[str, Any]) -> dict[str, Any]:
    """pytest-benchmark's ``machine_info`` keys, filled from the host that drove the run."""
    host = info.get("host") if isinstance(info.get("host"), dict) else {}
    versions = info.get("versions") if isinstance(info.get("versions"), dict) else {}
    os_name = str(host.get("os") or "")
    return {
        "node": host.get("id") or "",
        "processor": host.get("cpu") or "",
        "machine": host.get("abi") or "",
        "python_compiler": "",
        "python_implementation": "CPython",
        "python_implementation_version": versions.get("python") or "",
        "python_version": versions.get("python") or "",
        "python_build": [],
        "release": os_name.partition(" ")[2],
        "system": os_name.partition(" ")[0],
        "cpu": {"brand_raw": host.get("cpu") or "", "count": host.get("cpu_cores")},
        "npubench": {"host": host, "versions": versions, "suite": info.get("suite")},
    }


def commit_info(info: dict[str, Any]) -> dict[str, Any]:
    """The run does not know which commit of the code under test it measured; say so."""
    return {
        "id": info.get("commit") or "unversioned",
        "time": info.get("started_at"),
        "author_time": None,
        "dirty": False,
        "project": "npubench",
        "branch": "(unknown)",
    }


def _first_start(records: list[dict[str, Any]]) -> str | None:
    return next((r.get("started_at") for r in records if r.get("started_at")), None)


def _format_version() -> str:
    try:
        from pytest_benchmark import __version__
    except ImportError:
        return FALLBACK_FORMAT_VERSION
    return __version__
