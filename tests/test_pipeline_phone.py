"""A pipeline job on the simulated phone over ADB (the same path as a real phone's): each stage
through its on-device tool, isolated and back to back in one shell call (``harness/
device_pipeline.py``), and the marked output of that call split per stage."""

from __future__ import annotations

import json

import pytest

from npubench.harness.device_pipeline import MARK, split_stages
from tests.test_pipeline import FAST, pipeline_yaml, small_asr


def test_the_pipeline_shell_output_splits_per_stage():
    text = (f"{MARK} start vad 100.5\nsession creation time cost: 0.01 s\n"
            f"{MARK} end vad 0 100.75\n{MARK} start llm 100.8\n[{{}}]\n{MARK} end llm 139 101.0\n")
    assert split_stages(text) == {
        "vad": (100.5, 100.75, 0, "session creation time cost: 0.01 s\n"),
        "llm": (100.8, 101.0, 139, "[{}]\n")}


@pytest.mark.network
def test_a_pipeline_on_a_simulated_phone_runs_each_stage_through_its_tool(android, tmp_path,
                                                                        monkeypatch):
    from npubench.harness.device_job import DeviceJobOptions, phone_backends
    from npubench.harness.plan import make_plan
    from npubench.harness.run import PhoneContext, execute, new_run_id, start_run
    from npubench.harness.settings import MeasureSettings
    from npubench.harness.suites import parse_suite
    from npubench.harness.tools import ToolConfig
    from npubench.results import read_records
    from npubench.workloads.pipelines import pipeline_workload

    monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / "cache"))
    enc, dec = small_asr(tmp_path)
    spec = pipeline_yaml("assistant_phone", enc, dec)
    spec["stages"]["llm"]["backend"] = "llama:cpu"
    spec["repetitions"] = 2
    suite = parse_suite(json.dumps({"pipelines": [spec]}))
    phone = android("sm8650")
    tools = ToolConfig()
    jobs = make_plan([phone], [pipeline_workload(suite.pipelines[0])], ["ort:cpu"],
                     known_backends=lambda d: phone_backends(d, tools))
    assert [j.skip_reason for j in jobs] == [None]
    run_id = new_run_id()
    store = start_run(tmp_path / "run", run_id, {}, None)
    execute(jobs, store, run_id, MeasureSettings(**{**FAST, "job_timeout_s": 120}),
            phone=PhoneContext(tools, DeviceJobOptions(cooldown_timeout_s=30)))
    (record,) = read_records(store.run_dir)
    assert record["status"] == "ok", record["error"]
    assert record["device"]["simulated"] is True
    block = record["pipeline"]
    assert "one shell call" in block["realisation"]
    rows = {s["stage"]: s for s in block["stages"]}
    assert rows["log_mel"]["isolated_ms"] is None and "no on-device tool" in \
        rows["log_mel"]["missing_reason"]
    for role in ("vad", "asr_encoder", "asr_decoder", "llm"):
        assert rows[role]["on_e2e_path"] and rows[role]["isolated_ms"] > 0
        assert rows[role]["in_pipeline_ms"] > 0
    assert rows["wake_word"]["isolated_ms"] > 0 and rows["wake_word"]["in_pipeline_ms"] is None
    assert rows["asr_decoder"]["isolated"]["steps"] == 5  # the start pass + 4 tokens
    for rep in block["repetitions"]:
        assert set(rep["stages"]) == {"vad", "asr_encoder", "asr_decoder", "llm"}
        total = sum(rep["stages"].values()) + sum(rep["gaps"].values())
        assert total == pytest.approx(rep["e2e"], abs=1e-6)
        assert rep["gaps"]["before_asr_encoder"] > 0  # a fresh process loads the model
    assert block["explained"]["contention_ms"] is None
    assert record["thermal"] is not None  # the utterances ran under the phone's telemetry
    assert record["power"] is not None or record["power_missing_reason"]
    assert "llama-bench" in record["tool"]["name"] and "benchmark_model" in record["tool"]["name"]


def test_on_a_phone_a_pipeline_whose_llm_is_not_on_llama_bench_is_skipped_with_the_reason():
    from types import SimpleNamespace

    from npubench.harness.plan import make_plan
    from npubench.harness.suites import load_suite
    from npubench.workloads.pipelines import pipeline_workload

    phone = SimpleNamespace(spec="sim:sm8650", kind="android",
                            backends=lambda: dict.fromkeys(["ort:cpu", "tflite:cpu"]))
    spec = load_suite("assistant").pipelines[0]
    (job,) = make_plan([phone], [pipeline_workload(spec)], ["ort:cpu"])
    assert job.job_id == "assistant_whisper_tiny@ort:cpu@sim:sm8650"
    assert job.skip_reason.startswith("stage llm (llama_125m_int4): on a phone")
    (job,) = make_plan([SimpleNamespace(spec="host", backends=lambda: {"ort:cpu": None})],
                       [pipeline_workload(spec)], ["ort:cpu"])
    assert job.skip_reason.startswith("stage wake_word (okay_nabu): tflite:cpu does not run")
