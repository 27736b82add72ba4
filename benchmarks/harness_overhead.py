"""Harness overhead: the median npubench reports for face_detection_short_range on
tflite:xnnpack, 1 thread, against the median of a bare ``invoke()`` loop over the same model
and inputs, both measured in this one script run (interleaved, several rounds).

Target (issue 2): within 3%.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from ai_edge_litert.interpreter import Interpreter

from npubench.harness.host_job import run_host_job
from npubench.harness.settings import MeasureSettings
from npubench.harness.worker import run_isolated
from npubench.workloads.inputs import TensorSpec, make_inputs
from npubench.workloads.registry import resolve

WORKLOAD, BACKEND = "face_detection_short_range", "tflite:xnnpack?threads=1"
ROUNDS, BARE_SECONDS = 3, 3.0


def bare_median_ms(model_path: str, seed: int) -> float:
    interpreter = Interpreter(model_path=model_path, num_threads=1)
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()
    specs = [TensorSpec(d["name"], tuple(d["shape"]), d["dtype"]) for d in details]
    inputs = make_inputs(specs, seed=seed)
    for d in details:
        interpreter.set_tensor(d["index"], inputs[d["name"]])
    invoke = interpreter.invoke
    for _ in range(20):
        invoke()
    samples = []
    end = time.perf_counter() + BARE_SECONDS
    while time.perf_counter() < end:
        t0 = time.perf_counter_ns()
        invoke()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(samples)


def harness_median_ms(model_path: str, settings: MeasureSettings, inputs) -> float:
    job = {"model_path": model_path, "backend": BACKEND, "inputs": inputs,
           "settings": settings.to_dict(), "telemetry": False}
    result = run_isolated(run_host_job, job, timeout_s=120)
    if result["status"] != "ok":
        sys.exit(f"harness job failed: {result['error']}")
    return result["latency_ms"]["median"]


def main() -> None:
    workload = resolve(WORKLOAD)
    path = str(workload.path())
    settings = MeasureSettings(min_seconds=BARE_SECONDS, max_seconds=BARE_SECONDS * 2,
                               target_precision=0.005, threads=1)
    rows = []
    for round_ in range(ROUNDS):
        bare = bare_median_ms(path, settings.seed)
        harness = harness_median_ms(path, settings, dict(workload.inputs))
        rows.append({"round": round_, "bare_ms": bare, "harness_ms": harness,
                     "ratio": harness / bare})
        print(f"round {round_}: bare {bare:.4f} ms, harness {harness:.4f} ms, "
              f"ratio {harness / bare:.4f}")
    ratio = statistics.median(r["ratio"] for r in rows)
    print(json.dumps({"workload": WORKLOAD, "backend": BACKEND, "rounds": rows,
                      "median_ratio": ratio, "target": "within 3% (0.97..1.03)",
                      "met": 0.97 <= ratio <= 1.03}, indent=1))


if __name__ == "__main__":
    main()
