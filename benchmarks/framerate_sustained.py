"""Frame-rate (sustained) mode figures (issue 13 item 2):

1. a long frame-rate run (default 300 s at 30 fps) of a super-resolution-to-1080p workload on
   the simulated sm8650 with modeled timing (``sim:sm8650?timing=modeled``: simulated, modeled
   timing, never a phone's figure): the frame where it first misses deadlines steadily, the
   first sustained slowdown, the steady-state ratio, and the temperatures and clocks;
2. a host run (default 30 s at 30 fps) with the same figures.

Each run goes through the whole harness (``npubench run --fps --duration``) and writes its run
folder and report; this script prints the ``framerate`` block's figures. Usage:
``python benchmarks/framerate_sustained.py [--workload NAME] [--backend SPEC] [--seconds 300]
[--host-workload NAME] [--host-seconds 30] [--skip-phone] [--skip-host] [--out DIR]``
(the workload defaults to the built-in ESPCN-to-1080p int8 TFLite one, else another
``sr_*_1080p_*_tflite``, else ``selfie_segmentation``, and says which).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

KEYS = ("fps", "duration_s", "frames", "processed", "dropped", "missed", "missed_low",
        "missed_high", "miss_ratio", "first_steady_miss_s", "first_steady_miss_frame",
        "first_sustained_slowdown_s", "first_sustained_slowdown_frame", "slowdown_before_ms",
        "slowdown_after_ms", "first_throughput_fps", "steady_throughput_fps",
        "steady_state_ratio", "first_latency_ms", "steady_latency_ms", "steady_latency_ratio")


def pick_sr_workload() -> str:
    """The built-in super-resolution-to-1080p TFLite workload (ESPCN first; int8, the NPU's
    usual precision, then fp16, fp32), else ``selfie_segmentation``."""
    out = subprocess.run([sys.executable, "-m", "npubench", "workloads", "--json"],
                         capture_output=True, text=True, check=True).stdout
    names = [w["name"] for w in json.loads(out) if isinstance(w, dict) and "name" in w]
    for arch in ("espcn", ""):
        for precision in ("int8", "fp16", "fp32"):
            found = [n for n in names if n.startswith(f"sr_{arch}") and "_1080p_" in n
                     and n.endswith(f"_{precision}_tflite")]
            if found:
                return found[0]
    return "selfie_segmentation"


def run(device: str, workload: str, backend: str, seconds: int, out: Path) -> dict:
    cmd = [sys.executable, "-m", "npubench", "run", "--device", device, "--workload", workload,
           "--backend", backend, "--fps", "30", "--duration", f"{seconds}s", "--out", str(out),
           "--no-store", "--no-power", "--cooldown-c", "95"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    record = records[0]
    print(f"\n== {device} {workload} {backend}: {record['status']} in {wall:.0f} s wall "
          f"(exit {done.returncode}); report {out / 'report.html'}")
    if record["status"] != "ok":
        print("   ", record.get("error"))
        return record
    block = record["framerate"]
    for key in KEYS:
        if key in block:
            print(f"   {key:32s} {block[key]}")
    print(f"   mechanism: {block['mechanism']}")
    windows = block["windows"]
    temps = [w["temp_c"] for w in windows if w.get("temp_c") is not None]
    clocks = [w["freq_mhz"] for w in windows if w.get("freq_mhz") is not None]
    if temps:
        print(f"   hottest zone per window: {temps[0]:.1f} -> {temps[-1]:.1f} °C "
              f"(max {max(temps):.1f})")
    if clocks:
        print(f"   mean CPU clock per window: first {clocks[0]:.0f} MHz, last {clocks[-1]:.0f} "
              f"MHz, min {min(clocks):.0f}")
    lat = [w["latency_ms"] for w in windows if w.get("latency_ms") is not None]
    if lat:
        third = max(1, len(lat) // 3)
        print(f"   window latency: first third median {sorted(lat[:third])[third // 2]:.2f} ms,"
              f" last third median {sorted(lat[-third:])[third // 2]:.2f} ms")
    print(f"   thermal: {record.get('thermal')}")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload")
    parser.add_argument("--backend", default="tflite:qnn-htp")
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--host-workload", help="default: the phone's workload")
    parser.add_argument("--host-backend", default="tflite:xnnpack")
    parser.add_argument("--host-seconds", type=int, default=30)
    parser.add_argument("--skip-phone", action="store_true")
    parser.add_argument("--skip-host", action="store_true")
    parser.add_argument("--out", default="runs/framerate")
    args = parser.parse_args()
    out = Path(args.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    workload = args.workload or pick_sr_workload()
    if not args.skip_phone:
        print(f"simulated phone workload: {workload}")
        run("sim:sm8650?timing=modeled", workload, args.backend, args.seconds,
            out / f"{stamp}-sim-sm8650-modeled")
    if not args.skip_host:
        run("host", args.host_workload or workload, args.host_backend, args.host_seconds,
            out / f"{stamp}-host")


if __name__ == "__main__":
    main()
