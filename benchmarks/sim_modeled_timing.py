"""The simulated phone's modeled timing (issue 12 point 7), two figures:

1. per-inference times, measured (the tools compute on the host CPU) against modeled (they wait
   host calibration / the profile's unit speed), for the quick suite's models on sm8650, one
   run of each mode through the whole harness;
2. the CPU use of 1, 4 and 8 modeled phones running a small suite at once: N ``npubench run``
   processes on ``sim:sm8650?timing=modeled``, their wall time and the CPU seconds they used
   (user + system of the processes, Python start-up and the harness included).

Modeled numbers are a model's output, never a phone's. Usage:
``python benchmarks/sim_modeled_timing.py [--phones 1,4,8|''] [--skip-suite]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUICK_BACKENDS = ["tflite:xnnpack", "tflite:qnn-htp", "ort:cpu", "ort:qnn-htp", "llama:cpu",
                  "llama:htp"]
SMALL_SUITE = ["--workload", "face_detection_short_range", "--workload", "okay_nabu",
               "--backend", "tflite:xnnpack", "--backend", "tflite:qnn-htp"]
SETTINGS = {"max_seconds": 1, "min_seconds": 0.5, "llm_repetitions": 2}


def suite_medians(timing: str, out: Path) -> dict[tuple[str, str], float]:
    import npubench

    result = npubench.run_suite(
        "quick", device=f"sim:sm8650?timing={timing}", threads=1, backends=QUICK_BACKENDS,
        out=out, report=False, cooldown_c=95.0, measure_power=False, settings=SETTINGS)
    medians = {}
    for r in result.records:
        key = (r["workload"]["name"], r["backend"]["spec"].partition("?")[0])
        median = (r.get("latency_ms") or {}).get("median")
        medians[key] = median if r["status"] == "ok" else f"{r['status']}"
    return medians


def figure_per_inference(tmp: Path) -> None:
    t0 = time.perf_counter()
    measured = suite_medians("measured", tmp / "measured")
    t1 = time.perf_counter()
    modeled = suite_medians("modeled", tmp / "modeled")
    t2 = time.perf_counter()
    print("\n1. per-inference median, sm8650, quick suite (ms; LLM rows: the harness's "
          "per-inference figure)")
    print(f"{'workload':28} {'backend':16} {'measured':>10} {'modeled':>10} {'ratio':>7}")
    for key in sorted(set(measured) | set(modeled)):
        a, b = measured.get(key, "-"), modeled.get(key, "-")
        ratio = f"{b / a:7.2f}" if isinstance(a, float) and isinstance(b, float) and a else ""
        fa = f"{a:10.3f}" if isinstance(a, float) else f"{a!s:>10}"
        fb = f"{b:10.3f}" if isinstance(b, float) else f"{b!s:>10}"
        print(f"{key[0]:28} {key[1]:16} {fa} {fb} {ratio}")
    print(f"suite wall time: measured {t1 - t0:.1f} s, modeled {t2 - t1:.1f} s")


def run_phones(n: int, tmp: Path) -> tuple[float, float, int]:
    """N modeled phones at once, each an ``npubench run`` of the small suite: (wall s,
    CPU s of the N processes, failures)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "npubench", "run", "--device", "sim:sm8650?timing=modeled",
         *SMALL_SUITE, "--cooldown-c", "95", "--set", "max_seconds=1", "--set",
         "min_seconds=0.5", "--out", str(tmp / f"n{n}-{i}")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(n)]
    failures = sum(p.wait(timeout=900) != 0 for p in procs)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, failures


def figure_cpu(phones: list[int], tmp: Path) -> None:
    print(f"\n2. N modeled phones at once, each `npubench run` of {len(SMALL_SUITE) // 4} "
          f"models x 2 backends (host: {os.cpu_count()} cores)")
    print(f"{'phones':>6} {'wall s':>8} {'CPU s':>8} {'CPU s/phone':>12} {'cores busy':>11} "
          f"{'N x wall(1) / wall(N)':>22} {'failed':>7}")
    run_phones(1, tmp)  # calibration and model caches warm, as on a farm's second night
    wall1 = None
    for n in phones:
        wall, cpu, failed = run_phones(n, tmp)
        wall1 = wall1 or (wall if n == 1 else None)
        eff = f"{n * wall1 / wall:22.2f}" if wall1 else f"{'':>22}"
        print(f"{n:6d} {wall:8.1f} {cpu:8.1f} {cpu / n:12.1f} {cpu / wall:11.2f} {eff} "
              f"{failed:7d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", default="1,4,8", help="'' for no CPU figure")
    parser.add_argument("--skip-suite", action="store_true", help="only the CPU figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="npubench-modeled-") as folder:
        tmp = Path(folder)
        if not args.skip_suite:
            figure_per_inference(tmp)
        if args.phones:
            figure_cpu([int(x) for x in args.phones.split(",")], tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
