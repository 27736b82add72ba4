"""One LLM job on a phone, through llama.cpp's ``llama-bench`` (the phone counterpart of
``harness.llm_job``): push the tool, the ``lib/`` folder of its install (ggml backends, Hexagon
libraries) and the GGUF by content; a short probe run checks that the backend's device works;
then a prefill run (one ``pp`` test of the prompt) and a decode run (one ``tg`` test of the
generated tokens), each repeated ``settings.llm_repetitions`` times by llama-bench itself. The
decode run is measured under the phone's own telemetry, so energy is per generated token.

What llama-bench times, and what it does not: each repetition of a test, without tokenization
and sampling, without loading the model (so no load time), and a ``tg`` test decodes from an
empty cache (not after the prompt). It reports one total per repetition: per-token decode
latency is that total over the tokens, one figure per repetition, not each token's own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from npubench.errors import BackendUnavailable, ToolError
from npubench.harness import device_commands as cmds
from npubench.harness import phone_tools
from npubench.harness.device_job import (
    DelegateFailed,
    DeviceJobOptions,
    PhoneJob,
    ToolFailed,
    telemetry_fields,
)
from npubench.harness.llm_job import llm_summary
from npubench.harness.parsers.llama_bench import devices_in_use
from npubench.harness.settings import MeasureSettings
from npubench.harness.tools import ToolConfig

PROBE_PROMPT, PROBE_GEN = 8, 4
SOURCE = ("llama-bench (llama.cpp): its own timing of each repetition of a pp test (the prompt, "
          "in one batch) and a tg test (single-token decodes from an empty cache); tokenization "
          "and sampling are not included, so TTFT is the prompt's processing time; per-token "
          "latency is each repetition's tg time over its tokens")
LOAD_MS_MISSING = ("llama-bench loads the model before its timed repetitions and prints no time "
                   "for the load")
DELEGATION_SOURCE = (
    "llama-bench's `backends` field with -dev DEVICE -ngl 99: a device llama.cpp does not find "
    "is an error, so a run that names it offloaded every layer to it; ops the device does not "
    "support still run on the CPU, which llama-bench does not report (and a real build's "
    "`backends` lists every ggml backend it was built with, not only the one in use)")
DEVICES_SOURCE = (
    "llama-bench's `devices` field (the -dev devices in use) with -ngl 99: every layer went to "
    "the devices it names, none to a device it does not name (`none`: all on the CPU); ops a "
    "device does not support still run on the CPU, which llama-bench does not report")
GGML_CACHE_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32,
                    "q4_1": 20 / 32, "q5_0": 22 / 32, "q5_1": 24 / 32, "iq4_nl": 18 / 32}
"""Bytes per cached value of each ``-ctk`` / ``-ctv`` type (ggml block sizes)."""
CRASH_CODES = {139: "SIGSEGV", 134: "SIGABRT", 136: "SIGFPE", 137: "SIGKILL"}


def run_llm(job, phone: PhoneJob, settings: MeasureSettings, options: DeviceJobOptions) -> dict:
    """The result fields of one LLM job on a phone (as ``run_device_job`` returns them, plus
    the LLM figures)."""
    llm = job.workload.llm
    if llm is None:
        raise BackendUnavailable(f"{job.backend.base} runs LLM workloads (GGUF) only, and "
                                 f"{job.workload.name} is not one")
    n_prompt, n_gen, reps = llm.prompt_tokens, llm.gen_tokens, settings.llm_repetitions
    info = gguf_info(phone.model, n_prompt, n_gen, job.workload.name)
    phone.prepare()
    lib_remote = push_libs(phone)
    threads = phone.cpu.threads

    def invocation(prompt: int, gen: int, repetitions: int) -> cmds.ToolInvocation:
        return cmds.llama_bench(phone.model_remote, job.backend, threads=threads,
                                n_prompt=prompt, n_gen=gen, repetitions=repetitions,
                                lib_dir=lib_remote)

    probe_inv = invocation(min(PROBE_PROMPT, n_prompt), min(PROBE_GEN, n_gen), 1)
    probe = bench(phone, probe_inv, settings.job_timeout_s)
    delegation = delegation_block(probe["tests"][0], probe_inv, job.backend)
    if options.require_npu and probe_inv.accelerator == "npu" and delegation["fallback"]:
        raise DelegateFailed(phone.device.spec, f"{job.backend.base}: llama-bench ran on "
                             f"{delegation['ran_on']} (its `{delegation['placement_from']}` "
                             f"field), not on the NPU ({delegation['expected_on']}), and "
                             "--require-npu was given")
    prefill_inv, decode_inv = invocation(n_prompt, 0, reps), invocation(0, n_gen, reps)
    with phone.measurement() as telemetry:
        # both runs after the cooldown, and sampled (the peak memory is the prefill's); the
        # active window, for power and energy per token, is the decode run's
        pp = pick_test(bench(phone, prefill_inv, settings.job_timeout_s), "pp", phone)
        with telemetry.active():
            decoded = bench(phone, decode_inv, settings.job_timeout_s)
        tg = pick_test(decoded, "tg", phone)
        telemetry.set_work(len(tg["samples_ns"]) * tg["n_gen"], sum(tg["samples_ns"]) / 1e9)
    tele = telemetry.result or {}
    extra = json_fields(phone.last_output)

    figures = llm_figures(pp, tg)
    validity_reasons = list(tele.get("validity_reasons") or [])
    if len(tg["samples_ns"]) < 3:
        validity_reasons.append(f"{len(tg['samples_ns'])} repetitions: too few for a "
                                "confidence interval")
    energy, energy_reason = energy_per_token(tele)
    samples = figures.pop("samples")
    return {
        "status": "ok",
        "error": None,
        "validity": "semivalid" if validity_reasons else "valid",
        "validity_reasons": validity_reasons,
        "library": "llama-bench",
        "library_version": library_version(tg),
        "runtime_details": {
            "command": decode_inv.args, "prefill_command": prefill_inv.args,
            "env": decode_inv.env, **phone.runtime_cpus(), "backends": tg.get("backend"),
            "devices": tg.get("devices") or extra.get("devices"),
            "n_gpu_layers": tg.get("n_gpu_layers"),
            "n_threads": tg.get("n_threads"), "model_type": tg.get("model_type"),
            "cpu_info": extra.get("cpu_info"), "gpu_info": extra.get("gpu_info"),
            "type_k": extra.get("type_k"), "type_v": extra.get("type_v")},
        "tool": {"name": phone.tool_name, "path_on_device": phone.tool_remote,
                 "rounds": 2, "repetitions": reps, "wall_s": round(phone.tool_wall_s, 3)},
        "init_ms": None,
        "first_inference_ms": None,
        "warmup": {"iterations": None, "mean_ms": None},
        "stop_reason": "repetitions",
        "precision_reached": None,
        "ci95_relative_half_width": None,
        "iterations": len(tg["samples_ns"]) * tg["n_gen"],
        "measured_s": sum(tg["samples_ns"]) / 1e9,
        "inference_s": (sum(pp["samples_ns"]) + sum(tg["samples_ns"])) / 1e9,
        "memory_peak_mb": tele.get("memory_peak_mb"),
        "memory_source": tele.get("memory_source"),
        **telemetry_fields(tele),
        "delegation": delegation,
        "accuracy": {"max_abs_error": None, "cosine_similarity": None,
                     "missing_reason": "llama-bench does not return the model's outputs"},
        "energy_mj_per_token": energy,
        "energy_missing_reason": energy_reason,
        **{k: v for k, v in figures.items() if k != "llm"},  # latency_ms, ttft_ms, ...
        "llm": {"prompt_tokens": n_prompt, "gen_tokens": n_gen, "repetitions": reps,
                **model_sizes(tg, info, n_prompt + n_gen, extra), "load_ms": None,
                "load_ms_missing_reason": LOAD_MS_MISSING, **figures["llm"],
                "source": SOURCE},
        "samples": {**samples, "telemetry": tele.get("samples") or []},
    }


# --- preparation -------------------------------------------------------------------------------

def gguf_info(model: Path, n_prompt: int, n_gen: int, name: str):
    """The GGUF's header, after checking that the prompt and generation fit its context (a
    WorkloadError with the numbers; llama.cpp would only warn, and the figures would then be
    of a model run past what it was trained for)."""
    from npubench.workloads.gguf_files import read_gguf
    from npubench.workloads.llm_config import check_tokens

    info = read_gguf(model)
    if info.config is not None:
        check_tokens(info.config, n_prompt, n_gen, name)
    return info


def llama_lib_dir(tools: ToolConfig) -> Path | None:
    """The ``lib/`` folder of the llama.cpp install: ``--tool llama_cpp_lib=PATH``, or the
    ``lib/`` beside the configured llama-bench's ``bin/`` (the layout of the Snapdragon
    package, DEVICE_TOOLS.md 3.4); None when there is neither."""
    configured = tools.get("llama_cpp_lib")
    if configured is not None:
        return configured
    tool = tools.get("llama-bench")
    if tool is None:
        return None
    for base in dict.fromkeys((Path(tool), Path(tool).resolve())):
        beside = base.parent.parent / "lib"
        if beside.is_dir():
            return beside
    return None


def lib_dir_reason(device, tools: ToolConfig) -> str | None:
    """Why llama:gpu / llama:htp cannot run on the phone for want of the lib/ folder (None:
    configured here, or installed on the phone beside its llama-bench)."""
    if llama_lib_dir(tools) is not None:
        return None
    if tools.get("llama-bench") is None and "llama_cpp_lib" in phone_tools.on_phone(device).libs:
        return None
    return ("llama:gpu and llama:htp need the lib/ folder of the llama.cpp Android build (ggml "
            "backends, libggml-htp-vNN.so): keep it beside bin/llama-bench or pass --tool "
            "llama_cpp_lib=PATH")


def push_libs(phone: PhoneJob) -> str | None:
    """The llama.cpp ``lib/`` folder on the phone: the configured one pushed by content, or
    the phone's own beside its llama-bench; None where none is needed (llama:cpu of a
    statically linked build)."""
    lib = llama_lib_dir(phone.tools)
    if lib is not None:
        files = {p.name: p for p in sorted(lib.iterdir()) if p.is_file() and ".so" in p.name}
        if not files:
            raise BackendUnavailable(f"no shared libraries (*.so) in {lib}",
                                     hint="point --tool llama_cpp_lib at the lib/ folder of "
                                          "the llama.cpp install")
        return phone.device.push_folder_by_content(files, mode=0o755)
    if phone.tools.get("llama-bench") is None:  # the phone's own llama-bench: its own lib/
        folder = phone_tools.on_phone(phone.device).libs.get("llama_cpp_lib")
        if folder is not None:
            return folder
    if phone.backend.accelerator == "cpu":
        return None
    raise BackendUnavailable(f"{phone.backend.base}: {lib_dir_reason(phone.device, phone.tools)}")


# --- running llama-bench -----------------------------------------------------------------------

def bench(phone: PhoneJob, inv: cmds.ToolInvocation, timeout_s: float) -> dict:
    """Run llama-bench once; its parsed output, or the error it printed as a ToolError
    (DelegateFailed where the backend's device is missing or failed)."""
    parsed, code = phone._run_tool(inv, timeout_s=timeout_s)
    check(parsed, code, phone, inv)
    return parsed


def check(parsed: dict, code: int, phone: PhoneJob, inv: cmds.ToolInvocation) -> None:
    if code == 0 and parsed.get("tests") and not parsed.get("failed"):
        return
    error = parsed.get("error") or "no error line; see the log"
    spec = phone.device.spec
    if code in CRASH_CODES:
        raise ToolFailed(spec, f"llama-bench crashed ({CRASH_CODES[code]}, exit {code}): {error}")
    device = inv.args[inv.args.index("-dev") + 1] if "-dev" in inv.args else None
    if inv.delegate and device and re.search(
            rf"invalid device|{re.escape(device)}|{re.escape(inv.delegate)}|hexagon|opencl"
            r"|ggml_backend", error, re.I):
        raise DelegateFailed(spec, f"{phone.backend.base}: llama-bench could not use the "
                             f"{device} device: {error}")
    raise ToolFailed(spec, f"llama-bench failed (exit {code}): {error}")


def pick_test(parsed: dict, kind: str, phone: PhoneJob) -> dict:
    """The pp test (prompt only) or the tg test (generation only) of a run."""
    for test in parsed.get("tests") or []:
        pp, tg = test.get("n_prompt") or 0, test.get("n_gen") or 0
        if (kind == "pp" and pp > 0 and tg == 0) or (kind == "tg" and tg > 0 and pp == 0):
            if test.get("samples_ns"):
                return test
    raise ToolError(phone.device.spec, f"llama-bench printed no {kind} test with its samples "
                    "(samples_ns): a build too old for -o json's samples?")


def json_fields(text: str | None) -> dict[str, Any]:
    """Fields of the first test in llama-bench's ``-o json`` output that the parser does not
    keep (``type_k``, ``type_v``, ``devices``, ``cpu_info``, ``gpu_info``); {} when none."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"(?m)^\s*\[", text or ""):
        try:
            value, _ = decoder.raw_decode(text, m.end() - 1)
        except ValueError:
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return {k: value[0].get(k) for k in ("type_k", "type_v", "devices", "cpu_info",
                                                 "gpu_info") if k in value[0]}
    return {}


# --- from llama-bench's tests to the record ----------------------------------------------------

def llm_figures(pp: dict, tg: dict) -> dict[str, Any]:
    """Top-level medians, the ``llm`` block's distributions and the raw samples, from a pp and
    a tg test as ``parse_llama_bench`` returns them (each repetition is one sample)."""
    n_gen = tg["n_gen"]
    ttft = [ns / 1e6 for ns in pp["samples_ns"]]
    prefill = pp.get("samples_ts") or [pp["n_prompt"] * 1e9 / ns for ns in pp["samples_ns"]]
    decode = tg.get("samples_ts") or [n_gen * 1e9 / ns for ns in tg["samples_ns"]]
    token_ms = [ns / n_gen / 1e6 for ns in tg["samples_ns"]]
    figures = llm_summary(ttft_ms=ttft, prefill_tokens_per_s=prefill,
                          decode_tokens_per_s=decode, token_latency_ms=token_ms)
    return {
        **figures["top"],
        "llm": figures["blocks"],
        "samples": {"latency_ms": token_ms, "ttft_ms": ttft,
                    "prefill_tokens_per_s": list(prefill), "decode_tokens_per_s": list(decode),
                    "pp_samples_ns": list(pp["samples_ns"]),
                    "tg_samples_ns": list(tg["samples_ns"])},
    }


def model_sizes(test: dict, info, tokens: int, extra: dict) -> dict[str, int | None]:
    """Parameters and weight bytes as llama-bench counts them (else the GGUF's), and the KV
    cache for ``tokens`` positions at the run's cache types (llama.cpp's default f16)."""
    config = getattr(info, "config", None)
    kv = None
    k_bytes = GGML_CACHE_BYTES.get(str(extra.get("type_k") or "f16"))
    v_bytes = GGML_CACHE_BYTES.get(str(extra.get("type_v") or extra.get("type_k") or "f16"))
    if config is not None and k_bytes is not None and v_bytes is not None:
        kv = int(config.layers * config.kv_dim * tokens * (k_bytes + v_bytes))
    return {"params": test.get("model_params") or getattr(info, "params", None),
            "weight_bytes": test.get("model_size_bytes") or getattr(info, "size_bytes", None),
            "kv_cache_bytes": kv}


def delegation_block(test: dict, inv: cmds.ToolInvocation, backend) -> dict[str, Any]:
    """Whether the backend's device was in use: from the ``devices`` llama-bench names where
    it names them ("full" when the expected device is among them), else from its ``backends``
    list (older builds, ``devices`` missing or ``auto``); "none" (a fallback) when it ran on
    the CPU. ``placement_from`` says which field decided."""
    device, expected_backend = cmds.LLAMA_DEVICES[backend.accelerator][:2]
    devices, placement_from = devices_in_use(test)
    if devices is not None:
        on, ran_on = device in devices, "/".join(devices) or "CPU"
        expected_on, source = device, DEVICES_SOURCE
    else:
        names = [b.strip() for b in str(test.get("backend") or "CPU").split(",")]
        on, ran_on = expected_backend in names, test.get("backend") or "CPU"
        expected_on, source = expected_backend, DELEGATION_SOURCE
    if inv.delegate is None:
        status, fallback = "none", False
    elif on:
        status, fallback = "full", False
    else:
        status, fallback = "none", True
    return {"delegate": inv.delegate, "nodes_total": None, "nodes_delegated": None,
            "kernels": None, "status": status, "fallback": fallback,
            "expected": inv.accelerator, "backends": test.get("backend"),
            "devices": test.get("devices"), "ran_on": ran_on, "expected_on": expected_on,
            "placement_from": placement_from, "n_gpu_layers": test.get("n_gpu_layers"),
            "source": source}


def energy_per_token(tele: dict) -> tuple[float | None, str | None]:
    """mJ per generated token from the decode run's power (``set_work`` gave the tokens and
    llama-bench's own decode time), or None with the reason."""
    power = tele.get("power")
    if power is None:
        return None, tele.get("power_missing_reason") or "power was not measured"
    energy = power.get("energy_mj_per_inference")
    if energy is None:
        return None, power.get("energy_missing_reason") or "no decode time to divide by"
    return energy, None


def library_version(test: dict) -> str | None:
    """``COMMIT (NUMBER)``, as llama-bench's Markdown footer prints its build."""
    commit, number = test.get("build_commit"), test.get("build_number")
    if commit is None and number is None:
        return None
    return f"{commit} ({number})" if number is not None else str(commit)
