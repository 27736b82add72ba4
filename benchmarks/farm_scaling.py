"""Farm scaling (issue 12, "Figures to reach"): how `npubench farm run` scales with simulated
phones, what the farm costs per job, and what a 500-job night costs in memory and survives.

Every night here is a real `npubench farm run` (its embedded LocalCluster and one `npubench farm
worker` subprocess) on `sim:sm8650` phones with `timing: modeled` (the tools WAIT the modeled
times, so 16 phones on a 2-core host measure the farm, not the CPU), one phone class, the store
a temporary SQLite file (NPUBENCH_STORE; writing it is part of the farm's work).

Jobs. A farm job is keyed WORKLOAD@BACKEND@CLASS, so a night needs that many distinct
(workload, backend) pairs. The zoo gives at most ~109 runnable pairs on one sm8650 class (27
workloads x the backends each format has there), far from 500. Splitting the 16 phones into
classes multiplies the pairs but also splits the phones, and one class is what the scaling
figure is about. So the jobs here are copies of
one small real model (`okay_nabu`, int8 TFLite, ~60 KB) under distinct file names: a model path
is a workload, each copy its own job, every job the same modeled work, and the calibration
(keyed by the model's sha256) is shared.

1. Efficiency. Each phone count N runs jobs_per_phone * N jobs (default 4 per phone) of
   ~5 s modeled time (one backend, `tflite:cpu`). The night's span is first job_start to last
   job_end in events.jsonl (the farm's start-up and shutdown are excluded there, and reported
   separately as the command's wall time). Throughput(N) = jobs(N) / span(N);
   efficiency(N) = throughput(N) / (N * throughput(1)). Because jobs(N) = N * jobs(1), this
   equals span(1) / span(N): perfect scaling keeps the span constant. Jobs a multiple of N keep
   every phone equally loaded (no tail where one phone runs a last job alone), and the same
   number of jobs per phone keeps each phone's first-job costs (its session opening) the same
   share at every N. Targets: >= 0.9 at 8 phones, >= 0.8 at 16.
2. Farm overhead per job. `farm.overhead_s` of each record (the task's start on the worker to
   its record written, less the job itself and less the phone's preparation for the night,
   which happens once per phone at its first job: the health check before each job is in it),
   median and p90; and a second estimate from the
   events: on each phone, job_end of one job to job_start of the next (the phone idle between
   jobs, which includes the controller's and Dask's turnaround). Target: median < 100 ms.
3. A night of `--night-jobs` (500) tiny jobs (~0.5 s modeled: 2 rounds of 0.1 s, a short idle
   baseline; 100 model copies x 5 TFLite backends) on 16 phones: the controller's peak resident
   memory (psutil, every 0.5 s; the worker subprocess and its children apart), target < 300 MB.
   Then the same night cut off when ~half its records exist, by SIGKILL (the controller, then
   the worker's process group, which a killed controller cannot stop) and by SIGINT (the
   controller stops itself), each followed by `npubench farm run FARM --resume RUN_ID --out
   SAME_DIR`: every planned job (farm-plan.json) must have exactly one record in results.jsonl
   and in the store, none duplicated, none lost.

The host may be busy (2 cores shared): os.getloadavg() is recorded beside each figure.

    python benchmarks/farm_scaling.py [--phones 1,2,4,8,16] [--jobs-per-phone 4]
        [--night-jobs 500] [--kill sigkill,sigint] [--skip-scaling] [--skip-rss]
        [--json-out FILE] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from npubench.results import read_jsonl

MODEL = "okay_nabu"
PROFILE = "sm8650"
PHONE_CLASS = "bench"
NIGHT_BACKENDS = ("tflite:cpu", "tflite:xnnpack", "tflite:gpu", "tflite:nnapi", "tflite:qnn-htp")
SCALING_SETTINGS = {"warmup_iterations": 2, "min_iterations": 5, "min_seconds": 0.2,
                    "max_seconds": 2.0, "device_rounds_min": 3, "device_rounds_max": 3,
                    "device_round_runs": 5, "device_round_min_secs": 0.5,
                    "idle_baseline_s": 1.0}
"""~5 s of modeled time per job (idle baseline, warm-up, 3 rounds of 0.5 s)."""
NIGHT_SETTINGS = {"warmup_iterations": 1, "min_iterations": 2, "min_seconds": 0.05,
                  "max_seconds": 1.0, "device_rounds_min": 2, "device_rounds_max": 2,
                  "device_round_runs": 3, "device_round_min_secs": 0.1,
                  "device_round_warmup_runs": 1, "idle_baseline_s": 0.1}
"""~0.5 s of modeled time per job."""
TARGETS = {"efficiency_8": 0.9, "efficiency_16": 0.8, "overhead_median_s": 0.1,
           "controller_rss_mb": 300.0}
POLL_S = 0.5


# --- pure figures --------------------------------------------------------------------------


def job_span(events: list[dict[str, Any]]) -> tuple[float, float] | None:
    """(first job_start ts, last job_end ts) of a night's events; None without both."""
    starts = [e["ts"] for e in events if e.get("event") == "job_start"]
    ends = [e["ts"] for e in events if e.get("event") == "job_end"]
    if not starts or not ends:
        return None
    return min(starts), max(ends)


def phone_gaps(events: list[dict[str, Any]]) -> list[float]:
    """Per phone, the idle time from each job_end to that phone's next job_start (seconds)."""
    by_phone: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for e in events:
        if e.get("event") in ("job_start", "job_end") and e.get("phone"):
            by_phone[e["phone"]].append((e["ts"], e["event"]))
    gaps = []
    for marks in by_phone.values():
        marks.sort()
        for (ts, kind), (next_ts, next_kind) in zip(marks, marks[1:], strict=False):
            if kind == "job_end" and next_kind == "job_start":
                gaps.append(next_ts - ts)
    return gaps


def rss_by_records(series: list[tuple[float, float, float, int]],
                   marks: tuple[int, ...] = (0, 50, 100, 200, 300, 400, 500)
                   ) -> list[dict[str, float | int]]:
    """The first poll at or past each record count: (t, records, controller MB, worker MB),
    and the last poll: how memory grows with the night's records."""
    out, seen = [], set()
    for t, controller, worker, records in series:
        for mark in marks:
            if records >= mark and mark not in seen and controller:
                seen.add(mark)
                out.append({"t_s": t, "records": records, "controller_mb": controller,
                            "worker_mb": worker})
    live = [p for p in series if p[1]]
    if live:
        t, controller, worker, records = live[-1]
        out.append({"t_s": t, "records": records, "controller_mb": controller,
                    "worker_mb": worker, "last": True})
    return out


def quantiles(values: list[float]) -> dict[str, float | int | None]:
    """n, median and p90 of some seconds (None where there are none)."""
    if not values:
        return {"n": 0, "median_s": None, "p90_s": None}
    array = np.asarray(values, dtype=float)
    return {"n": len(values), "median_s": float(np.median(array)),
            "p90_s": float(np.percentile(array, 90))}


def efficiencies(rows: list[dict[str, Any]]) -> dict[int, float | None]:
    """throughput(N) / (N * throughput(1)) per phone count N, throughput = jobs / span; None
    where a span is missing or there is no 1-phone row."""
    throughput = {r["phones"]: (r["jobs"] / r["span_s"] if r.get("span_s") else None)
                  for r in rows}
    base = throughput.get(1)
    return {n: (t / (n * base) if t and base else None) for n, t in throughput.items()}


def completeness(plan_keys: list[str], record_keys: list[str]) -> dict[str, Any]:
    """Every planned job with exactly one record: what is missing, duplicated or unplanned."""
    planned, counts = set(plan_keys), Counter(record_keys)
    missing = sorted(planned - set(counts))
    duplicated = sorted(k for k, c in counts.items() if c > 1)
    unplanned = sorted(set(counts) - planned)
    return {"planned": len(plan_keys), "records": len(record_keys),
            "distinct_records": len(counts), "missing": missing, "duplicated": duplicated,
            "unplanned": unplanned, "ok": not (missing or duplicated or unplanned)
            and len(planned) == len(plan_keys)}


# --- files ---------------------------------------------------------------------------------


def model_copies(folder: Path, count: int) -> list[Path]:
    """``count`` copies of the model under distinct names (each a workload of its own)."""
    from npubench.workloads.registry import resolve_path_or_failure

    source = Path(resolve_path_or_failure(MODEL, {}).path())
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"m{i:04d}.tflite"
        if not path.exists():
            shutil.copyfile(source, path)
        paths.append(path)
    return paths


def write_night(folder: Path, name: str, phones: int, models: list[Path],
                backends: tuple[str, ...], settings: dict[str, Any]) -> Path:
    """A suite and a farm file of ``phones`` modeled sim phones in one class; the farm file."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    suite = folder / f"{name}-suite.yaml"
    suite.write_text(yaml.safe_dump({
        "name": name, "description": "farm_scaling.py: copies of one small model",
        "workloads": [str(p) for p in models], "backends": list(backends),
        "settings": settings}, sort_keys=False))
    farm = folder / f"{name}-farm.yaml"
    farm.write_text(yaml.safe_dump({
        "phones": [{"device": f"sim:{PROFILE}", "count": phones, "timing": "modeled",
                    "labels": {"class": PHONE_CLASS}}],
        "limits": {"battery_min_percent": 5, "max_temperature_c": 70, "min_free_mb": 50},
        "nightly": [{"suite": suite.name}]}, sort_keys=False))
    return farm


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 16), b""))
    except FileNotFoundError:
        return 0


def store_job_ids(store: Path, run_id: str) -> list[str] | None:
    """The job ids the SQLite store holds for a run (None when there is no store file)."""
    import sqlite3

    if not store.exists():
        return None
    with sqlite3.connect(store) as db:
        return [row[0] for row in db.execute("SELECT job_id FROM records WHERE run_id = ?",
                                             (run_id,))]


# --- running a night -----------------------------------------------------------------------


@dataclass
class Night:
    command: list[str]
    out: Path
    exit_code: int | None = None
    wall_s: float = 0.0
    run_id: str | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    controller_peak_mb: float | None = None
    worker_peak_mb: float | None = None
    controller_cpu_s: float | None = None
    rss_series: list[tuple[float, float, float, int]] = field(default_factory=list)
    """(seconds since start, controller MB, worker MB, records so far), every poll."""
    worker_cpu_s: float | None = None
    stopped_with: str | None = None
    records_at_stop: int | None = None
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _command(farm: Path, out: Path, resume: str | None = None) -> list[str]:
    exe = shutil.which("npubench")
    base = [exe] if exe else [sys.executable, "-m", "npubench"]
    return base + ["farm", "run", str(farm), "--out", str(out), "--no-report"] + (
        ["--resume", resume] if resume else [])


def _rss_mb(process) -> float:
    import psutil

    try:
        return process.memory_info().rss / 2**20
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0


def _cpu_s(process, children: bool = False) -> float:
    """User + system CPU seconds of a process (with its reaped children's when asked: not for
    the controller, whose reaped children include the worker once it has exited)."""
    import psutil

    try:
        times = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0
    return times.user + times.system + (
        times.children_user + times.children_system if children else 0.0)


def _worker_processes(controller) -> list:
    """The `npubench farm worker` subprocess of a controller and its descendants."""
    import psutil

    try:
        children = controller.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    workers = []
    for child in children:
        try:
            if "worker" in child.cmdline():
                workers.append(child)
        except psutil.NoSuchProcess:
            continue
    out = list(workers)
    for worker in workers:
        try:
            out.extend(worker.children(recursive=True))
        except psutil.NoSuchProcess:
            pass
    return out


def run_night(farm: Path, out: Path, env: dict[str, str], *, resume: str | None = None,
              stop_at_records: int | None = None, stop_with: str | None = None,
              timeout_s: float = 1800.0) -> Night:
    """One `npubench farm run`: its output lines (timestamped), wall time, exit code and peak
    RSS (controller; worker subprocess with its children); stopped with ``stop_with``
    (``sigkill`` or ``sigint``) once results.jsonl has ``stop_at_records`` lines."""
    import psutil

    night = Night(_command(farm, out, resume), out, load_before=os.getloadavg())
    started = time.monotonic()
    proc = subprocess.Popen(night.command, env=env, cwd=farm.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)

    def read() -> None:
        for line in proc.stdout:
            night.lines.append((time.monotonic() - started, line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    controller = psutil.Process(proc.pid)
    peak_c = peak_w = 0.0
    worker_pids: set[int] = set()
    while proc.poll() is None:
        peak_c = max(peak_c, _rss_mb(controller))
        workers = _worker_processes(controller)
        worker_pids.update(w.pid for w in workers[:1])
        peak_w = max(peak_w, sum(_rss_mb(w) for w in workers))
        night.controller_cpu_s = _cpu_s(controller) or night.controller_cpu_s
        night.rss_series.append((round(time.monotonic() - started, 1), round(_rss_mb(
            controller), 1), round(sum(_rss_mb(w) for w in workers), 1),
            count_lines(out / "results.jsonl")))
        if workers:
            night.worker_cpu_s = _cpu_s(workers[0], children=True) or night.worker_cpu_s
        if (stop_with and night.stopped_with is None
                and count_lines(out / "results.jsonl") >= (stop_at_records or 0)):
            night.records_at_stop = count_lines(out / "results.jsonl")
            night.stopped_with = stop_with
            _stop(proc, worker_pids, stop_with)
        if time.monotonic() - started > timeout_s:
            _stop(proc, worker_pids, "sigkill")
            night.stopped_with = f"timeout after {timeout_s:.0f} s"
        time.sleep(POLL_S)
    night.exit_code = proc.wait()
    if night.stopped_with == "sigkill" or (night.stopped_with or "").startswith("timeout"):
        _end_group(worker_pids)
    night.wall_s = time.monotonic() - started
    reader.join(timeout=5)
    night.controller_peak_mb, night.worker_peak_mb = peak_c or None, peak_w or None
    night.load_after = os.getloadavg()
    for _, line in night.lines:
        if line.startswith("npubench farm: night ") and " -> " in line:
            night.run_id = line.split()[3]
            break
    return night


def _stop(proc: subprocess.Popen, worker_pids: set[int], how: str) -> None:
    if how == "sigint":
        proc.send_signal(signal.SIGINT)
    else:
        proc.kill()


def _end_group(worker_pids: set[int], grace_s: float = 60.0) -> None:
    """Stop the worker subprocess a SIGKILLed controller left behind: SIGTERM to its process
    group (it restores its phones), SIGKILL if it is still there after ``grace_s``."""
    import psutil

    for pid in worker_pids:  # the worker runs in its own session: its pgid is its pid
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        try:
            psutil.Process(pid).wait(grace_s)
        except psutil.NoSuchProcess:
            continue
        except psutil.TimeoutExpired:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def night_figures(night: Night, store: Path) -> dict[str, Any]:
    """What one night's folder and output say: span, statuses, overheads, the phases of the
    command's wall time."""
    records = read_jsonl(night.out / "results.jsonl")
    events = read_jsonl(night.out / "events.jsonl")
    span = job_span(events)
    statuses = Counter(r.get("status") for r in records)
    overheads = [r["farm"]["overhead_s"] for r in records
                 if (r.get("farm") or {}).get("overhead_s") is not None]
    planned_s = next((t for t, line in night.lines if " jobs planned on " in line), None)
    first_record_s = next((t for t, line in night.lines if line.startswith("  ")), None)
    summary_s = next((t for t, line in night.lines
                      if line.startswith("npubench farm: night ") and " ok, " in line), None)
    return {
        "run_id": night.run_id, "exit_code": night.exit_code, "records": len(records),
        "statuses": dict(statuses), "wall_s": round(night.wall_s, 2),
        "span_s": round(span[1] - span[0], 3) if span else None,
        "phases_s": {"planned_at": planned_s, "first_record_at": first_record_s,
                     "summary_at": summary_s, "exited_at": round(night.wall_s, 2)},
        "overhead_s": quantiles(overheads), "gap_s": quantiles(phone_gaps(events)),
        "cpu_s": {"controller": _round(night.controller_cpu_s),
                  "worker": _round(night.worker_cpu_s),
                  "note": "user+system, last sample (<= 0.5 s before each exited)"},
        "rss_by_records": rss_by_records(night.rss_series),
        "controller_peak_rss_mb": night.controller_peak_mb,
        "worker_peak_rss_mb": night.worker_peak_mb,
        "loadavg_before": [round(x, 2) for x in night.load_before],
        "loadavg_after": [round(x, 2) for x in night.load_after],
    }


# --- the figures ---------------------------------------------------------------------------


def scaling(work: Path, env: dict[str, str], store: Path, phones: list[int],
            per_phone: int, say) -> dict[str, Any]:
    models = model_copies(work / "models", max(phones) * per_phone)
    rows = []
    for n in phones:
        jobs = n * per_phone
        farm = write_night(work / f"scaling-{n}", f"scaling-{n}", n, models[:jobs],
                           ("tflite:cpu",), SCALING_SETTINGS)
        say(f"scaling: {n} phone(s), {jobs} jobs ...")
        night = run_night(farm, work / f"scaling-{n}" / "night", env)
        row = {"phones": n, "jobs": jobs, **night_figures(night, store)}
        if row["exit_code"] != 0 or row["statuses"].get("ok") != jobs:
            row["problem"] = (f"exit {row['exit_code']}, statuses {row['statuses']}: "
                              f"{_tail(night)}")
        rows.append(row)
        say(f"  span {row['span_s']} s, wall {row['wall_s']} s, overhead median "
            f"{_ms(row['overhead_s']['median_s'])}, load {row['loadavg_after'][0]}")
    for n, eff in efficiencies(rows).items():
        next(r for r in rows if r["phones"] == n)["efficiency"] = (
            None if eff is None else round(eff, 3))
    return {"jobs_per_phone": per_phone, "settings": SCALING_SETTINGS, "rows": rows}


def big_night(work: Path, env: dict[str, str], store: Path, jobs: int, kills: list[str],
              with_rss: bool, say) -> dict[str, Any]:
    per_backend = math.ceil(jobs / len(NIGHT_BACKENDS))
    models = model_copies(work / "models", per_backend)
    farm = write_night(work / "night", "night", 16, models, NIGHT_BACKENDS, NIGHT_SETTINGS)
    out: dict[str, Any] = {"phones": 16, "settings": NIGHT_SETTINGS,
                           "backends": list(NIGHT_BACKENDS), "models": len(models)}
    if with_rss:
        say(f"night: {len(models) * len(NIGHT_BACKENDS)} jobs planned on 16 phones ...")
        night = run_night(farm, work / "night" / "full", env)
        out["full"] = figures = night_figures(night, store)
        out["planned_jobs"] = len(_plan_keys(night.out))
        say(f"  {figures['statuses']}, span {figures['span_s']} s, controller peak "
            f"{figures['controller_peak_rss_mb']:.0f} MB, worker "
            f"{figures['worker_peak_rss_mb']:.0f} MB")
    for how in kills:
        folder = work / "night" / how
        say(f"night cut off by {how} ...")
        first = run_night(farm, folder, env, stop_at_records=jobs // 2, stop_with=how)
        at_stop = read_jsonl(folder / "results.jsonl")
        say(f"  stopped at {first.records_at_stop} records (exit {first.exit_code}); "
            f"resuming {first.run_id}")
        second = (run_night(farm, folder, env, resume=first.run_id) if first.run_id
                  else None)
        plan = _plan_keys(folder)
        records = read_jsonl(folder / "results.jsonl")
        check = completeness(plan, [r["job_id"] for r in records])
        in_store = store_job_ids(store, first.run_id) if first.run_id else None
        store_check = None if in_store is None else completeness(plan, in_store)
        out[how] = {
            "first": night_figures(first, store), "records_at_stop": first.records_at_stop,
            "records_after_stop": len(at_stop),
            "resumed": night_figures(second, store) if second else None,
            "resume_said": [line for _, line in (second.lines if second else [])
                            if "resuming" in line],
            "results_jsonl": _short(check), "store": _short(store_check) if store_check
            else None}
        say(f"  results.jsonl: {_short(check)}; store: {_short(store_check)}")
    return out


def _plan_keys(folder: Path) -> list[str]:
    path = folder / "farm-plan.json"
    if not path.exists():
        return []
    return [j["key"] for j in json.loads(path.read_text(encoding="utf-8"))["jobs"]]


def _short(check: dict[str, Any] | None) -> dict[str, Any] | None:
    """A completeness check with its lists cut to their first few keys."""
    if check is None:
        return None
    return {k: (v[:5] + [f"... {len(v) - 5} more"] if isinstance(v, list) and len(v) > 5
                else v) for k, v in check.items()}


def _tail(night: Night, lines: int = 5) -> str:
    return " | ".join(line for _, line in night.lines[-lines:])


def _per_job(row: dict[str, Any], who: str = "worker") -> str:
    """CPU seconds per job of the night's worker (or controller), as ms."""
    cpu, jobs = row["cpu_s"].get(who), row.get("records")
    return "missing" if cpu is None or not jobs else f"{cpu / jobs * 1000:.0f} ms"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ms(seconds: float | None) -> str:
    return "missing" if seconds is None else f"{seconds * 1000:.0f} ms"


def _fmt(value: Any, spec: str = "") -> str:
    return "missing" if value is None else format(value, spec)


def table(results: dict[str, Any]) -> str:
    """The figures as text; a missing figure says so."""
    lines = []
    scale = results.get("scaling")
    if scale:
        lines.append(f"1-2. Scaling: {scale['jobs_per_phone']} jobs per phone, ~5 s modeled "
                     "each, one class of sim:sm8650 (timing: modeled)")
        lines.append(f"{'phones':>6} {'jobs':>5} {'span s':>8} {'wall s':>8} {'jobs/s':>7} "
                     f"{'effic.':>7} {'ovh med':>8} {'ovh p90':>8} {'gap med':>8} "
                     f"{'gap p90':>8} {'wkr cpu':>8}  load(1m) before/after")
        for r in scale["rows"]:
            rate = r["jobs"] / r["span_s"] if r.get("span_s") else None
            lines.append(
                f"{r['phones']:>6} {r['jobs']:>5} {_fmt(r['span_s'], '.2f'):>8} "
                f"{r['wall_s']:>8.2f} {_fmt(rate, '.3f'):>7} "
                f"{_fmt(r.get('efficiency'), '.3f'):>7} {_ms(r['overhead_s']['median_s']):>8} "
                f"{_ms(r['overhead_s']['p90_s']):>8} {_ms(r['gap_s']['median_s']):>8} "
                f"{_ms(r['gap_s']['p90_s']):>8} {_per_job(r):>8}  {r['loadavg_before'][0]:.2f}/"
                f"{r['loadavg_after'][0]:.2f}" + (f"  PROBLEM: {r['problem']}"
                                                   if r.get("problem") else ""))
        effs = {r["phones"]: r.get("efficiency") for r in scale["rows"]}
        for n, key in ((8, "efficiency_8"), (16, "efficiency_16")):
            if n in effs:
                met = "missing" if effs[n] is None else (
                    "met" if effs[n] >= TARGETS[key] else "NOT met")
                lines.append(f"   target efficiency >= {TARGETS[key]} at {n}: {met}")
        medians = [r["overhead_s"]["median_s"] for r in scale["rows"]
                   if r["overhead_s"]["median_s"] is not None]
        if medians:
            worst = max(medians)
            lines.append(f"   target overhead median < 100 ms: worst median {_ms(worst)}: "
                         + ("met" if worst < TARGETS["overhead_median_s"] else "NOT met"))
    night = results.get("night")
    if night:
        full = night.get("full")
        if full:
            lines.append(f"3. Night: {night.get('planned_jobs')} jobs on 16 phones (~0.5 s "
                         f"modeled each): {full['statuses']}, exit {full['exit_code']}")
            lines.append(f"   span {_fmt(full['span_s'], '.2f')} s, wall {full['wall_s']} s, "
                         f"overhead median {_ms(full['overhead_s']['median_s'])} p90 "
                         f"{_ms(full['overhead_s']['p90_s'])}, gap median "
                         f"{_ms(full['gap_s']['median_s'])} p90 {_ms(full['gap_s']['p90_s'])}"
                         f", CPU per job: worker {_per_job(full)} controller "
                         f"{_per_job(full, 'controller')}")
            lines.append("   RSS as records accrue (records: controller/worker MB): " + ", ".join(
                f"{p['records']}: {p['controller_mb']:.0f}/{p['worker_mb']:.0f}"
                for p in full.get("rss_by_records", [])))
            c = full["controller_peak_rss_mb"]
            lines.append(f"   controller peak RSS {_fmt(c, '.0f')} MB (target < 300: "
                         + ("missing" if c is None else "met" if c < 300 else "NOT met")
                         + f"), worker + children peak {_fmt(full['worker_peak_rss_mb'], '.0f')}"
                         f" MB, load(1m) {full['loadavg_before'][0]:.2f}/"
                         f"{full['loadavg_after'][0]:.2f}")
        for how in ("sigkill", "sigint"):
            part = night.get(how)
            if not part:
                continue
            res = part["results_jsonl"]
            store = part["store"]
            lines.append(
                f"   cut by {how} at {part['records_at_stop']} records (exit "
                f"{part['first']['exit_code']}, {part['records_after_stop']} records after), "
                f"resumed (exit {(part['resumed'] or {}).get('exit_code')}, "
                f"{' '.join(part['resume_said']) or 'no resume line'}): results.jsonl "
                f"{res['records']} records for {res['planned']} planned, missing "
                f"{len(res['missing'])}, duplicated {len(res['duplicated'])}: "
                f"{'OK' if res['ok'] else 'FAILED'}; store "
                + ("missing" if store is None else
                   f"{store['records']} records, missing {len(store['missing'])}, duplicated "
                   f"{len(store['duplicated'])}: {'OK' if store['ok'] else 'FAILED'}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", default="1,2,4,8,16",
                        help="phone counts for the scaling figure (first must be 1)")
    parser.add_argument("--jobs-per-phone", type=int, default=4)
    parser.add_argument("--night-jobs", type=int, default=500,
                        help="jobs of the big night (rounded up to a multiple of 5)")
    parser.add_argument("--kill", default="sigkill,sigint",
                        help="ways to cut the big night off before resuming it (empty: none)")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-rss", action="store_true",
                        help="skip the uninterrupted big night (its memory figure)")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    phones = [int(p) for p in args.phones.split(",") if p.strip()]
    kills = [k.strip() for k in args.kill.split(",") if k.strip()]
    if phones and phones[0] != 1 and not args.skip_scaling:
        parser.error("--phones must start with 1 (efficiency is relative to one phone)")
    if any(k not in ("sigkill", "sigint") for k in kills):
        parser.error("--kill takes sigkill and/or sigint")

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="npubench-farm-scaling-"))
    store = work / "store.db"
    env = dict(os.environ, NPUBENCH_STORE=str(store), PYTHONUNBUFFERED="1")
    results: dict[str, Any] = {"host_cpus": os.cpu_count(), "work_dir": str(work),
                               "targets": TARGETS}
    try:
        if not args.skip_scaling:
            results["scaling"] = scaling(work, env, store, phones, args.jobs_per_phone, say)
        if not args.skip_rss or kills:
            results["night"] = big_night(work, env, store, args.night_jobs, kills,
                                         not args.skip_rss, say)
    finally:
        if args.json_out:
            args.json_out.write_text(json.dumps(results, indent=1))
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
