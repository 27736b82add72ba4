"""Language models of the size phone makers announce (3B, 6-7B, 13B): the presets' published
shapes, the memory fit decided at plan time (a model a device cannot hold is a skipped record
with the estimate and the limit, nothing built or pushed), the peak-memory breakdown of a host
job, an 8 GB simulated phone, and hostile file names on the way to the phone's shell. No real
7B or 13B is built here: a 7B-wide layer is, and the refusals need no build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from npubench.errors import ConfigError, WorkloadError
from npubench.workloads.llm_config import DecoderConfig
from npubench.workloads.llm_models import (
    PHONE_MEMORY_SHARE,
    phone_memory_limit,
    plan_memory_fit,
)
from npubench.workloads.registry import _llm_presets, builtin, resolve

LARGE = ("llama_3b", "milm_6b", "llama_7b", "llama_13b")
SMALL_PHONE_GGUF = DecoderConfig(layers=2, hidden=128, heads=4, kv_heads=2, intermediate=256,
                                 vocab=512, context=256)
TINY = "decoder:preset=llama_15m,layers=1,precision=int4"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NPUBENCH_MEMORY_AVAILABLE_MB", raising=False)
    monkeypatch.delenv("NPUBENCH_PHONE_MEMORY_SHARE", raising=False)
    return tmp_path / "cache"


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


# --- the presets ---------------------------------------------------------------------------------

def test_presets_have_their_published_parameter_counts_and_cite_their_source():
    presets, table = _llm_presets(), builtin()
    for name in LARGE:
        preset = presets[name]
        params = preset["config"].param_count()
        assert abs(params - preset["published_params"]) / preset["published_params"] < 0.02, name
        assert preset["reference"] and "config" in preset["reference"].lower() or \
            "README" in preset["reference"]
        for precision in preset["precisions"]:
            record = table[f"{name}_{precision}"].to_record()
            assert record["reference"] == preset["reference"] and record["params"] == params
    assert presets["llama_7b"]["config"].param_count() == 6_738_415_616  # Llama-2-7B, exactly
    assert presets["llama_13b"]["config"].param_count() == 13_015_864_320
    assert presets["llama_13b"]["precisions"] == ["int8", "int4"]  # no 24 GiB fp16 form
    assert "llama_13b_fp16" not in table and "llama_1b_fp32" in table  # the others keep theirs


def test_weight_and_kv_bytes_of_the_7b():
    config = _llm_presets()["llama_7b"]["config"]
    linear = 32 * (4 * 4096**2 + 3 * 4096 * 11008) + 4096 * 32000  # layers + output projection
    norms = (2 * 32 + 1) * 4096
    assert config.weight_bytes("int4") == linear * 5 // 8 + 32000 * 4096 * 2 + norms * 4
    assert config.gguf_weight_bytes("int4") == (linear + 32000 * 4096) * 18 // 32 + norms * 4
    assert config.kv_cache_bytes(640, "int4") == 2 * 32 * 4096 * 640 * 4  # fp32 in ORT
    assert config.kv_cache_bytes(640, "int4", "llama.cpp") == 2 * 32 * 4096 * 640 * 2  # f16
    assert config.prepack_bytes("int4") == linear // 32 * 4 and config.prepack_bytes("int8") == 0
    estimate = config.memory_estimate("int4", 640, "llama.cpp")
    assert estimate["run"] == estimate["weights"] + estimate["kv_cache"] + estimate["runtime"]


def test_a_7b_wide_layer_builds_the_same_bytes_twice_and_runs(tmp_path, monkeypatch):
    from npubench.workloads.llm_loop import Decoder, generate, prompt_ids

    monkeypatch.delenv("NPUBENCH_MEMORY_AVAILABLE_MB", raising=False)
    spec = "decoder:preset=llama_7b,layers=1,vocab=1024,precision=int4"
    digests = []
    for run in ("a", "b"):
        monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / run))
        workload = resolve(spec)
        assert workload.llm.config.hidden == 4096 and workload.llm.config.intermediate == 11008
        path = workload.path()
        workload.for_format("gguf").path()
        manifest = json.loads(path.with_name("manifest.json").read_text())
        digests.append((manifest["files"], workload.for_format("gguf").origin.cached_sha256()))
    assert digests[0] == digests[1] and digests[0][1] is not None
    assert set(digests[0][0]) == {"model.onnx", "model.onnx.data"}
    decoder = Decoder.open(path, threads=2)
    tokens = generate(decoder, prompt_ids(1024, 8, 0), 2).tokens
    assert len(tokens) == 3 and all(0 <= t < 1024 for t in tokens)
    if sys.platform.startswith("linux"):  # the mapped scales ORT keeps are handed back
        memory = decoder.load_memory
        assert (memory["released_during_load_mb"] or 0) + memory["released_after_load_mb"] > 0
        assert memory["load_peak_mb"] >= memory["after_load_VmRSS"]


def test_a_hostile_decoder_spec_is_refused_before_anything_runs():
    with pytest.raises(WorkloadError, match="is not a whole number"):
        resolve("decoder:preset=llama_7b,layers=1'; touch /tmp/pwned; echo '")
    with pytest.raises(WorkloadError, match="unknown preset"):
        resolve("decoder:preset=llama_7b\"$(id)\"")


# --- memory fit ----------------------------------------------------------------------------------

def test_a_phones_share_of_its_ram_and_its_override(monkeypatch):
    limit, source = phone_memory_limit(8 * 2**30)
    assert limit == int(8 * 2**30 * PHONE_MEMORY_SHARE) and "Off Grid" in source
    monkeypatch.setenv("NPUBENCH_PHONE_MEMORY_SHARE", "0.8")
    assert phone_memory_limit(8 * 2**30)[0] == int(8 * 2**30 * 0.8)
    monkeypatch.setenv("NPUBENCH_PHONE_MEMORY_SHARE", "1.5")
    with pytest.raises(ConfigError, match="not a fraction"):
        phone_memory_limit(8 * 2**30)


def test_sim_ram_option(android):
    from npubench.devices.simulator import parse_sim_options

    assert parse_sim_options("sm8650?ram_gb=8&timing=modeled").ram_gb == 8.0
    options = parse_sim_options("sm8650?timing=modeled,ram_gb=8")
    assert (options.ram_gb, options.timing) == (8.0, "modeled")
    for bad in ("sm8650?ram_gb=lots", "sm8650?ram_gb=0.5"):
        with pytest.raises(ConfigError, match="RAM is 1 to 64 GB"):
            parse_sim_options(bad)
    phone = android("sm8650", ram_gb=8)
    ram = phone.info().ram_bytes  # from /proc/meminfo's MemTotal
    assert 7.0 * 2**30 < ram < 7.5 * 2**30  # 8 GB less the carve-outs


def test_a_13b_on_an_8_gb_phone_is_skipped_with_the_estimate_and_the_run_goes_on(
        android, cache, tmp_path):
    from npubench.harness.device_job import DeviceJobOptions, phone_backends
    from npubench.harness.plan import make_plan
    from npubench.harness.run import PhoneContext, execute, new_run_id, start_run
    from npubench.harness.settings import MeasureSettings
    from npubench.harness.tools import ToolConfig
    from npubench.results import read_records
    from npubench.workloads.gguf_files import write_gguf

    hostile = tmp_path / "it's a \"q4\" $(touch pwned) `id`.gguf"
    write_gguf(hostile, SMALL_PHONE_GGUF, "int4")
    phone = android("sm8650", ram_gb=8)
    large = resolve("llama_13b_int4").with_tokens(64, 16)
    small = resolve(str(hostile)).with_tokens(16, 4)
    tools = ToolConfig()
    jobs = make_plan([phone], [large, small], ["llama:cpu"],
                     known_backends=lambda d: phone_backends(d, tools))
    assert "more than the" in jobs[0].skip_reason and jobs[1].skip_reason is None
    run_id = new_run_id()
    store = start_run(tmp_path / "run", run_id, {}, None)
    execute(jobs, store, run_id, MeasureSettings(llm_repetitions=1, idle_baseline_s=0,
                                                 job_timeout_s=120),
            phone=PhoneContext(tools, DeviceJobOptions(cooldown_timeout_s=10)))
    skipped, ok = read_records(store.run_dir)
    assert skipped["status"] == "skipped" and ok["status"] == "ok", ok["error"]
    fit = skipped["memory_fit"]
    ram = phone.info().ram_bytes
    assert fit["limit_bytes"] == int(ram * PHONE_MEMORY_SHARE) and fit["runtime"] == "llama.cpp"
    assert fit["need_bytes"] > fit["limit_bytes"] and fit["weights_bytes"] > 6.5 * 2**30
    assert fit["need_bytes"] == fit["weights_bytes"] + fit["kv_cache_bytes"] + \
        fit["runtime_bytes"]
    message = skipped["error"]["message"]
    assert "13.02B parameters at int4" in message and "smaller preset" in message
    # nothing built or pushed for the 13B; the hostile name reached the tool intact
    assert not any(p.name == "model.gguf" for p in _files(cache))
    storage = Path(phone.phone.userland.fs.host_path("/data/local/tmp"))
    pushed = [p for p in _files(storage) if p.stat().st_size > 50 * 2**20]
    assert pushed == [] and not any(p.name == "pwned" for p in _files(storage))
    assert not (Path.cwd() / "pwned").exists()
    assert ok["workload"]["name"] == hostile.stem and ok["decode_tokens_per_s"] > 0
    # the same preset fits the 16 GB Dimensity phone's share: planned, not skipped
    big = android("mt6989")
    (job,) = make_plan([big], [large], ["llama:cpu"],
                       known_backends=lambda d: phone_backends(d, tools))
    assert job.skip_reason is None and job.memory_fit["fits"]


def test_on_the_host_too_little_memory_skips_before_building_and_the_next_job_runs(
        cache, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "NPUBENCH_MEMORY_AVAILABLE_MB": "600"}
    result = subprocess.run(
        [sys.executable, "-m", "npubench", "run", "--workload", "llama_7b_int4", "--workload",
         TINY, "--backend", "ort:cpu", "--prompt-tokens", "16", "--gen-tokens", "4", "--set",
         "llm_repetitions=2", "--set", "idle_baseline_s=0", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    skipped, ok = (json.loads(line) for line in (out / "results.jsonl").read_text().splitlines())
    assert skipped["status"] == "skipped" and ok["status"] == "ok", ok["error"]
    fit = skipped["memory_fit"]
    assert fit["limit_bytes"] == 600 * 2**20 and "NPUBENCH_MEMORY_AVAILABLE_MB" in \
        fit["limit_source"]
    assert "6.74B parameters at int4" in skipped["error"]["message"]
    assert not any("model.onnx" in p.name for p in _files(cache)
                   if p.stat().st_size > 100 * 2**20)  # no 7B built
    assert ok["memory_fit"]["fits"] is True
    memory = ok["llm"]["memory"]  # the peak-memory breakdown, on a small decoder
    parts = memory["parts_mb"]
    assert sum(parts.values()) == pytest.approx(memory["peak_mb"], abs=0.5)
    assert memory["peak_mb"] == ok["memory_peak_mb"] and memory["ratio"] > 1
    assert parts["weights"] > 0 and parts["before_load"] > 0 and memory["target_ratio"] == 1.3
    assert memory["measured_mb"]["load_peak_mb"] <= memory["peak_mb"] + 0.5
    if sys.platform.startswith("linux"):
        assert memory["measured_mb"]["released_after_load_mb"] >= 0
    # the report shows the breakdown and the fit (in the cells' titles)
    from npubench.reports.frame import records_frame, rows
    from npubench.reports.llm import llm_section

    (row,) = llm_section(rows(records_frame([ok])))["rows"]
    titles = " ".join(str(cell.title) for cell in row["cells"])
    assert "MB the worker before loading" in titles and "of a 600 MB limit" in titles


def test_plan_memory_fit_needs_a_decoder_and_a_device_that_says_its_memory():
    table = builtin()
    gguf = table["llama_7b_int4"].for_format("gguf")

    class Phone:
        def info(self):
            from npubench.devices.base import DeviceInfo

            return DeviceInfo(id="p", kind="android", model="p", ram_bytes=None)

    assert plan_memory_fit(Phone(), gguf) == (None, None)  # RAM unknown: the phone decides
    assert plan_memory_fit(object(), gguf) == (None, None)


def test_a_farm_sim_phone_process_keeps_its_ram_option():
    """``npubench sim --ram-gb 8``, as a farm's ``sim:sm8650?ram_gb=8`` phone runs it in a
    process of its own: the phone's /proc/meminfo shows the 8 GB."""
    from npubench.devices.registry import resolve_device
    from npubench.harness.farm import sim_phones

    spec, proc = sim_phones.start("sim:sm8650?ram_gb=8&timing=modeled", "phone")
    try:
        assert "--ram-gb" in sim_phones.command("sim:sm8650?ram_gb=8")
        command = sim_phones.command("sim:sm8650?fault=storage-full,hot=85")
        assert command[-4:] == ["--fault", "storage-full", "--fault", "hot=85"]
        ram = resolve_device(spec).info().ram_bytes
        assert 7.0 * 2**30 < ram < 7.5 * 2**30
    finally:
        sim_phones.stop(proc)
