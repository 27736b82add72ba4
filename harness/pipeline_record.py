"""The record fields of a pipeline job from its measurements (pure: numbers in, dicts out).

In-pipeline figures are means over the repetitions, because means add up: the mean end to end
is exactly the sum of the mean stage times and the mean gaps, which medians are not. The
isolated figures are the medians of each stage's own measurement (as a normal job's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npubench.harness.stats import summarize
from npubench.workloads import pipelines as pl

ORDER = ("wake_word", "vad", pl.LOG_MEL, "asr_encoder", "asr_decoder", "llm")
STAGE_NOTES = {
    "wake_word": "streams: one inference per 30 ms of audio; not on the end-of-speech path "
                 "(in pipeline: its mean latency per inference while listening); its input "
                 "features are seeded (the micro front end is not computed)",
    "vad": "streams: one inference per 32 ms chunk; on the path: its call on the chunk that "
           "closes the utterance",
    pl.LOG_MEL: "numpy/scipy on the host's CPU: STFT 400/160, 80 mel filters, over the "
                "utterance padded to the encoder's 30 s",
    "asr_encoder": "once per utterance: the 30 s of features, and the decoder's cross-attention "
                   "keys/values",
    "asr_decoder": f"{pl.SOT_TOKENS} start tokens in one pass, then one greedy step per "
                   "transcript token through the KV cache",
    "llm": "prefill of the prompt (a system prompt and the transcript's ids), which yields the "
           "first token",
}
EXPLAINED = (
    "e2e (with streaming, mean) = isolated_sum_ms + gaps_ms + cold_after_idle_ms + "
    "contention_ms: isolated_sum_ms = the path's stages alone (medians, warm); gaps_ms = "
    "hand-overs between the stages (copies and conversions; mean, without streaming); "
    "cold_after_idle_ms = the path's stages in the pipeline without streaming minus alone "
    "(each waited idle while the user spoke); contention_ms = with minus without the wake word "
    "and VAD running on the stream; the identity holds by construction, each term is measured")


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def pipeline_result(spec: pl.PipelineSpec, alone: dict[str, Any], reps: list[dict[str, Any]],
                    init_ms: dict[str, float], backends: dict[str, str],
                    extra: dict[str, Any]) -> dict[str, Any]:
    """The worker's result for a pipeline job: the record's ``pipeline`` block, its
    ``latency_ms`` (end to end per repetition) and the usual fields. A stage that was not
    measured (on a phone: the log-mel, the listening) has None in ``alone`` and its reason in
    ``extra["missing"]``; the path is the stages the repetitions measured."""
    missing = extra.get("missing") or {}
    path = [k for k in pl.E2E_PATH if k in reps[0]["stages"]]
    plain = [r for r in reps if not r["streaming"]]
    streamed = [r for r in reps if r["streaming"]]
    main = streamed or plain
    e2e_main = [r["e2e"] for r in main]
    e2e_mean = _mean(e2e_main)
    workloads = {s.role: s.workload for s in spec.stages}
    rows = []
    for role in ORDER:
        on_path = role in path
        row: dict[str, Any] = {
            "stage": role, "workload": workloads.get(role, "numpy/scipy"),
            "backend": backends.get(role, "host:cpu"), "on_e2e_path": on_path,
            "isolated_ms": alone[role]["latency_ms"]["median"] if alone.get(role) else None,
            "isolated": alone.get(role), "init_ms": init_ms.get(role),
            "note": extra.get("notes", {}).get(role, STAGE_NOTES[role])}
        if role in missing:
            row["missing_reason"] = missing[role]
        heard = [r["listening_ms"][role] for r in main
                 if (r.get("listening_ms") or {}).get(role) is not None]
        if on_path:
            row["in_pipeline_ms"] = _mean([r["stages"][role] for r in main])
            row["in_pipeline_plain_ms"] = _mean([r["stages"][role] for r in plain])
            row["share_of_e2e"] = row["in_pipeline_ms"] / e2e_mean
        else:
            row["in_pipeline_ms"] = _mean(heard) if heard else None
            row["in_pipeline_plain_ms"] = None
            row["share_of_e2e"] = None
        if role in pl.STREAMING:
            row["listening_ms_per_inference"] = _mean(heard) if heard else None
            during = [r["during_path"][role] for r in streamed]
            row["during_path"] = ({"inferences": _mean([d["inferences"] for d in during]),
                                   "busy_ms": _mean([d["busy_ms"] for d in during])}
                                  if during else None)
        rows.append(row)
    gaps = {k: _mean([r["gaps"][k] for r in main]) for k in main[0]["gaps"]}
    plain_gaps = sum(_mean([r["gaps"][k] for r in plain]) for k in plain[0]["gaps"])
    isolated = {k: alone[k]["latency_ms"]["median"] for k in path}
    plain_stages = {k: _mean([r["stages"][k] for r in plain]) for k in path}
    explained = pl.explain(isolated, plain_stages, plain_gaps, _mean([r["e2e"] for r in plain]),
                           e2e_mean if streamed else None)
    explained["how"] = EXPLAINED
    add_up = max(abs(sum(r["stages"].values()) + sum(r["gaps"].values()) - r["e2e"])
                 for r in reps)
    copies = {k: int(v) for k, v in (main[0].get("copies_bytes") or {}).items()}
    e2e_block = {
        "in_pipeline_mean_ms": e2e_mean,
        "in_pipeline": summarize(e2e_main),
        "in_pipeline_plain": summarize([r["e2e"] for r in plain]),
        "isolated_sum_ms": explained["isolated_sum_ms"],
        "gaps_mean_ms": sum(gaps.values()),
        "perceived_mean_ms": spec.trailing_silence_ms + e2e_mean,
        "terms_add_up_within_ms": add_up,
    }
    validity_reasons = []
    if len(main) < 3:
        validity_reasons.append(f"{len(main)} repetitions: too few for a confidence interval")
    block = {
        "definition": spec.to_record(),
        "end_of_speech": pl.END_OF_SPEECH,
        "realisation": extra["realisation"],
        "stages": rows,
        "gaps_ms": gaps,
        "copies_bytes": copies,
        "e2e": e2e_block,
        "explained": explained,
        "repetitions": [{k: r[k] for k in ("streaming", "stages", "gaps", "e2e")}
                        for r in reps],
        **({"missing": missing} if missing else {}),
    }
    return {
        "status": "ok", "error": None,
        "validity": "semivalid" if validity_reasons else "valid",
        "validity_reasons": validity_reasons,
        "library": "npubench pipeline", "library_version": None,
        "runtime_details": {"stages": backends},
        "init_ms": sum(v for v in init_ms.values() if v is not None),
        "first_inference_ms": None,
        "warmup": {"iterations": None, "mean_ms": None},
        "latency_ms": summarize(e2e_main),
        "stop_reason": "repetitions",
        "precision_reached": None,
        "ci95_relative_half_width": None,
        "measured_s": sum(r["e2e"] for r in reps) / 1e3,
        "inference_s": sum(r["e2e"] for r in reps) / 1e3,
        "memory_peak_mb": extra.get("memory_peak_mb"),
        "memory_before_load_mb": extra.get("memory_before_load_mb"),
        "memory_source": extra.get("memory_source"),
        "telemetry": None,
        "pipeline": block,
        "samples": {"latency_ms": e2e_main,
                    "e2e_plain_ms": [r["e2e"] for r in plain]},
    }
