"""A pipeline job on a phone (the host's counterpart is ``harness.pipeline_job``): each stage
runs through its on-device tool (``benchmark_model``, ``onnxruntime_perf_test``,
``llama-bench``), prepared and pushed as a normal job's (``harness.device_job.PhoneJob``).

Isolated: each stage's tool alone, warm (its warm-up runs, then timed runs; the ASR decoder's
step time x the steps of a transcript; the LLM's prompt-processing test). In pipeline: the
end-of-speech path's tools back to back in one shell call per repetition, each a fresh process
with no warm-up (cold: process start and model load fall in the gaps), stamped with the phone's
own clock (``date +%s.%N``) before and after each tool; a stage's time is the tool's own timing
of its run(s), the rest of its wall time is the gap before it, so the terms add up to the end
to end by construction. Not realised on a phone: the log-mel front end (no on-device tool
computes one) and the streaming stages running beside the path (no contention term).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from npubench.devices.android import WORK_DIR
from npubench.errors import ToolError
from npubench.harness import device_commands as cmds
from npubench.harness.backends import parse_backend
from npubench.harness.device_job import telemetry_fields
from npubench.harness.pipeline_job import stage_errors
from npubench.harness.pipeline_record import pipeline_result
from npubench.harness.settings import MeasureSettings
from npubench.harness.stats import summarize
from npubench.workloads import pipelines as pl

REALISATION = (
    "phone: each stage through its on-device tool; isolated = the tool alone with warm-up, its "
    "mean over timed runs; in pipeline = the end-of-speech path's tools back to back in one "
    "shell call per repetition, each a fresh process without warm-up (cold), the phone's clock "
    "(date +%s.%N) around each: a stage's time is the tool's own timing of its run(s), its "
    "process start and model load are in the gap before it. The ASR decoder on the phone: "
    "onnxruntime_perf_test runs one decode step (fixed past length) 1 + asr_tokens times "
    "(the start tokens' pass counted as one step). The LLM: llama-bench's prompt test of "
    "llm_prompt_tokens (its first token is the prefill's)")
MISSING = {
    pl.LOG_MEL: "no on-device tool computes a log-mel spectrogram (an app does it in its own "
                "code): not measured on the phone, and not in the phone's end to end",
}
LISTENING = ("the streaming stages are measured alone on the phone; they do not run beside the "
             "path there (no contention term)")
ISOLATED_RUNS, ISOLATED_WARMUP = 5, 1
MARK = "@@npubench-stage"


def run_device_pipeline(job, stages: dict[str, dict[str, Any]], settings: MeasureSettings,
                        store, log_path: Path, phone_ctx, phones) -> dict[str, Any]:
    from npubench.errors import NpubenchError
    from npubench.harness.device_job import DeviceJobOptions
    from npubench.harness.tools import ToolConfig

    options = phone_ctx.options if phone_ctx and phone_ctx.options else DeviceJobOptions()
    tools = phone_ctx.tools if phone_ctx and phone_ctx.tools else ToolConfig()
    if phones is not None and phones.options is None:
        phones.options = options
    run = phones.get(job.device) if phones is not None else None
    spec = job.workload.pipeline
    try:
        jobs = {role: _prepare(job.device, role, stage, settings, tools, store.run_dir, log_path,
                               options, run) for role, stage in stages.items()}
        alone = {role: _isolated(role, phone, spec, settings) for role, phone in jobs.items()}
        # the utterances under the phone's telemetry (cooldown first; power while they run):
        # energy per inference is then per utterance's end-of-speech path
        with jobs["vad"].measurement() as telemetry:
            with telemetry.active():
                reps = [_in_pipeline(jobs, spec, settings, log_path)
                        for _ in range(spec.repetitions)]
            telemetry.set_work(len(reps), sum(r["e2e"] for r in reps) / 1e3)
        tele = telemetry.result or {}
    except NpubenchError as exc:
        status = "skipped" if exc.kind == "unavailable" else "failed"
        return {"status": status, "error": exc.as_record()}
    alone[pl.LOG_MEL] = None
    result = pipeline_result(
        spec, alone, reps, {r: p.init_ms for r, p in jobs.items()},
        {role: stage["backend"] for role, stage in stages.items()},
        {"realisation": REALISATION, "missing": {**MISSING, "wake_word": LISTENING},
         "memory_peak_mb": None, "memory_source": None})
    result.update(
        library="on-device tools",
        tool={"name": ", ".join(sorted({p.tool_name for p in jobs.values()})),
              "rounds": spec.repetitions,
              "wall_s": round(sum(p.tool_wall_s for p in jobs.values()), 3)},
        **{**telemetry_fields(tele), "memory_peak_mb": None, "memory_missing_reason":
           "not sampled for pipeline jobs (each stage is its own process)"})
    if result.get("power"):
        result["power"]["per"] = "utterance (the end-of-speech path: its tools back to back)"
    if tele.get("validity_reasons"):
        result["validity_reasons"] = [*result["validity_reasons"], *tele["validity_reasons"]]
        result["validity"] = "semivalid"
    return result


def _prepare(device, role: str, stage: dict, settings, tools, run_dir: Path, log: Path,
             options, run):
    from npubench.harness.device_job import PhoneJob, remote_model_name

    with stage_errors(role, stage["workload"], stage["backend"]):
        backend = parse_backend(stage["backend"])
        model = Path(stage["model_path"])
        phone = PhoneJob(device, model, backend, settings, tools, run_dir / "work", log, options,
                         stage["inputs"], run,
                         model_name=remote_model_name(Path(stage["workload"]).stem, model))
        phone.prepare()
        phone.lib_remote = None
        if backend.runtime == "llama":
            from npubench.harness.device_llm import push_libs

            phone.lib_remote = push_libs(phone)
        phone.workload, phone.role, phone.init_ms = stage["workload"], role, None
        return phone


def _steps(role: str, spec: pl.PipelineSpec) -> int:
    """Tool runs a stage is on the path: the ASR decoder's start pass and transcript steps."""
    return 1 + spec.asr_tokens if role == "asr_decoder" else 1


def _invocation(phone, spec: pl.PipelineSpec, runs: int, warmup: int, reps: int = 1):
    if phone.backend.runtime == "llama":
        return cmds.llama_bench(phone.model_remote, phone.backend, threads=phone.cpu.threads,
                                n_prompt=spec.llm_prompt_tokens, n_gen=0, repetitions=reps,
                                lib_dir=phone.lib_remote)
    return phone.invocation(runs=runs, min_secs=0, warmup_runs=warmup, profiling=False)


def _stage_ms(phone, parsed: dict, code: int, runs: int) -> tuple[float, dict]:
    """The tool's own time for the stage (ms) and its per-run figures, or a ToolError."""
    if phone.backend.runtime == "llama":
        from npubench.harness.device_llm import check, pick_test

        check(parsed, code, phone, cmds.ToolInvocation("llama-bench", [], {}, None, "cpu"))
        test = pick_test(parsed, "pp", phone)
        samples = [ns / 1e6 for ns in test["samples_ns"]]
        return samples[0], summarize(samples)
    phone.check(parsed, code)
    per_run = parsed["latency_ms"]["mean"]
    if phone.init_ms is None:
        phone.init_ms = parsed.get("init_ms") or parsed.get("session_creation_ms")
    return per_run * runs, parsed["latency_ms"]


def _isolated(role: str, phone, spec: pl.PipelineSpec, settings) -> dict[str, Any]:
    steps = _steps(role, spec)
    with stage_errors(role, phone.workload, str(phone.backend)):
        inv = _invocation(phone, spec, ISOLATED_RUNS, ISOLATED_WARMUP, reps=ISOLATED_RUNS)
        parsed, code = phone._run_tool(inv, timeout_s=settings.job_timeout_s)
        if phone.backend.runtime == "llama":
            _first, figures = _stage_ms(phone, parsed, code, 1)
            return {"latency_ms": figures, "tool": phone.tool_name}
        per_step_total, figures = _stage_ms(phone, parsed, code, steps)
    # the mean of the tool's timed runs, scaled to the stage's steps (one for all but the
    # ASR decoder): one figure, as the tool prints one mean per invocation
    return {"latency_ms": {**figures, "median": per_step_total, "mean": per_step_total},
            "per_run_ms": figures, "steps": steps, "tool": phone.tool_name}


def _in_pipeline(jobs: dict, spec: pl.PipelineSpec, settings, log: Path) -> dict[str, Any]:
    """One repetition: the path's tools in one shell call, stamped by the phone's clock."""
    path = [r for r in pl.E2E_PATH if r in jobs]
    parts, invocations = [], {}
    for role in path:
        phone = jobs[role]
        inv = _invocation(phone, spec, _steps(role, spec), 0)
        invocations[role] = inv
        line = cmds.shell_line(WORK_DIR, phone.tool_remote, inv, phone.pid_file, phone.cpu.mask)
        tag = shlex.quote(role)
        parts.append(f"echo {MARK} start {tag} $(date +%s.%N); {line}; "
                     f"echo {MARK} end {tag} $? $(date +%s.%N)")
    command = "; ".join(parts)
    device = jobs[path[0]].device
    result = device.run(command, timeout_s=settings.job_timeout_s * len(path), check=False)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"$ {command}\n{result.text}\n[exit {result.exit_code}]\n")
    segments = split_stages(result.text)
    stamps = []
    t0 = None
    for role in path:
        phone = jobs[role]
        if role not in segments:
            raise ToolError(device.spec, f"stage {role}: no output in the pipeline's shell call")
        start, end, code, text = segments[role]
        t0 = start if t0 is None else t0
        from npubench.harness.parsers import parse

        with stage_errors(role, phone.workload, str(phone.backend)):
            stage_ms, _ = _stage_ms(phone, parse(phone.tool_name, text), code,
                                    _steps(role, spec))
        stage_s = min(stage_ms / 1e3, end - start)
        stamps.append((role, end - stage_s, end))
    terms = pl.e2e_terms(stamps, t0)
    return {"stages": {k: v * 1e3 for k, v in terms["stages"].items()},
            "gaps": {k: v * 1e3 for k, v in terms["gaps"].items()},
            "e2e": terms["e2e"] * 1e3, "streaming": False}


def split_stages(text: str) -> dict[str, tuple[float, float, int, str]]:
    """``role -> (start_s, end_s, exit code, the tool's output)`` from the marked output of
    the pipeline's shell call (pure)."""
    out: dict[str, tuple[float, float, int, str]] = {}
    pattern = re.compile(rf"^{re.escape(MARK)} start (\S+) ([\d.]+)\n(.*?)^{re.escape(MARK)} "
                         r"end \1 (\d+) ([\d.]+)$", re.M | re.S)
    for m in pattern.finditer(text):
        out[m.group(1)] = (float(m.group(2)), float(m.group(5)), int(m.group(4)), m.group(3))
    return out
