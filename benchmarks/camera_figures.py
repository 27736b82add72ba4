"""Camera figures of issue 13: latency per frame of super-resolution to 1080p and 4K and of
denoising at 1080p, measured THROUGH THE HARNESS (``npubench run``'s code path):

* on the host: TFLite on LiteRT's XNNPACK (``tflite:xnnpack``) and ONNX on ONNX Runtime's CPU
  provider (``ort:cpu``), fp32 and int8;
* on a simulated Snapdragon 8 Gen 3 (``sim:sm8650``) through its NPU path (``npu``: the QNN HTP
  delegate of benchmark_model), TFLite fp32 and int8. SIMULATED: the simulated phone runs the
  tool on this host's CPU; its numbers show that the path works, not what a phone does.

Few iterations (the largest models take seconds per frame on 2 cores): medians of 3 frames on
the host, of 2 rounds x 2 runs on the simulated phone. Models are built (and cached) first;
build times are reported apart. Usage: ``python benchmarks/camera_figures.py [--out FILE]
[--only SUBSTRING]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from npubench.harness.suite_run import RunRequest, run
from npubench.workloads.registry import builtin

SETS = ["sr_espcn_x2_1080p", "sr_espcn_x2_4k", "sr_srvgg16_x4_1080p", "sr_srvgg16_x4_4k",
        "dn_ffdnet_1080p"]
PRECISIONS = ["fp32", "int8"]
HOST = {"warmup_iterations": 1, "min_iterations": 3, "min_seconds": 0.0, "max_seconds": 60.0,
        "target_precision": 0.5}
PHONE = {"idle_baseline_s": 1, "device_rounds_min": 2, "device_rounds_max": 2,
         "device_round_runs": 2, "device_round_warmup_runs": 1, "device_round_min_secs": 0.0}
RUNS = [  # device, backend, format, settings
    ("host", "tflite:xnnpack", "tflite", HOST),
    ("host", "ort:cpu", "onnx", HOST),
    ("sim:sm8650", "npu", "tflite", PHONE),
]


def build_all(names: list[str]) -> dict[str, float]:
    """Build (or find in the cache) every model first, so runs measure inference only."""
    table, seconds = builtin(), {}
    for name in names:
        start = time.perf_counter()
        table[name].path()
        seconds[name] = round(time.perf_counter() - start, 2)
    return seconds


def row(record: dict) -> dict:
    latency = record.get("latency_ms") or {}
    median = latency.get("median")
    delegation = record.get("delegation") or {}
    return {
        "workload": record["workload"]["name"], "backend": record["job_id"].split("@")[1],
        "device": record["device"].get("model") or record["device"].get("id"),
        "simulated": record["device"].get("simulated", False), "status": record["status"],
        "median_ms": median, "n": latency.get("n"),
        "fps": round(1000.0 / median, 2) if median else None,
        "delegated": (f"{delegation['nodes_delegated']}/{delegation['nodes_total']}"
                      if delegation.get("nodes_total") else None),
        "error": (record.get("error") or {}).get("message"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="camera_figures.json")
    parser.add_argument("--only", default="", help="only workload sets containing this text")
    args = parser.parse_args()
    sets = [s for s in SETS if args.only in s]
    os.environ.setdefault("ANDROID_USER_HOME", tempfile.mkdtemp(prefix="npubench-adb-"))
    names = [f"{s}_{p}_{fmt}" for s in sets for p in PRECISIONS for fmt in ("onnx", "tflite")]
    builds = build_all(names)
    print("build s:", json.dumps(builds), flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="npubench-camera-") as tmp:
        for i, (device, backend, fmt, settings) in enumerate(RUNS):
            workloads = [n for n in names if n.endswith("_" + fmt)]
            start = time.perf_counter()
            result = run(RunRequest(device=device, workloads=workloads, backends=[backend],
                                    settings=settings, out=Path(tmp) / str(i), report=False,
                                    store=False, measure_power=False))
            for record in result.records:
                rows.append(row(record))
                print(json.dumps(rows[-1]), flush=True)
            print(f"{device} {backend}: {time.perf_counter() - start:.0f} s", flush=True)
    Path(args.out).write_text(json.dumps({"builds_s": builds, "rows": rows}, indent=1))
    print(f"{'workload':32} {'backend':26} {'device':22} {'median ms':>10} {'fps':>6}")
    for r in rows:
        where = f"simulated {r['device']}" if r["simulated"] else "host"
        median = f"{r['median_ms']:.1f}" if r["median_ms"] else r["status"]
        print(f"{r['workload']:32} {r['backend']:26} {where:22} {median:>10} {r['fps'] or '':>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
