"""The voice assistant on the host (issue 13, item 3): end of speech -> first token, with each
stage's share, for Whisper-tiny- and Whisper-base-shaped ASR and llama_125m_int4 as the language
model (the built-in suite ``assistant``: okay_nabu on tflite:cpu, silero_vad / Whisper / the LLM
on ort:cpu).

Usage: ``python benchmarks/assistant_pipeline.py [OUT_DIR]``. Prints one table per pipeline and
a JSON line of the figures; the run folder (with report.html) stays in OUT_DIR.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def main(out: str | None = None) -> None:
    from npubench.harness.suite_run import RunRequest, run

    out_dir = Path(out or f"runs/assistant-{time.strftime('%Y%m%d-%H%M%S')}")
    started = time.monotonic()
    result = run(RunRequest(suite="assistant", out=str(out_dir), report=True))
    figures = {"run_dir": str(out_dir), "wall_s": round(time.monotonic() - started, 1)}
    for record in result.records:
        name = record["workload"]["name"]
        if record["status"] != "ok":
            figures[name] = {"status": record["status"], "error": record["error"]}
            print(f"{name}: {record['status']}: {record['error']}")
            continue
        block = record["pipeline"]
        e2e = block["e2e"]
        print(f"\n{name} ({record['device']['model']}), "
              f"{block['definition']['repetitions']} utterances")
        print(f"{'stage':<13}{'workload':<30}{'backend':<12}{'isolated':>10}{'pipeline':>10}"
              f"{'share':>8}")
        for row in block["stages"]:
            share = f"{100 * row['share_of_e2e']:.1f}%" if row["share_of_e2e"] else "-"
            print(f"{row['stage']:<13}{row['workload'][:29]:<30}{row['backend']:<12}"
                  f"{row['isolated_ms']:>10.2f}{row['in_pipeline_ms']:>10.2f}{share:>8}")
        gaps = sum(block["gaps_ms"].values())
        print(f"{'gaps':<55}{'':>10}{gaps:>10.2f}{100 * gaps / e2e['in_pipeline_mean_ms']:>7.1f}%")
        print(f"{'end of speech -> first token':<55}{e2e['isolated_sum_ms']:>10.2f}"
              f"{e2e['in_pipeline_mean_ms']:>10.2f}")
        why = block["explained"]
        print("explained: " + ", ".join(f"{k} {why[k]:.2f}" for k in (
            "isolated_sum_ms", "gaps_ms", "cold_after_idle_ms", "contention_ms")))
        figures[name] = {
            "e2e_mean_ms": round(e2e["in_pipeline_mean_ms"], 2),
            "e2e_median_ms": round(e2e["in_pipeline"]["median"], 2),
            "e2e_without_streaming_mean_ms": round(e2e["in_pipeline_plain"]["mean"], 2),
            "isolated_sum_ms": round(e2e["isolated_sum_ms"], 2),
            "perceived_mean_ms": round(e2e["perceived_mean_ms"], 2),
            "shares": {r["stage"]: round(r["share_of_e2e"], 4) for r in block["stages"]
                       if r["share_of_e2e"] is not None},
            "gaps_share": round(gaps / e2e["in_pipeline_mean_ms"], 4),
            "explained_ms": {k: round(why[k], 2) for k in (
                "isolated_sum_ms", "gaps_ms", "cold_after_idle_ms", "contention_ms")},
            "memory_peak_mb": round(record["memory_peak_mb"], 1),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", help="the run folder (default: runs/assistant-TIME)")
    main(parser.parse_args().out_dir)
