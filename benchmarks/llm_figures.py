"""The LLM figures of issue 5, each measured in this one script run:

1. decode tokens/s the harness reports against a bare ``session.run`` loop over the same model
   and KV cache (interleaved rounds, each side in its own fresh process); target >= 0.95x;
2. peak memory of the ~1B preset in 4-bit weights through the harness against weight bytes +
   KV-cache bytes; target < 1.3x;
3. building the ~1B preset (4-bit) in an empty cache; target < 2 minutes on 2 cores; and
   reusing it (target: no rebuild);
4. (issue 13) ``--memory-before-after``: the 1B int4's peak ÷ (weights + KV) with the mapped
   weight pages kept after load (the job's keep_mapped_weights, as before the fix) and handed
   back (the default), in the same script run, with the record's breakdown;
5. (issue 13) ``--large NAME``: the largest preset this host holds (llama_7b_int4 on 24 GiB):
   build time of its ONNX form (and ``--gguf``: of its GGUF), then TTFT, prefill and decode
   tokens/s and peak ÷ (weights + KV) at ``--prompt``/``--gen`` tokens (short on 2 cores).

Usage: ``python benchmarks/llm_figures.py [--decode-workload NAME] [--skip-1b]
[--skip-decode] [--memory-before-after] [--large llama_7b_int4 --prompt 64 --gen 16 --reps 3
[--gguf]]``. The 1B build uses a fresh temporary cache so that it really builds; set
NPUBENCH_CACHE to keep models (the large preset is built in the user's cache).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

from npubench.harness.host_job import run_host_job
from npubench.harness.settings import MeasureSettings
from npubench.harness.worker import run_isolated
from npubench.workloads.registry import resolve

ROUNDS = 3


def bare_decode_tokens_per_s(queue, model_path: str, vocab: int, n_prompt: int, n_gen: int,
                             repetitions: int, threads: int) -> None:
    """A bare loop: session.run, presents fed back as pasts, argmax; no harness code."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    past = [i for i in session.get_inputs() if i.name.startswith("past_key_values")]
    present = [p.name.replace("past_key_values", "present") for p in past]
    empty = np.zeros((1, past[0].shape[1], 0, past[0].shape[3]), np.float32)
    prompt = np.random.default_rng(0).integers(3, vocab, size=(1, n_prompt), dtype=np.int64)
    rates = []
    for rep in range(repetitions + 1):  # the first is a warm-up
        feeds = {p.name: empty for p in past}
        feeds["input_ids"] = prompt
        out = session.run(["logits", *present], feeds)
        token = int(out[0][0, -1].argmax())
        start = time.perf_counter_ns()
        for _ in range(n_gen):
            feeds = dict(zip((p.name for p in past), out[1:], strict=True))
            feeds["input_ids"] = np.array([[token]], np.int64)
            out = session.run(["logits", *present], feeds)
            token = int(out[0][0, -1].argmax())
        if rep:
            rates.append(n_gen / ((time.perf_counter_ns() - start) / 1e9))
    queue.put(statistics.median(rates))


def harness_job(workload, threads: int, repetitions: int, timeout_s: float = 600,
                **extra) -> dict:
    settings = MeasureSettings(threads=threads, llm_repetitions=repetitions, idle_baseline_s=0,
                               job_timeout_s=timeout_s)
    job = {"model_path": str(workload.path()), "backend": f"ort:cpu?threads={threads}",
           "inputs": {}, "settings": settings.to_dict(), "telemetry": False,
           "llm": workload.llm.to_record(), "name": workload.name,
           "precision": workload.precision, **extra}
    result = run_isolated(run_host_job, job, timeout_s=timeout_s)
    if result["status"] != "ok":
        sys.exit(f"harness job failed: {result['error']}")
    return result


def decode_ratio(name: str, threads: int) -> dict:
    workload = resolve(name)
    llm = workload.llm
    harness, bare = [], []
    ctx = multiprocessing.get_context("spawn")
    for _ in range(ROUNDS):
        harness.append(harness_job(workload, threads, 5)["decode_tokens_per_s"])
        queue = ctx.Queue()
        proc = ctx.Process(target=bare_decode_tokens_per_s, args=(
            queue, str(workload.path()), llm.config.vocab, llm.prompt_tokens, llm.gen_tokens,
            5, threads))
        proc.start()
        bare.append(queue.get(timeout=600))
        proc.join()
    ratios = [h / b for h, b in zip(harness, bare, strict=True)]
    return {"workload": name, "prompt": llm.prompt_tokens, "gen": llm.gen_tokens,
            "threads": threads, "harness_tok_s": harness, "bare_tok_s": bare,
            "ratio_per_round": ratios, "ratio_median": statistics.median(ratios),
            "target": ">= 0.95"}


def build_and_memory(threads: int) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="npubench-llm-") as folder:
        os.environ.setdefault("NPUBENCH_CACHE", folder)
        workload = resolve("llama_1b_int4")
        start = time.perf_counter()
        path = workload.path()
        out["build_s"] = time.perf_counter() - start
        mtime = path.stat().st_mtime_ns
        start = time.perf_counter()
        resolve("llama_1b_int4").path()
        out["reuse_s"] = time.perf_counter() - start
        out["rebuilt"] = path.stat().st_mtime_ns != mtime
        result = harness_job(workload, threads, 3)
        llm = result["llm"]
        denominator_mb = (llm["weight_bytes"] + llm["kv_cache_bytes"]) / 2**20
        out.update(peak_mb=result["memory_peak_mb"], before_load_mb=result["memory_before_load_mb"],
                   weights_plus_kv_mb=denominator_mb,
                   ratio=result["memory_peak_mb"] / denominator_mb, target="< 1.3",
                   decode_tok_s=result["decode_tokens_per_s"],
                   prefill_tok_s=result["prefill_tokens_per_s"], ttft_ms=result["ttft_ms"],
                   load_ms=llm["load_ms"])
    return out


def memory_figures(result: dict) -> dict:
    memory = result["llm"]["memory"]
    return {"peak_mb": memory["peak_mb"], "weights_plus_kv_mb": memory["weights_plus_kv_mb"],
            "ratio": memory["ratio"], "parts_mb": memory["parts_mb"],
            "measured_mb": memory["measured_mb"]}


def memory_before_after(threads: int) -> dict:
    """The 1B int4 with the mapped weight pages kept (before the fix) and released."""
    workload = resolve("llama_1b_int4")
    workload.path()
    out = {}
    for label, keep in (("kept_mapped", True), ("released", False)):
        out[label] = memory_figures(harness_job(workload, threads, 3, keep_mapped_weights=keep))
    out.update(prompt=workload.llm.prompt_tokens, gen=workload.llm.gen_tokens, target="<= 1.3")
    return out


def large_preset(name: str, prompt: int, gen: int, reps: int, threads: int,
                 gguf: bool) -> dict:
    """Build (timed, unless cached) and run the largest preset the host holds."""
    workload = resolve(name).with_tokens(prompt, gen)
    out: dict = {"workload": name, "prompt": prompt, "gen": gen, "repetitions": reps,
                 "threads": threads, "params": workload.llm.config.param_count()}
    cached = workload.origin.cached() is not None
    start = time.perf_counter()
    workload.path()
    out["onnx_build_s"] = None if cached else time.perf_counter() - start
    out["onnx_was_cached"] = cached
    if gguf:
        origin = workload.for_format("gguf").origin
        cached = origin.cached() is not None
        start = time.perf_counter()
        path = origin.materialize()
        out["gguf_build_s"] = None if cached else time.perf_counter() - start
        out["gguf_bytes"] = path.stat().st_size
    result = harness_job(workload, threads, reps, timeout_s=3000)
    out.update(ttft_ms=result["ttft_ms"], prefill_tok_s=result["prefill_tokens_per_s"],
               decode_tok_s=result["decode_tokens_per_s"], load_ms=result["llm"]["load_ms"],
               validity=result["validity"], **memory_figures(result))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decode-workload", default="llama_125m_int4")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-1b", action="store_true")
    parser.add_argument("--skip-decode", action="store_true")
    parser.add_argument("--memory-before-after", action="store_true")
    parser.add_argument("--large", metavar="NAME")
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--gen", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--gguf", action="store_true")
    args = parser.parse_args()
    figures: dict = {"host": f"{os.cpu_count()} CPUs"}
    if not args.skip_decode:
        figures["decode_vs_bare_loop"] = decode_ratio(args.decode_workload, args.threads)
    if not args.skip_1b:
        figures["llama_1b_int4"] = build_and_memory(args.threads)
    if args.memory_before_after:
        figures["llama_1b_int4_memory"] = memory_before_after(args.threads)
    if args.large:
        figures["large"] = large_preset(args.large, args.prompt, args.gen, args.reps,
                                        args.threads, args.gguf)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
