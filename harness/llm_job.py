"""What a worker process does for one LLM job on the host: load the decoder, warm up, then
repetitions of prefill + greedy decode through the KV cache, under the host's telemetry.

Figures (each a distribution over repetitions, with the confidence interval of its median):
time to first token (prefill of the prompt up to holding the first generated token), prefill
tokens/s, decode tokens/s; per-token decode latency percentiles over every step; load time;
the worker's peak memory; energy per generated token where the host measures power.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from npubench.errors import BackendUnavailable
from npubench.harness.backends import parse_backend
from npubench.harness.settings import MeasureSettings
from npubench.harness.stats import summarize

WARMUP_GEN_TOKENS = 8
SOURCE = ("npubench decode loop over onnxruntime (greedy, KV cache; the prompt is token ids: "
          "no tokenizer, as llama-bench)")


def llm_spec(job: dict[str, Any]):
    """(DecoderConfig, prompt tokens, generated tokens) of a host LLM job's ``llm`` dict."""
    from npubench.workloads.llm_config import DecoderConfig

    llm = job["llm"]
    config = llm.get("config") or {}
    known = DecoderConfig.__dataclass_fields__
    decoder = DecoderConfig(**{k: v for k, v in config.items() if k in known})
    return decoder, int(llm["prompt_tokens"]), int(llm["gen_tokens"])


def run_host_llm_job(job: dict[str, Any]) -> dict[str, Any]:
    """``job``: ``model_path``, ``backend``, ``settings``, ``llm`` (prompt_tokens, gen_tokens,
    config), ``name``, ``precision``."""
    from npubench.devices.host import ort_provider_name
    from npubench.harness.host_job import (
        _peak_memory_mb,
        _rss_mb,
        _telemetry,
        runtime_failures,
    )
    from npubench.workloads.llm_config import check_tokens
    from npubench.workloads.llm_loop import Decoder, generate, prompt_ids
    from npubench.workloads.llm_memory import mapped_mb, proc_status
    from npubench.workloads.llm_models import check_fits

    settings = MeasureSettings(**job["settings"])
    backend = parse_backend(job["backend"])
    if backend.runtime != "ort":
        raise BackendUnavailable(f"{backend.base}: LLM workloads run on the host with ONNX "
                                 "Runtime (ort:cpu, ort:cuda)")
    config, n_prompt, n_gen = llm_spec(job)
    name = job.get("name", "decoder")
    check_tokens(config, n_prompt, n_gen, name)
    check_fits(name, config, job["precision"], n_prompt + n_gen)
    import onnxruntime

    provider = ort_provider_name(backend.accelerator)
    if provider not in onnxruntime.get_available_providers():
        raise BackendUnavailable(f"{backend.base}: {provider} is not available in this build")

    rss_before_mb = _rss_mb()
    decoder = Decoder.open(Path(job["model_path"]), backend.options.get("threads"), provider,
                           release_mapped=not job.get("keep_mapped_weights"))
    prompt = prompt_ids(config.vocab, n_prompt, settings.seed)
    with runtime_failures("onnxruntime", "the decoder"):
        warmup = generate(decoder, prompt, min(n_gen, WARMUP_GEN_TOKENS))
        telemetry = _telemetry(job)
        idle_mw = None
        if telemetry is not None and telemetry.available()[0] and settings.idle_baseline_s > 0:
            idle_mw = telemetry.measure_idle(settings.idle_baseline_s)
        if telemetry is not None:
            telemetry.start()
        try:
            reps = [generate(decoder, prompt, n_gen) for _ in range(settings.llm_repetitions)]
        finally:
            tele = telemetry.stop() if telemetry is not None else None

    figures = llm_figures(reps, n_prompt, n_gen)
    decode_s = sum(sum(r.step_ns) for r in reps) / 1e9
    tokens = n_gen * len(reps)
    energy, energy_reason = energy_per_token(tele.summary() if tele else None, idle_mw,
                                             decode_s, tokens)
    peak_mb, source = _peak_memory_mb()
    weight_bytes = config.weight_bytes(job["precision"])
    kv_bytes = config.kv_cache_bytes(n_prompt + n_gen, job["precision"])
    memory = memory_breakdown(
        peak_mb, rss_before_mb, weight_bytes, kv_bytes, config.prepack_bytes(job["precision"]),
        {**decoder.load_memory, **{f"end_{k}": v for k, v in proc_status().items()},
         "end_weights_file_resident_mb": mapped_mb(Path(job["model_path"]).parent)})
    validity_reasons = []
    if len(reps) < 3:
        validity_reasons.append(f"{len(reps)} repetitions: too few for a confidence interval")
    library, library_version = _library()
    return {
        "status": "ok",
        "error": None,
        "validity": "semivalid" if validity_reasons else "valid",
        "validity_reasons": validity_reasons,
        "library": library,
        "library_version": library_version,
        "runtime_details": {"providers": decoder.session.get_providers(),
                            "threads": backend.options.get("threads")},
        "init_ms": decoder.load_ms,
        "first_inference_ms": warmup.prefill_ns / 1e6,
        "warmup": {"iterations": 1, "mean_ms": (warmup.prefill_ns + sum(warmup.step_ns)) / 1e6},
        "latency_ms": figures["top"]["latency_ms"],
        "stop_reason": "repetitions",
        "precision_reached": None,
        "ci95_relative_half_width": None,
        "measured_s": decode_s,
        "inference_s": sum(r.prefill_ns + sum(r.step_ns) for r in reps) / 1e9,
        "memory_peak_mb": peak_mb,
        "memory_before_load_mb": rss_before_mb,
        "memory_source": source,
        "telemetry": ({**tele.summary(), "idle_mw": idle_mw} if tele is not None else None),
        **{k: v for k, v in figures["top"].items() if k != "latency_ms"},
        "energy_mj_per_token": energy,
        "energy_missing_reason": energy_reason,
        "llm": {"prompt_tokens": n_prompt, "gen_tokens": n_gen, "repetitions": len(reps),
                "params": config.param_count(), "weight_bytes": weight_bytes,
                "kv_cache_bytes": kv_bytes, "load_ms": decoder.load_ms, **figures["blocks"],
                "memory": memory, "source": SOURCE},
        "samples": {
            "latency_ms": [ns / 1e6 for r in reps for ns in r.step_ns],
            "ttft_ms": [r.prefill_ns / 1e6 for r in reps],
            "prefill_tokens_per_s": [n_prompt / (r.prefill_ns / 1e9) for r in reps],
            "decode_tokens_per_s": [n_gen / (sum(r.step_ns) / 1e9) for r in reps],
            "warmup_ms": [warmup.prefill_ns / 1e6],
            "telemetry": tele.samples if tele is not None else [],
        },
    }


MEMORY_TARGET_RATIO = 1.3
MEMORY_SOURCE = (
    "peak RSS of the job's worker (VmHWM) against the model's weight and KV-cache bytes; the "
    "parts: the worker before the model is loaded (Python, numpy, ONNX Runtime), the weights "
    "(the fp16 embedding stays in the mapped data file, MatMulNBits keeps a packed copy of its "
    "4-bit weights and scales), the block sums ORT's int8-compute MatMulNBits adds when it "
    "pre-packs int4 weights (one float per 32 weights), the KV cache, and the rest: a step's "
    "presents beside its pasts (the cache twice for a moment), activations of the prompt's "
    "batch and ORT's arena (negative when the fp16 embedding, counted in the weights, is "
    "resident only as far as the prompt touched it). The mapped pages of the original "
    "scales, which ORT keeps after pre-packing them, are handed back while it loads and "
    "after (released_during_load_mb, released_after_load_mb: workloads/llm_memory.py)")


def memory_breakdown(peak_mb: float, before_load_mb: float | None, weight_bytes: int,
                     kv_bytes: int, prepack_bytes: int, measured: dict) -> dict[str, Any]:
    """Where an LLM job's peak memory goes: the measured peak against weights + KV cache
    (``ratio``, target ``MEMORY_TARGET_RATIO``), split into the parts the runtime is known to
    hold and the rest; ``measured`` keeps the /proc readings at load and at the end."""
    mib = 2**20
    base = weight_bytes / mib + kv_bytes / mib
    parts = {"before_load": before_load_mb, "weights": weight_bytes / mib,
             "prepacked_block_sums": prepack_bytes / mib, "kv_cache": kv_bytes / mib}
    known = sum(v for v in parts.values() if v is not None)
    parts["rest"] = peak_mb - known
    return {"peak_mb": peak_mb, "weights_plus_kv_mb": base,
            "ratio": peak_mb / base if base else None, "target_ratio": MEMORY_TARGET_RATIO,
            "parts_mb": {k: round(v, 1) if v is not None else None for k, v in parts.items()},
            "measured_mb": {k: round(v, 1) if isinstance(v, float) else v
                            for k, v in measured.items()},
            "source": MEMORY_SOURCE}


def llm_figures(reps: list, n_prompt: int, n_gen: int) -> dict[str, Any]:
    """The LLM figures of repetitions (``workloads.llm_loop.Generation``): see ``llm_summary``."""
    return llm_summary(ttft_ms=[r.prefill_ns / 1e6 for r in reps],
                       prefill_tokens_per_s=[n_prompt / (r.prefill_ns / 1e9) for r in reps],
                       decode_tokens_per_s=[n_gen / (sum(r.step_ns) / 1e9) for r in reps],
                       token_latency_ms=[ns / 1e6 for r in reps for ns in r.step_ns])


def llm_summary(**samples: list[float]) -> dict[str, Any]:
    """What any LLM runner reports from its samples (``ttft_ms``, ``prefill_tokens_per_s``,
    ``decode_tokens_per_s``, ``token_latency_ms``): ``blocks``, each one's distribution for
    the record's ``llm`` block; ``top``, the record's top-level medians and ``latency_ms``
    (per generated token)."""
    blocks = {name: summarize(values) for name, values in samples.items()}
    top = {name: blocks[name]["median"]
           for name in ("ttft_ms", "prefill_tokens_per_s", "decode_tokens_per_s")}
    return {"blocks": blocks, "top": {**top, "latency_ms": blocks["token_latency_ms"]}}


def energy_per_token(tele: dict | None, idle_mw: float | None, decode_s: float,
                     tokens: int) -> tuple[float | None, str | None]:
    """mJ per generated token: (mean active power - idle) x decode time / tokens; None with the
    reason where power was not measured. The active power is the mean over the repetitions
    (prefill included), the host's package or GPU, not the process alone."""
    from npubench.energy import energy_mj_per_inference
    from npubench.harness.record import NO_POWER

    if tele is None:
        return None, "telemetry was not collected"
    if tele.get("active_mw") is None:
        return None, tele.get("power_missing_reason") or NO_POWER
    try:
        return energy_mj_per_inference(tele["active_mw"], idle_mw, decode_s, tokens), None
    except ValueError as exc:
        return None, str(exc)


def _library() -> tuple[str, str]:
    from npubench.harness.runners.ort import _library as ort_library

    return ort_library()
