"""`npubench history` end to end on 60 nights x 100 cells (target: under 30 s, issue 11).

The runs are synthetic but shaped like real ones: records with the schema's latency_ms block
(median and its 95% interval), device and backend blocks, run.json with host and versions;
a few cells get an injected step (one with an environment change the same night), LLM cells
follow decode tokens/s too, and one night has a failed job. Prints the time of each stage and
whether the injected steps were found.

    python benchmarks/history_speed.py [--nights 60] [--cells 100] [--out DIR] [--store]

With ``--store`` the runs are first written into a fresh SQLite results store (not timed) and
``npubench history --store FILE --out DIR`` is timed as a user runs it (reading included).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from npubench.reports.run_view import RunView

BACKENDS = ["tflite:xnnpack", "tflite:gpu", "tflite:nnapi", "tflite:qnn-htp", "ort:cpu",
            "ort:qnn-htp", "ort:nnapi", "tflite:cpu", "llama:cpu", "llama:gpu"]
DEVICES = [("SM-S928B", "SM8650", True), ("Pixel 8", "Tensor G3", False)]


def _cell(i: int) -> dict:
    backend = BACKENDS[i % len(BACKENDS)]
    model, soc, simulated = DEVICES[(i // len(BACKENDS)) % len(DEVICES)]
    name = f"model_{i // (len(BACKENDS) * len(DEVICES)):02d}"
    return {"workload": name, "backend": backend, "model": model, "soc": soc,
            "simulated": simulated, "base_ms": 0.5 + (i * 7.3) % 40, "llm": backend.startswith(
                "llama")}


def synthetic_runs(nights: int = 60, cells: int = 100, *, seed: int = 0,
                   steps: dict[int, tuple[int, float]] | None = None,
                   env_change_night: int | None = None) -> list[RunView]:
    """``nights`` RunViews (oldest first) of ``cells`` records each. ``steps``: cell index ->
    (night, factor) multiplies that cell's latency from that night on; by default three cells
    step (+10%, -15%, +25%). ``env_change_night``: the runtime version changes from that night
    (default: the night of the first step)."""
    rng = random.Random(seed)
    steps = {3: (40, 1.10), 17: (25, 0.85), 51: (50, 1.25)} if steps is None else steps
    if env_change_night is None and steps:
        env_change_night = min(night for night, _ in steps.values())
    start = datetime(2026, 10, 1, 2, 0, tzinfo=timezone.utc)
    specs = [_cell(i) for i in range(cells)]
    views = []
    for night in range(nights):
        run_id = f"2026{night:04d}-020000-syn{seed}"
        started = (start + timedelta(days=night, seconds=rng.randint(0, 600))).isoformat()
        version = "2.17.0" if env_change_night is None or night < env_change_night else "2.18.0"
        info = {"schema_version": 1, "run_id": run_id, "started_at": started,
                "host": {"cpu": "AMD EPYC", "os": "Linux 6.1 (Debian GNU/Linux 12)"},
                "versions": {"python": "3.11.7", "npubench": "0.1.0"}}
        records = []
        for i, spec in enumerate(specs):
            factor = 1.0
            if i in steps and night >= steps[i][0]:
                factor = steps[i][1]
            records.append(_record(rng, run_id, started, i, spec, factor, version,
                                   failed=(night == nights // 2 and i == 7)))
        views.append(RunView(run_id, info, records, {}, source="synthetic"))
    return views


def _block(rng: random.Random, median: float, noise: float) -> dict:
    n = rng.randint(20, 200)
    half = median * noise * 1.96 / math.sqrt(n) * 3
    return {"n": n, "mean": median * 1.01, "median": median, "p90": median * 1.08,
            "p99": median * 1.2, "std": median * noise, "min": median * 0.9,
            "max": median * 1.3, "ci95_low": median - half, "ci95_high": median + half}


def _record(rng: random.Random, run_id: str, started: str, i: int, spec: dict, factor: float,
            version: str, failed: bool) -> dict:
    median = spec["base_ms"] * factor * (1 + rng.gauss(0, 0.02))
    record = {
        "schema_version": 1, "run_id": run_id, "job_id": f"{i:03d}", "started_at": started,
        "harness_version": "0.1.0", "status": "failed" if failed else "ok",
        "error": {"kind": "runtime", "message": "delegate crashed"} if failed else None,
        "device": {"id": "sim:sm8650" if spec["simulated"] else "usb:ABC", "kind": "android",
                   "model": spec["model"], "soc": {"part": spec["soc"]},
                   "simulated": spec["simulated"], "os": "Android 14 (SDK 34)",
                   "build_fingerprint": "vendor/prod/dev:14/UP1A/1:user/release-keys"},
        "workload": {"name": spec["workload"], "sha256": f"{i // 20:064x}"},
        "backend": {"spec": spec["backend"], "runtime": spec["backend"].split(":")[0],
                    "options": {}, "library": "benchmark_model", "library_version": version},
        "tool": {"name": "benchmark_model", "version": version},
        "latency_ms": None if failed else _block(rng, median, 0.05),
    }
    if spec["llm"] and not failed:
        tps = 1000.0 / median
        record["llm"] = {"prompt_tokens": 128, "gen_tokens": 64,
                         "decode_tokens_per_s": _block(rng, tps, 0.04)}
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nights", type=int, default=60)
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--out", type=Path, help="default: a temporary folder")
    parser.add_argument("--store", action="store_true",
                        help="also time the command from a SQLite store")
    args = parser.parse_args()

    from npubench.reports.history import build_site, cell_histories, select_runs

    t0 = time.perf_counter()
    views = synthetic_runs(args.nights, args.cells)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "site"
        runs = select_runs(views)
        cells = cell_histories(runs)
        t2 = time.perf_counter()
        summary = build_site(runs, cells, out)
        t3 = time.perf_counter()
        size = sum(p.stat().st_size for p in out.iterdir())
        found = sorted({(c.key.workload, c.key.backend, s.index, round(s.relative, 3))
                        for c in cells for s in c.steps})
    result = {
        "nights": args.nights, "cells": summary.cells, "runs": summary.runs,
        "generate_s": round(t1 - t0, 2), "histories_and_steps_s": round(t2 - t1, 2),
        "site_s": round(t3 - t2, 2), "history_total_s": round(t3 - t1, 2),
        "target_s": 30, "site_bytes": size, "steps_found": found,
    }
    if args.store:
        result["command_from_sqlite_store_s"] = _time_from_store(views)
    print(json.dumps(result, indent=1))


def _samples(rng: random.Random, record: dict) -> dict[str, list[float]] | None:
    block = record.get("latency_ms")
    if not block:
        return None
    return {"latency_ms": [round(block["median"] * (1 + rng.gauss(0, 0.05)), 6)
                           for _ in range(block["n"])]}


def _time_from_store(views: list[RunView]) -> float:
    """Seconds of ``npubench history --store FILE --out DIR`` over ``views`` put in a store."""
    import contextlib
    import io

    from npubench.harness.cli import main as cli
    from npubench.reports.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "results.sqlite"
        store = open_store(db)
        rng = random.Random(1)
        for view in views:  # with per-iteration samples, as real runs have them
            store.add_run(view.info)
            store.add_records(view.run_id, [(r, _samples(rng, r)) for r in view.records],
                              view.info)
        store.close()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli(["history", "--store", str(db), "--out", str(Path(tmp) / "site")])
        seconds = time.perf_counter() - t0
        assert code == 0, code
    return round(seconds, 2)


if __name__ == "__main__":
    main()
