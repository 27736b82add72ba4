"""The report's "Voice assistant pipelines" section, from the records' ``pipeline`` blocks
(``harness.pipeline_record``): per pipeline job, its stages x (isolated, in pipeline, share of
the end to end), the gaps, the end-to-end line and why it differs from the isolated sum. Plain
strings and numbers: the template escapes them."""

from __future__ import annotations

from typing import Any

from npubench.reports.cells import DASH, fmt_bytes, fmt_num, simulated_label
from npubench.reports.frame import device_label

STAGE_LABELS = {"wake_word": "wake word", "vad": "voice activity (VAD)", "log_mel": "log-mel",
                "asr_encoder": "ASR encoder", "asr_decoder": "ASR decoder",
                "llm": "LLM prefill + first token"}


def _ms(value: Any) -> str:
    return fmt_num(value) if isinstance(value, (int, float)) else DASH


def _share(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) else DASH


def pipeline_section(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per finished pipeline job (records without a ``pipeline`` block are skipped)."""
    out = []
    for record in records:
        block = record.get("pipeline")
        if record.get("status") != "ok" or not isinstance(block, dict):
            continue
        device = record.get("device") or {}
        e2e = block.get("e2e") or {}
        rows = []
        for stage in block.get("stages") or []:
            rows.append({
                "stage": STAGE_LABELS.get(stage.get("stage"), str(stage.get("stage"))),
                "workload": str(stage.get("workload")), "backend": str(stage.get("backend")),
                "isolated": _ms(stage.get("isolated_ms")),
                "in_pipeline": _ms(stage.get("in_pipeline_ms")),
                "share": _share(stage.get("share_of_e2e")),
                "on_path": bool(stage.get("on_e2e_path")),
                "note": str(stage.get("missing_reason") or stage.get("note", "")),
            })
        explained = block.get("explained") or {}
        terms = [(label, _ms(explained.get(key))) for key, label in (
            ("isolated_sum_ms", "stages alone (isolated sum)"), ("gaps_ms", "gaps (hand-overs)"),
            ("cold_after_idle_ms", "cold after idle"),
            ("contention_ms", "contention of the streaming stages"))]
        gaps = sum(v for v in (block.get("gaps_ms") or {}).values()
                   if isinstance(v, (int, float)))
        definition = block.get("definition") or {}
        out.append({
            "name": str(definition.get("name") or (record.get("workload") or {}).get("name")),
            "job_id": str(record.get("job_id")),
            "device": device_label(device),
            "simulated": bool(device.get("simulated")),
            "sim_label": simulated_label(device.get("simulated")),
            "rows": rows,
            "gaps": _ms(gaps),
            "gaps_share": _share(gaps / e2e["in_pipeline_mean_ms"]
                                 if e2e.get("in_pipeline_mean_ms") else None),
            "e2e": _ms(e2e.get("in_pipeline_mean_ms")),
            "e2e_isolated": _ms(e2e.get("isolated_sum_ms")),
            "perceived": _ms(e2e.get("perceived_mean_ms")),
            "add_up": _ms(e2e.get("terms_add_up_within_ms")),
            "terms": terms,
            "copies": [(str(k).replace("->", " → "), fmt_bytes(v))
                       for k, v in (block.get("copies_bytes") or {})
                       .items()],
            "end_of_speech": str(block.get("end_of_speech", "")),
            "realisation": str(block.get("realisation", "")),
            "repetitions": definition.get("repetitions"),
        })
    return out
