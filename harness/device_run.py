"""Run one planned job on a phone and return its result fields (the host's counterpart is
``harness.host_job``): preparation, a profiling round (delegation, outputs for accuracy), and
measured rounds under the phone's own telemetry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from npubench.devices.android import WORK_DIR
from npubench.errors import NpubenchError
from npubench.harness import accuracy
from npubench.harness.device_job import (
    DelegateFailed,
    DeviceJobOptions,
    PhoneJob,
    remote_model_name,
    summarize_rounds,
    telemetry_fields,
)
from npubench.harness.parsers.tflite_delegation import verdict_for
from npubench.harness.settings import MeasureSettings
from npubench.harness.tools import ToolConfig
from npubench.harness.worker import run_isolated

DELEGATE_KEYS = ("delegate", "kernel", "nodes_total", "nodes_delegated", "kernels", "status",
                 "applied_by")


def run_device_job(job, model_path: Path, settings: MeasureSettings, run_dir: Path,
                   log: Path, tools: ToolConfig, options: DeviceJobOptions,
                   run=None) -> dict[str, Any]:
    """``run``: the run's state for this phone (``harness.phone_run.PhoneRun``); without it
    the job prepares and restores the phone on its own."""
    phone = PhoneJob(job.device, model_path, job.backend, settings, tools, run_dir / "work",
                     log, options, dict(job.workload.inputs), run,
                     model_name=remote_model_name(job.workload.name, Path(model_path)))
    body = _run
    if job.backend.runtime == "llama":  # an LLM through llama-bench
        from npubench.harness.device_llm import run_llm as body
    if settings.fps:  # frame-rate (sustained) mode: paced rounds (harness.device_framerate)
        from npubench.harness.device_framerate import run_framerate as body
    try:
        result = body(job, phone, settings, options)
    except NpubenchError as exc:
        status = "skipped" if exc.kind == "unavailable" else "failed"
        result = {"status": status, "error": exc.as_record()}
        if exc.kind == "device_lost":  # no link to clean over: the run's end or `clean` will
            return result
    except Exception:
        phone.cleanup()
        raise
    # (after Ctrl-C the link is not used again: the run's end removes what is left)
    phone.cleanup()
    return result


def _run(job, phone: PhoneJob, settings: MeasureSettings, options: DeviceJobOptions) -> dict:
    phone.prepare()
    inputs, reference, accuracy_block = _accuracy_inputs(job, phone, settings)
    out_file = f"{WORK_DIR}/outputs-{phone.token}.bin" if inputs else None
    probe_inv = phone.invocation(runs=3, min_secs=0, warmup_runs=1, profiling=True,
                                 inputs=inputs, output_file=out_file)
    probe, code = phone._run_tool(probe_inv, timeout_s=settings.job_timeout_s)
    phone.check(probe, code)
    delegation = delegation_block(probe, probe_inv)
    # (perf_test runs with session.disable_cpu_ep_fallback, so ORT refuses by itself)
    require_npu(options, probe_inv, delegation, phone, job.backend)
    if out_file:
        accuracy_block = _compare_outputs(phone, out_file, reference)

    # the rounds last at least this long (each round runs for device_round_min_secs)
    expect_s = settings.device_rounds_min * settings.device_round_min_secs
    with phone.measurement(expect_active_s=expect_s) as telemetry:
        with telemetry.active():
            rounds, stop_reason = phone.measured_rounds()
        summary = summarize_rounds(rounds)
        telemetry.set_work(summary["iterations"], summary["measured_s"])
    tele = telemetry.result or {}

    validity_reasons = list(tele.get("validity_reasons") or [])
    if len(rounds) < settings.device_rounds_min:
        validity_reasons.append(f"{len(rounds)} rounds, fewer than {settings.device_rounds_min}")
    samples = summary.pop("samples")
    samples["telemetry"] = tele.get("samples") or []
    return {
        "status": "ok",
        "error": None,
        "validity": "semivalid" if validity_reasons else "valid",
        "validity_reasons": validity_reasons,
        "library": phone.tool_name,
        "library_version": None,
        "runtime_details": {"command": probe_inv.args, "env": probe_inv.env,
                            **phone.runtime_cpus(),
                            "nnapi_accelerator": phone.nnapi_accelerator,
                            "nnapi_accelerators_available":
                                getattr(phone.device, "_nnapi_available", None)},
        "tool": {"name": phone.tool_name, "path_on_device": phone.tool_remote,
                 "rounds": len(rounds), "wall_s": round(phone.tool_wall_s, 3)},
        **summary,
        "stop_reason": stop_reason,
        "inference_s": summary["measured_s"],
        "memory_peak_mb": tele.get("memory_peak_mb") or probe.get("memory_overall_mb"),
        "memory_source": tele.get("memory_source") or (
            "benchmark_model's footprint delta (approximate)"
            if probe.get("memory_overall_mb") else None),
        **telemetry_fields(tele),
        "delegation": delegation,
        "accuracy": accuracy_block,
        "samples": {**samples, "ops": probe.get("ops") or []},
    }


def require_npu(options: DeviceJobOptions, invocation, delegation: dict, phone: PhoneJob,
                backend) -> None:
    """With --require-npu, a DelegateFailed when the NPU took only part of the model."""
    if options.require_npu and invocation.accelerator == "npu" and delegation["fallback"]:
        raise DelegateFailed(phone.device.spec, f"{backend.base}: only "
                             f"{delegation['nodes_delegated']} of {delegation['nodes_total']} "
                             "nodes ran on the NPU and --require-npu was given")


def delegation_block(parsed: dict, inv) -> dict[str, Any]:
    """Coverage from the tool's delegate lines / op profile; a fallback is an NPU or GPU
    backend whose graph did not run wholly on its delegate. The headline fields are the
    verdict of the backend's own delegate (``inv.delegate``); ``delegates`` lists every
    delegate the tool or the runtime applied, each with its own verdict (a second delegate
    that took nothing says nothing of the first)."""
    verdicts = parsed.get("delegates") or []
    if inv.delegate and verdicts:
        found = verdict_for(verdicts, inv.delegate) or {}
    else:
        found = parsed.get("delegation") or {}
    status = found.get("status") or ("not reported" if inv.delegate else "none")
    warnings = " ".join(parsed.get("warnings") or [])
    if inv.delegate and "not assigned to the preferred execution providers" in warnings:
        status = "partial"  # ONNX Runtime's own word that some nodes run on the CPU EP
    # "not reported" (onnxruntime_perf_test says nothing of placement) is unknown, not a
    # fallback: None, so that the report does not claim what was not seen
    fallback = (status in ("partial", "none")) if inv.delegate else False
    if inv.delegate and status == "not reported":
        fallback = None
    return {
        "delegate": found.get("delegate") or inv.delegate,
        "nodes_total": found.get("nodes_total"),
        "nodes_delegated": found.get("nodes_delegated"),
        "kernels": found.get("kernels"),
        "status": status,
        "fallback": fallback,
        "expected": inv.accelerator,
        "delegates": [{k: v.get(k) for k in DELEGATE_KEYS} for v in verdicts],
    }


def _accuracy_inputs(job, phone: PhoneJob, settings: MeasureSettings):
    """Seeded inputs pushed to the phone and the host's reference outputs on them (TFLite
    only: onnxruntime_perf_test cannot dump outputs)."""
    if job.backend.runtime != "tflite":
        return None, None, {"max_abs_error": None, "cosine_similarity": None,
                            "missing_reason": "onnxruntime_perf_test cannot dump outputs"}
    key = ("reference", str(phone.model), repr(sorted(phone.input_specs.items())),
           settings.seed)
    cache = phone.run.host_cache if phone.run is not None else {}
    if key not in cache:  # once per model in a run: the same for each of its backends
        ref = run_isolated(accuracy.reference, {"model_path": str(phone.model),
                                                "inputs": phone.input_specs,
                                                "seed": settings.seed},
                           timeout_s=120, log_path=phone.log)
        files = (accuracy.write_inputs(phone.work / f"inputs-{phone.token}", ref["inputs"])
                 if ref.get("status") == "ok" else None)
        cache[key] = (ref, files)
    ref, files = cache[key]
    if ref.get("status") != "ok":
        reason = (ref.get("error") or {}).get("message", "the host reference failed")
        return None, None, {"max_abs_error": None, "cosine_similarity": None,
                            "missing_reason": f"no CPU reference on the host: {reason}"}
    inputs = []
    for (name, shape, _raw), path in zip(ref["inputs"], files, strict=True):
        remote = phone.device.push_by_content(path).remote
        inputs.append((name, shape, remote))
    return inputs, ref["outputs"], None


def _compare_outputs(phone: PhoneJob, out_file: str, reference) -> dict[str, Any]:
    local = phone.work / f"outputs-{phone.token}.bin"
    phone.device.pull(out_file, local)
    phone.device.run(f"rm -f {out_file}", check=False)
    result = accuracy.compare(reference, local.read_bytes())
    local.unlink(missing_ok=True)
    return result
