"""The plan: jobs = devices x workloads x backends, with what cannot run marked skipped."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from npubench.devices.base import Device
from npubench.errors import ConfigError
from npubench.harness.backends import KNOWN_BACKENDS, BackendSpec, parse_backend
from npubench.workloads.llm_models import plan_memory_fit


@dataclass(frozen=True)
class Job:
    index: int
    device: Device
    workload: object  # workloads.registry.Workload
    backend: BackendSpec
    skip_reason: str | None = None
    memory_fit: dict | None = None
    """An LLM job's memory estimate against the device's limit (``workloads.llm_models``)."""

    @property
    def job_id(self) -> str:
        job_id = f"{self.workload.name}@{self.backend}"
        return job_id if self.device.spec == "host" else f"{job_id}@{self.device.spec}"


def expand_backends(
    device: Device, requested: Sequence[str], known: dict[str, str | None] | None = None
) -> list[tuple[BackendSpec, str | None]]:
    """The backends to run on ``device``: each with None or the reason it cannot run there.

    ``all`` means every backend the device can run (one it cannot, e.g. ``ort:cuda`` without a
    CUDA provider, is left out; named, it gets a skipped job saying why). An unknown backend
    is a ConfigError listing the valid ones."""
    known = known if known is not None else device.backends()
    chosen: list[tuple[BackendSpec, str | None]] = []
    seen: set[str] = set()

    def add(spec: BackendSpec) -> None:
        if str(spec) not in seen:
            seen.add(str(spec))
            reason = known.get(spec.base, f"{spec.base} does not run on {device.spec}")
            chosen.append((spec, reason))

    for text in requested:
        if text.strip() == "npu":
            add(parse_backend(npu_backend(device)))
        elif text.strip() == "all":
            for base, reason in known.items():
                if reason is None:
                    add(parse_backend(base))
        else:
            add(parse_backend(text, known=sorted(set(known) | set(KNOWN_BACKENDS))))
    return chosen


def npu_backend(device: Device) -> str:
    """What ``--backend npu`` means on ``device``: the SoC catalogue's NPU path."""
    from npubench.devices import soc

    getprops = getattr(device, "getprops", None)
    entry = soc.lookup(getprops()) if getprops else None
    if entry is None:
        raise ConfigError(f"--backend npu: no NPU known for {device.spec}",
                          hint="name a backend, e.g. tflite:nnapi")
    return entry.npu_backend


def make_plan(
    devices: Sequence[Device],
    workloads: Sequence[object],
    backends: Sequence[str],
    threads: int | None = None,
    known_backends=None,
    frame_rate: bool = False,
) -> list[Job]:
    """Every (device, workload, backend) whose backend runs the workload's format.

    A workload that no chosen backend can run still gets a skipped job, so that it shows; so
    does, with ``frame_rate`` (``--fps``), a job that cannot run paced
    (``framerate.unsupported``), before anything is built or pushed for it."""
    host_threads = threads or os.cpu_count() or 1
    jobs: list[Job] = []
    for device in devices:
        known = known_backends(device) if known_backends else None
        chosen = expand_backends(device, backends, known)
        if not chosen:
            raise ConfigError("no backend selected")
        for workload in workloads:
            if getattr(workload, "pipeline", None) is not None:  # workloads.pipelines
                jobs.append(_pipeline_job(len(jobs), device, workload, chosen, known))
                continue
            if getattr(workload.origin, "error", None) is not None:
                # an unusable model file: one job, which fails with the reason, on a backend
                # of the file's format where one is chosen (a broken .onnx is no tflite job)
                backend = next((b for b, _ in chosen if b.format == workload.format),
                               chosen[0][0])
                jobs.append(Job(len(jobs), device, workload, backend))
                continue
            matching = _matching(device, workload, chosen)
            if not matching:
                names = ", ".join(str(b) for b, _ in chosen)
                formats = "/".join([workload.format, *workload.alternates])
                why = (f"none of the selected backends ({names}) runs {formats} models")
                if workload.llm is not None and _is_phone(device):
                    why = (f"an LLM runs on a phone through llama-bench: select a llama backend "
                           f"(llama:cpu, llama:gpu, llama:htp), not {names}")
                jobs.append(Job(len(jobs), device, workload, chosen[0][0], why))
                continue
            for backend, reason, variant in matching:
                # on a phone, no thread count unless asked for: the job takes one thread per
                # big core from the phone's CPU topology (devices.cpu_topology)
                spec = backend.with_options(
                    threads=threads or (None if _is_phone(device) else host_threads))
                too_large, fit = plan_memory_fit(device, variant)
                jobs.append(Job(len(jobs), device, variant, spec, reason or too_large, fit))
    if frame_rate:
        from npubench.harness.framerate import unsupported

        jobs = [job if job.skip_reason else replace(
            job, skip_reason=unsupported(job.workload, job.backend, _is_phone(job.device)))
            for job in jobs]
    return jobs


def _pipeline_job(index: int, device: Device, workload, chosen, known) -> Job:
    """A pipeline is one job whatever the selected backends: its stages name their own. The
    job's backend is its ASR encoder's; a stage whose backend the device lacks skips it."""
    from npubench.harness.backends import KNOWN_BACKENDS

    known = known if known is not None else device.backends()
    reason = None
    for stage in workload.pipeline.stages:
        spec = parse_backend(stage.backend, known=sorted(set(known) | set(KNOWN_BACKENDS)))
        why = known.get(spec.base, f"{spec.base} does not run on {device.spec}")
        if why is None and stage.role == "llm" and _is_phone(device) and \
                spec.runtime != "llama":
            why = "on a phone the language model runs through llama-bench: a llama:* backend"
        if why is not None:
            reason = f"stage {stage.role} ({stage.workload}): {why}"
            break
    backend = parse_backend(workload.pipeline.stage("asr_encoder").backend)
    return Job(index, device, workload, backend, reason)


def _is_phone(device: Device) -> bool:
    return getattr(device, "kind", "host") == "android"


def _matching(device: Device, workload, chosen: list[tuple[BackendSpec, str | None]]) -> list:
    """(backend, reason, the workload in the backend's format) for each backend that runs the
    workload. On a phone an LLM runs only through llama-bench (onnxruntime_perf_test times
    single forward passes, not a decode loop through a KV cache)."""
    out = []
    for backend, reason in chosen:
        variant = workload.for_format(backend.format)
        if variant is None:
            continue
        if variant.llm is not None and _is_phone(device) and backend.runtime != "llama":
            continue
        out.append((backend, reason, variant))
    return out
