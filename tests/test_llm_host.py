"""LLM workloads on the host as a user runs them: presets, decoder specs, token counts, the
record's LLM fields, and bad input that fails one job while the run goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from npubench.errors import ConfigError, WorkloadError
from npubench.harness.plan import make_plan
from npubench.harness.suites import parse_suite
from npubench.results import read_records
from npubench.workloads.llm_config import LLM_PRECISIONS
from npubench.workloads.registry import builtin, resolve

TINY = "decoder:preset=llama_15m,layers=2,vocab=2000,precision=int4"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def npubench(*args: str, env=None, timeout: float = 300):
    return subprocess.run([sys.executable, "-m", "npubench", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_presets_span_15m_to_1b_in_every_precision():
    table = builtin()
    for preset, (low, high) in {"llama_15m": (12e6, 18e6), "llama_125m": (110e6, 140e6),
                                "llama_430m": (380e6, 480e6), "llama_1b": (1.0e9, 1.2e9)}.items():
        for precision in LLM_PRECISIONS:
            w = table[f"{preset}_{precision}"]
            assert w.task == "text-generation" and w.synthetic and "llm" in w.tags
            assert w.precision == precision and w.format == "onnx"
            assert low <= w.llm.config.param_count() <= high
            assert (w.llm.prompt_tokens, w.llm.gen_tokens) == (512, 128)  # llama-bench's
            gguf = w.for_format("gguf")
            assert gguf.format == "gguf" and gguf.name == w.name and gguf.llm == w.llm
            assert "random weights" in w.description
    record = table["llama_1b_int4"].to_record()
    assert record["params"] == 1_100_048_384 and record["synthetic"] is True
    assert record["llm"]["config"]["kv_heads"] == 4


@pytest.mark.parametrize(("spec", "words"), [
    ("decoder:preset=llama_15m,heads=5", "5 heads do not divide the hidden size 288"),
    ("decoder:preset=llama_125m,kv_heads=5", "5 KV heads do not divide the 12 query heads"),
    ("decoder:preset=llama_9b", "unknown preset 'llama_9b'"),
    ("decoder:layers=two", "layers='two' is not a whole number"),
    ("decoder:wings=2", "unknown field(s) wings"),
    ("decoder:precision=int3", "unknown precision 'int3'"),
])
def test_decoder_specs_that_cannot_be_built_say_why(spec, words):
    with pytest.raises(WorkloadError) as err:
        resolve(spec)
    assert words in str(err.value)


def test_a_decoder_spec_overrides_a_preset():
    w = resolve("decoder:preset=llama_125m,layers=3,precision=int8,prompt=64,gen=16")
    assert w.llm.config.layers == 3 and w.llm.config.hidden == 768 and w.precision == "int8"
    assert (w.llm.prompt_tokens, w.llm.gen_tokens) == (64, 16)
    assert w.name == "decoder_layers3_int8"
    assert resolve("decoder:preset=llama_125m,layers=3,precision=int8").name == w.name


def test_suites_set_token_counts_per_workload():
    suite = parse_suite("workloads:\n  - {name: llama_15m_int4, prompt_tokens: 64, "
                        "gen_tokens: 8}\n  - okay_nabu\n")
    assert suite.llm_tokens == {"llama_15m_int4": {"prompt_tokens": 64, "gen_tokens": 8}}
    with pytest.raises(ConfigError, match="gen_tokens must be a positive whole number"):
        parse_suite("workloads:\n  - {name: llama_15m_int4, gen_tokens: 0}\n")


def _phone(backends):
    return SimpleNamespace(spec="sim:sm8650", kind="android",
                           backends=lambda: dict.fromkeys(backends))


def test_on_a_phone_an_llm_runs_through_llama_bench_with_its_gguf():
    w = builtin()["llama_15m_int4"]
    jobs = make_plan([_phone(["ort:cpu", "llama:cpu", "llama:htp"])], [w], ["all"])
    assert [(j.backend.base, j.workload.format, j.skip_reason) for j in jobs] == [
        ("llama:cpu", "gguf", None), ("llama:htp", "gguf", None)]
    (only,) = make_plan([_phone(["ort:cpu", "tflite:cpu"])], [w], ["ort:cpu"])
    assert "select a llama backend" in only.skip_reason


def test_a_tiny_llm_on_the_host_end_to_end(tmp_path):
    out = tmp_path / "run"
    result = npubench("run", "--workload", TINY, "--backend", "ort:cpu", "--prompt-tokens", "32",
                      "--gen-tokens", "8", "--set", "llm_repetitions=3", "--set",
                      "idle_baseline_s=0", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "decode" in result.stdout and "tok/s" in result.stdout
    (record,) = read_records(out)
    assert record["status"] == "ok" and record["workload"]["task"] == "text-generation"
    llm = record["llm"]
    assert (llm["prompt_tokens"], llm["gen_tokens"], llm["repetitions"]) == (32, 8, 3)
    assert llm["decode_tokens_per_s"]["n"] == 3 and llm["token_latency_ms"]["n"] == 24
    assert record["decode_tokens_per_s"] == llm["decode_tokens_per_s"]["median"] > 0
    assert record["prefill_tokens_per_s"] == llm["prefill_tokens_per_s"]["median"] > 0
    assert record["ttft_ms"] == pytest.approx(32 / record["prefill_tokens_per_s"] * 1e3, rel=0.5)
    assert llm["params"] == resolve(TINY).llm.config.param_count() == record["workload"]["params"]
    assert llm["weight_bytes"] > 0 and llm["kv_cache_bytes"] == 2 * 2 * 96 * 40 * 4
    assert record["memory_peak_mb"] > 0 and llm["load_ms"] > 0
    if record["energy_mj_per_token"] is None:  # no power sensor: the reason, never a zero
        assert record["energy_missing_reason"]
    samples = json.loads((out / record["samples_path"]).read_text())
    assert len(samples["latency_ms"]) == 24 and len(samples["ttft_ms"]) == 3
    report = (out / "report.html").read_text()
    assert "decoder_layers2_vocab2000_int4" in report


def test_a_prompt_longer_than_the_context_fails_that_job_and_the_run_goes_on(tmp_path):
    out = tmp_path / "run"
    short = "decoder:preset=llama_15m,layers=1,context=64,precision=int4"
    result = npubench("run", "--workload", short, "--workload", TINY, "--backend", "ort:cpu",
                      "--prompt-tokens", "60", "--gen-tokens", "8", "--set", "llm_repetitions=2",
                      "--set", "idle_baseline_s=0", "--out", str(out))
    assert result.returncode == 4, result.stdout + result.stderr  # a job failed
    failed, ok = read_records(out)
    assert failed["status"] == "failed" and ok["status"] == "ok"
    assert "(60 + 8 = 68 tokens) is longer than the model's context of 64" in \
        failed["error"]["message"]


def test_a_preset_too_large_for_memory_is_refused_with_the_estimate(tmp_path, cache):
    import os

    out = tmp_path / "run"
    env = {**os.environ, "NPUBENCH_MEMORY_AVAILABLE_MB": "1024"}
    result = npubench("run", "--workload", "llama_1b_fp32", "--backend", "ort:cpu", "--out",
                      str(out), env=env)
    assert result.returncode == 0, result.stdout + result.stderr  # skipped, not failed
    (record,) = read_records(out)
    assert record["status"] == "skipped"
    assert "1.10B parameters at fp32 need about" in record["error"]["message"]
    assert "more than the 1.0 GiB this device allows" in record["error"]["message"]
    assert record["memory_fit"]["limit_bytes"] == 2**30 and not record["memory_fit"]["fits"]
    assert not (cache / "generated").exists() or not any((cache / "generated").iterdir())


def test_a_bad_decoder_spec_is_a_usage_error():
    result = npubench("run", "--workload", "decoder:preset=llama_15m,kv_heads=4")
    assert result.returncode == 1
    assert "4 KV heads do not divide the 6 query heads" in result.stderr + result.stdout


def test_energy_per_token_from_the_host_power_sensor(tmp_path, monkeypatch):
    """With a power sensor (a RAPL tree running at a known 12 W), energy per generated token is
    that power x decode time / tokens; without one it is None with the reason."""
    from test_monitors import FakeRapl

    from npubench.harness import host_job
    from npubench.harness.llm_job import run_host_llm_job
    from npubench.harness.monitors import HostTelemetry
    from npubench.harness.settings import MeasureSettings

    workload = resolve(TINY)
    job = {"model_path": str(workload.path()), "backend": "ort:cpu?threads=1", "inputs": {},
           "settings": MeasureSettings(llm_repetitions=3, idle_baseline_s=0).to_dict(),
           "llm": {**workload.llm.to_record(), "prompt_tokens": 16, "gen_tokens": 200},
           "name": workload.name, "precision": workload.precision}
    domains = [("intel-rapl:0", "package-0", 12_000.0, 262_143_328_850, 0)]
    with FakeRapl(tmp_path, domains):
        monkeypatch.setattr(host_job, "_telemetry",
                            lambda job: HostTelemetry(root=tmp_path, interval_s=0.005))
        result = run_host_llm_job(job)
    decode_s, tokens = result["measured_s"], 3 * 200
    assert result["energy_missing_reason"] is None
    assert result["energy_mj_per_token"] == pytest.approx(12_000 * decode_s / tokens, rel=0.15)

    monkeypatch.setattr(host_job, "_telemetry",
                        lambda job: HostTelemetry(root=tmp_path / "nothing"))
    result = run_host_llm_job(job)
    assert result["energy_mj_per_token"] is None and "no" in result["energy_missing_reason"]


def test_a_gguf_file_that_is_not_one_fails_its_job_with_the_reason(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"TFL3" + bytes(200))
    out = tmp_path / "run"
    result = npubench("run", "--device", "sim:sm8650", "--workload", str(fake), "--backend",
                      "llama:cpu", "--no-power", "--out", str(out))
    assert result.returncode == 4, result.stdout + result.stderr
    (record,) = read_records(out)
    assert record["status"] == "failed"
    assert "is not a GGUF file" in record["error"]["message"]
