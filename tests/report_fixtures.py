"""A hand-made run folder for trying the report and for the report's tests.

The records follow schema v1 (``npubench.results``) but their numbers are invented; the run is
labelled ``suite: demo``. Test fixtures only: never shipped, never presented as measurements.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path
from typing import Any

from npubench.results import RunStore, slug

RUN_ID = "20261124-132000-demo"
HARNESS_VERSION = "0.1.0"
SETTINGS = {
    "warmup_iterations": 10, "min_iterations": 10, "max_iterations": 10000, "min_seconds": 1.0,
    "max_seconds": 10.0, "target_precision": 0.01, "seed": 0,
}


def host_device(**fields: Any) -> dict[str, Any]:
    device = {
        "id": "host", "kind": "host", "model": "AMD EPYC (2 cores)", "manufacturer": None,
        "soc": {"vendor": None, "part": None, "name": None}, "npu": None, "cpu": "AMD EPYC",
        "cpu_cores": 2, "ram_bytes": 25_000_000_000, "os": "Linux 6.1 (Debian 12)",
        "build_fingerprint": None, "abi": "x86_64", "accelerators": [], "simulated": False,
    }
    return {**device, **fields}


def sim_phone_device(**fields: Any) -> dict[str, Any]:
    device = {
        "id": "127.0.0.1:5555", "kind": "android", "model": "SM-S928B", "manufacturer": "samsung",
        "soc": {"vendor": "Qualcomm", "part": "SM8650", "name": "Snapdragon 8 Gen 3"},
        "npu": "Hexagon HTP v75", "cpu": "Kryo", "cpu_cores": 8, "ram_bytes": 12_000_000_000,
        "os": "Android 14", "build_fingerprint": "samsung/e3qxxx/e3q:14/UP1A/S928BXXU1AXB5:user",
        "abi": "arm64-v8a", "accelerators": ["gpu", "npu"], "simulated": True,
    }
    return {**device, **fields}


def latency_samples(median_ms: float, n: int = 201, spread: float = 0.05, seed: int = 0):
    """``n`` (odd) latencies whose median is exactly ``median_ms``, skewed right like real ones."""
    rng = random.Random(seed)
    half = [abs(rng.gauss(0, spread)) for _ in range(n // 2)]
    noise = [0.0] + [x for h in half for x in (h, -h)]
    samples = [median_ms * math.exp(x) * (1 + (0.6 * rng.random() if rng.random() < 0.02 else 0))
               if x > 0 else median_ms * math.exp(x) for x in noise]
    rng.shuffle(samples)
    return samples


def latency_summary(samples: list[float]) -> dict[str, Any]:
    """The ``latency_ms`` field for ``samples`` (CI95 of the median by order statistics)."""
    data = sorted(samples)
    n = len(data)
    mean = sum(data) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in data) / (n - 1)) if n > 1 else 0.0
    half_width = 1.96 * math.sqrt(n) / 2
    low = data[max(0, int(math.floor(n / 2 - half_width)))]
    high = data[min(n - 1, int(math.ceil(n / 2 + half_width)))]
    return {
        "n": n, "mean": mean, "median": _quantile(data, 0.5), "p90": _quantile(data, 0.9),
        "p99": _quantile(data, 0.99), "std": std, "min": data[0], "max": data[-1],
        "ci95_low": low, "ci95_high": high,
    }


def _quantile(data: list[float], q: float) -> float:
    pos = (len(data) - 1) * q
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def backend(spec: str, library: str | None = None, version: str | None = None) -> dict[str, Any]:
    head, _, query = spec.partition("?")
    runtime, _, accelerator = head.partition(":")
    options = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
    options = {k: int(v) if v.isdigit() else v for k, v in options.items()}
    library = library or {"tflite": "ai-edge-litert", "ort": "onnxruntime"}.get(runtime)
    version = version or {"ai-edge-litert": "2.3.0", "onnxruntime": "1.23.2"}.get(library or "")
    return {"spec": spec, "runtime": runtime, "accelerator": accelerator, "options": options,
            "library": library, "library_version": version}


def workload(name: str, fmt: str = "tflite", **fields: Any) -> dict[str, Any]:
    data = {"name": name, "format": fmt, "sha256": "0" * 64, "task": "image-classification",
            "precision": "fp32", "source": f"demo:{name}.{fmt}", "license": "Apache-2.0",
            "synthetic": False, "size_bytes": 1_000_000}
    return {**data, **fields}


def base_record(name: str, spec: str, *, status: str, device: dict | None = None,
                fmt: str | None = None, **fields: Any) -> dict[str, Any]:
    fmt = fmt or ("onnx" if spec.startswith("ort:") else "tflite")
    record = {
        "run_id": RUN_ID, "job_id": f"{name}@{spec}", "index": 0,
        "started_at": "2026-11-24T13:20:01.123+00:00", "duration_s": 4.2,
        "harness_version": HARNESS_VERSION, "status": status, "error": None,
        "validity": "valid" if status == "ok" else "invalid", "validity_reasons": [],
        "device": device or host_device(), "workload": workload(name, fmt),
        "backend": backend(spec), "tool": None, "settings": dict(SETTINGS),
    }
    record.update(fields)
    return record


def ok_record(name: str, spec: str, median_ms: float, *, device: dict | None = None,
              power: dict | None = None, n: int = 201, spread: float = 0.05, seed: int = 0,
              **fields: Any) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """An ok record whose median is exactly ``median_ms``, and its samples."""
    samples = latency_samples(median_ms, n=n, spread=spread, seed=seed)
    summary = latency_summary(samples)
    simulated = bool((device or {}).get("simulated"))
    record = base_record(
        name, spec, status="ok", device=device,
        init_ms=12.3 * median_ms, first_inference_ms=2.4 * median_ms,
        warmup={"iterations": 10, "mean_ms": 1.1 * median_ms}, latency_ms=summary,
        stop_reason="precision", measured_s=sum(samples) / 1000,
        inference_s=sum(samples) / 1000 * 1.1, memory_peak_mb=85.2,
        memory_source="peak RSS of the job's worker process (getrusage ru_maxrss)",
        power=power,
        power_missing_reason=None if power else (
            "no power sensor on this host (no RAPL powercap, no NVIDIA GPU)"),
        thermal=None, thermal_missing_reason="no thermal zones on this host",
        delegation=None,
    )
    if simulated:
        record["tool"] = {"name": "benchmark_model", "version": "2.16 (simulated)"}
    record.update(fields)
    return record, {"latency_ms": samples, "warmup_ms": [1.1 * median_ms] * 10}


# accelerator of a backend spec -> (delegate name the tool reports, where it should run)
PHONE_DELEGATES = {
    "nnapi": ("NNAPI", "npu"), "qnn-htp": ("QNN HTP", "npu"), "neuron": ("NeuronDelegate", "npu"),
    "gpu": ("GPU", "gpu"), "cpu": (None, "cpu"), "xnnpack": (None, "cpu"),
}
ACCURACY_REFERENCE = "host LiteRT CPU (builtin kernels, XNNPACK off)"


def phone_ok_record(name: str, spec: str, median_ms: float, *, device: dict | None = None,
                    nodes_total: int | None = 61, nodes_delegated: int | None = None,
                    delegate: str | None = None, status: str | None = None,
                    accuracy: dict | None | str = "auto", max_c: float | None = 41.5,
                    throttled: bool = False, rounds: int = 10, seed: int = 0,
                    **fields: Any) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """An ok job on a (simulated) phone with the phone-only blocks: ``delegation``,
    ``accuracy``, ``thermal``, tool rounds, ``iterations``, ``telemetry`` and
    ``preconditions``. ``nodes_delegated`` below ``nodes_total`` makes a CPU fallback;
    ``accuracy="auto"`` compares TFLite outputs and gives ORT its missing reason;
    ``max_c=None`` leaves the temperature out with its reason."""
    accelerator = spec.partition("?")[0].partition(":")[2]
    known_delegate, expected = PHONE_DELEGATES.get(accelerator, (accelerator.upper(), "npu"))
    delegate = delegate or known_delegate
    if delegate:
        delegated = nodes_total if nodes_delegated is None else nodes_delegated
        status = status or ("full" if delegated == nodes_total else
                            "none" if delegated == 0 else "partial")
        delegation = {"delegate": delegate, "nodes_total": nodes_total,
                      "nodes_delegated": delegated, "kernels": 1 if delegated else 0,
                      "status": status, "fallback": status != "full", "expected": expected}
    else:
        delegation = {"delegate": None, "nodes_total": None, "nodes_delegated": None,
                      "kernels": None, "status": status or "none", "fallback": False,
                      "expected": "cpu"}
    if accuracy == "auto":
        accuracy = (
            {"reference": ACCURACY_REFERENCE, "max_abs_error": 6.3e-05,
             "cosine_similarity": 0.99999, "outputs": 2}
            if not spec.startswith("ort:") else
            {"max_abs_error": None, "cosine_similarity": None,
             "missing_reason": "onnxruntime_perf_test cannot dump outputs"})
    thermal = None if max_c is None else {
        "source": "thermal_zone (cpu-0-0)", "start_c": 36.5, "end_c": max_c - 0.5,
        "max_c": max_c, "hottest_zone": "cpu-0-0", "throttled": throttled}
    record, samples = ok_record(
        name, spec, median_ms, device=device or sim_phone_device(), seed=seed,
        thermal=thermal, thermal_missing_reason=None if thermal else (
            "no readable CPU/SoC thermal zone (permission denied)"),
        power_missing_reason="charging over USB could not be suspended (no root)",
        delegation=delegation, accuracy=accuracy)
    n = record["latency_ms"]["n"]
    record.update(
        tool={"name": "benchmark_model", "version": "2.16 (simulated)",
              "path_on_device": "/data/local/tmp/npubench/benchmark_model",
              "rounds": rounds, "wall_s": 2.8},
        iterations=n,
        telemetry={"clock": "device uptime", "window_s": [100.0, 103.2], "n": 80,
                   "rate_hz": 24.8, "max_gap_ms": 61.2, "reasons": []},
        preconditions={"cooldown": {"applied": True, "reason": None, "reached": True,
                                    "waited_s": 12.4, "threshold_c": 40.0, "start_c": 43.2,
                                    "end_c": 39.6, "hottest_zone": "cpu-0-0"}},
    )
    record.update(fields)
    return record, samples


def phone_jobs() -> list[Any]:
    """A simulated phone run: full, partial and no delegation, a throttled job, ORT without
    an accuracy check, a job without temperature, and one host job beside them."""
    return [
        ok_record("mobilenet_v2", "tflite:cpu", 31.0, seed=3),
        phone_ok_record("mobilenet_v2", "tflite:cpu", 48.0, seed=7),
        phone_ok_record("mobilenet_v2", "tflite:gpu", 9.5, seed=9, nodes_total=66),
        phone_ok_record("mobilenet_v2", "tflite:nnapi", 6.1, seed=10, nodes_delegated=42,
                        throttled=True, max_c=47.8),
        phone_ok_record("mobilenet_v2", "ort:nnapi", 7.2, seed=11, nodes_total=164),
        phone_ok_record("mobilenet_v2", "tflite:qnn-htp", 1.9, seed=12, nodes_total=164,
                        max_c=None),
        phone_ok_record("face_detection_short_range", "tflite:neuron", 1.4, seed=13,
                        nodes_total=110, nodes_delegated=0),
        failed_record("mobilenet_v2", "tflite:gpu?precision=fp16", "runtime",
                      "Failed to apply delegate: OpenCL library not found",
                      device=sim_phone_device()),
    ]


def failed_record(name: str, spec: str, kind: str, message: str, *,
                  infrastructure: bool = False, **fields: Any) -> dict[str, Any]:
    error = {"kind": kind, "message": message, "infrastructure": infrastructure}
    return base_record(name, spec, status="failed", error=error, **fields)


def skipped_record(name: str, spec: str, message: str, **fields: Any) -> dict[str, Any]:
    error = {"kind": "unavailable", "message": message, "infrastructure": False}
    return base_record(name, spec, status="skipped", error=error, **fields)


def write_run(run_dir: Path, jobs: list[Any], *, finished: bool = True,
              **run_info: Any) -> Path:
    """A run folder holding ``jobs``: records, or ``(record, samples)`` pairs.

    ``finished=False`` leaves ``finished_at`` out of ``run.json``, as a run stopped by Ctrl-C does.
    """
    store = RunStore(Path(run_dir))
    info = {
        "run_id": RUN_ID, "started_at": "2026-11-24T13:20:00+00:00",
        "argv": ["npubench", "run", "--suite", "quick"], "harness_version": HARNESS_VERSION,
        "host": host_device(),
        "versions": {"python": "3.11.2", "numpy": "2.3.5", "ai-edge-litert": "2.3.0",
                     "onnxruntime": "1.23.2"},
        "suite": "demo",
    }
    if finished:
        info["finished_at"] = "2026-11-24T13:21:05+00:00"
    info.update(run_info)
    store.create(info)
    for index, job in enumerate(jobs):
        record, samples = job if isinstance(job, tuple) else (job, None)
        record = {**record, "index": index}
        record.setdefault("log_path", f"logs/{index:03d}-{slug(record['job_id'])}.log")
        if samples is not None:
            record["samples_path"] = store.write_samples(index, record["job_id"], samples)
        store.append(record)
    return store.run_dir


def demo_jobs() -> list[Any]:
    """A mixed run: host CPU and XNNPACK, ONNX Runtime, a failure, a skip, a semivalid job and
    a simulated phone with power and temperature."""
    phone = sim_phone_device()
    phone_power = {"source": "battery fuel gauge (current_now x voltage_now)",
                   "sample_rate_hz": 20, "idle_mw": 410, "active_mw": 2350,
                   "energy_mj_per_inference": 4.1}
    thermal = {"source": "thermal_zone (cpu-0-0)", "start_c": 36.5, "end_c": 41.0,
               "max_c": 41.5, "throttled": False}
    return [
        ok_record("face_detection_short_range", "tflite:cpu", 10.0, seed=1),
        ok_record("face_detection_short_range", "tflite:xnnpack?threads=2", 2.0, seed=2),
        ok_record("mobilenet_v2", "tflite:cpu", 31.0, seed=3),
        ok_record("mobilenet_v2", "tflite:xnnpack?threads=2", 7.5, seed=4),
        ok_record("mobilenet_v2", "ort:cpu", 12.0, seed=5),
        ok_record("mobilenet_v2", "ort:cpu?threads=1", 19.0, seed=6, n=11, spread=0.15,
                  stop_reason="max_seconds", validity="semivalid",
                  settings={**SETTINGS, "min_iterations": 50},
                  validity_reasons=["stopped on max_seconds (10 s) after 11 iterations, "
                                    "before min_iterations (50)"]),
        ok_record("mobilenet_v2", "tflite:cpu", 48.0, device=phone, seed=7, power=None,
                  thermal=thermal, power_missing_reason="charging over USB could not be "
                  "suspended (no root)"),
        phone_ok_record("mobilenet_v2", "tflite:qnn-htp", 1.9, device=phone, seed=8,
                        power=phone_power, power_missing_reason=None, nodes_total=66,
                        nodes_delegated=64),
        skipped_record("mobilenet_v2", "ort:cuda",
                       "ort:cuda: CUDAExecutionProvider is not installed (onnxruntime has "
                       "CPUExecutionProvider only)"),
        failed_record("face_detection_short_range", "tflite:gpu", "runtime",
                      "Failed to apply delegate: OpenCL library not found & no GL context "
                      "<libOpenCL.so>"),
        failed_record("mobilenet_v2", "tflite:nnapi", "device_lost",
                      "127.0.0.1:5555: device lost while pushing the model",
                      infrastructure=True, device=phone),
    ]


LLM_SOURCE = "npubench decode loop over onnxruntime (greedy, KV cache)"
# Invented bytes per parameter of each precision (int8/int4 carry block scales).
_BYTES_PER_PARAM = {"fp32": 4.0, "fp16": 2.0, "int8": 1.06, "int4": 0.56}


def spread_values(median: float, reps: int, spread: float = 0.03) -> list[float]:
    """``reps`` (odd) values around ``median`` whose median is exactly ``median``."""
    half = reps // 2
    return [median * (1 + spread * k / max(half, 1)) for k in range(-half, half + 1)]


def llm_record(name: str, spec: str, decode_tok_s: float, *, precision: str = "int4",
               params: int | None = 1_100_048_384, prompt: int = 512, gen: int = 128,
               reps: int = 5, prefill_tok_s: float | None = None, load_ms: float = 850.0,
               weight_bytes: int | None = None, kv_bytes: int | None = None,
               memory_peak_mb: float | None = None, energy_mj_per_token: float | None = None,
               energy_missing_reason: str | None = "no power sensor on this host (no RAPL "
               "powercap, no NVIDIA GPU with NVML)", device: dict | None = None,
               source: str = LLM_SOURCE, seed: int = 0,
               **fields: Any) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """An ok text-generation job as the LLM contract records it: top-level medians (TTFT,
    prefill and decode tokens/s, energy per token or its missing reason) and the ``llm`` block
    with the distributions over ``reps`` repetitions. Decode tokens/s is exactly
    ``decode_tok_s``; ``energy_mj_per_token`` set means power was measured."""
    prefill_tok_s = prefill_tok_s or 12 * decode_tok_s
    decode = spread_values(decode_tok_s, reps)
    prefill = spread_values(prefill_tok_s, reps)
    ttft = [prompt / rate * 1000 for rate in prefill]
    token_ms = latency_samples(1000 / decode_tok_s, n=reps * gen | 1, spread=0.04, seed=seed)
    if weight_bytes is None and params is not None:
        weight_bytes = int(params * _BYTES_PER_PARAM.get(precision, 4.0))
    if kv_bytes is None:
        kv_bytes = 2 * 22 * 256 * (prompt + gen) * (4 if precision == "fp32" else 2)
    if memory_peak_mb is None and weight_bytes is not None:
        memory_peak_mb = 1.18 * (weight_bytes + kv_bytes) / 2**20 + 40
    runtime = spec.partition(":")[0]
    library, version, fmt = {"ort": ("onnxruntime", "1.23.2", "onnx"),
                             "llama": ("llama.cpp", "b6000", "gguf")}.get(
                                 runtime, (None, None, "onnx"))
    power = None
    if energy_mj_per_token is not None:
        energy_missing_reason = None
        power = {"source": "RAPL powercap (package-0)", "sample_rate_hz": 50, "idle_mw": 4100,
                 "active_mw": 19_800, "energy_mj_per_inference": energy_mj_per_token}
    record, samples = ok_record(name, spec, 1000 / decode_tok_s, device=device, power=power,
                                seed=seed)
    record.update(
        workload=llm_workload(name, precision, fmt),
        backend=backend(spec, library, version),
        latency_ms=latency_summary(token_ms), init_ms=load_ms, first_inference_ms=ttft[0],
        stop_reason="repetitions", memory_peak_mb=memory_peak_mb,
        ttft_ms=latency_summary(ttft)["median"], prefill_tokens_per_s=prefill_tok_s,
        decode_tokens_per_s=decode_tok_s, energy_mj_per_token=energy_mj_per_token,
        energy_missing_reason=energy_missing_reason,
        power_missing_reason=energy_missing_reason,
        llm={"prompt_tokens": prompt, "gen_tokens": gen, "repetitions": reps,
             "params": params, "weight_bytes": weight_bytes, "kv_cache_bytes": kv_bytes,
             "load_ms": load_ms, "ttft_ms": latency_summary(ttft),
             "prefill_tokens_per_s": latency_summary(prefill),
             "decode_tokens_per_s": latency_summary(decode),
             "token_latency_ms": latency_summary(token_ms), "source": source},
    )
    record.update(fields)
    samples = {"latency_ms": token_ms, "ttft_ms": ttft, "decode_tokens_per_s": decode,
               "warmup_ms": [ttft[0]]}
    return record, samples


def llm_jobs() -> list[Any]:
    """An LLM run: one 1.1B model in int4 and fp16 on ort:cpu and ort:cuda (one with power),
    a small model, a simulated phone's llama-bench job, a failed and a skipped LLM job."""
    phone = sim_phone_device()
    return [
        llm_record("llama_1b_int4", "ort:cpu", 11.8, seed=1),
        llm_record("llama_1b_fp16", "ort:cpu", 6.1, precision="fp16", seed=2),
        llm_record("llama_1b_int4", "ort:cuda", 96.0, seed=3, energy_mj_per_token=310.0),
        llm_record("llama_1b_fp16", "ort:cuda", 142.0, precision="fp16", seed=4,
                   energy_mj_per_token=205.0),
        llm_record("llama_15m_int4", "ort:cpu", 420.0, params=15_191_040, seed=5,
                   prompt=128, gen=32),
        llm_record("tinyllama-1.1b-q4_0.gguf", "llama:htp", 21.5, device=phone, seed=6,
                   energy_missing_reason="charging over USB could not be suspended (no root)",
                   source="llama-bench"),
        failed_record("llama_1b_fp32", "ort:cpu", "workload",
                      "llama_1b_fp32 needs about 4.6 GB (weights 4.4 GB + KV cache 0.1 GB); "
                      "24 GB available", workload=llm_workload("llama_1b_fp32", "fp32")),
        skipped_record("tinyllama-1.1b-q4_0.gguf", "llama:gpu",
                       "llama:gpu: no OpenCL on this phone", device=phone,
                       workload=llm_workload("tinyllama-1.1b-q4_0.gguf", "int4", "gguf")),
    ]


def llm_workload(name: str, precision: str = "int4", fmt: str = "onnx") -> dict[str, Any]:
    """The ``workload`` block of a text-generation job."""
    return workload(name, fmt, task="text-generation", precision=precision, synthetic=True,
                    source=f"generated:{name}")


def main(argv: list[str] | None = None) -> int:
    from npubench.reports.html import write_report

    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or args[1:] not in ([], ["phone"]):
        print("usage: python tests/report_fixtures.py OUT_DIR [phone]", file=sys.stderr)
        return 1
    run_dir = write_run(Path(args[0]), phone_jobs() if args[1:] else demo_jobs())
    print(write_report(run_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
