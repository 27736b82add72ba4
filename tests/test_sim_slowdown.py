"""The simulated phone's ground-truth slowdown knob (devices/sim/slowdown.py, issue 11 point 5):
``npubench sim --slowdown`` and ``sim:PROFILE?slowdown=...``. The emulated tools report the
times they measure x FACTOR for the matching workload and backend only; a bad knob is a clear
ConfigError; a run's records hold no trace of the knob."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest
from test_sim_tools import line, make_phone

from npubench.devices.sim.slowdown import (
    Slowdown,
    backend_of_benchmark_model,
    backend_of_llama,
    backend_of_ort,
    parse_knob,
)
from npubench.devices.sim.tools import tflite_flags
from npubench.devices.simulator import parse_sim_spec
from npubench.errors import ConfigError

# --- the knob's words --------------------------------------------------------------------------


@pytest.mark.parametrize("text, workload, backend, factor", [
    ("face_detection_short_range=1.05", "face_detection_short_range", None, 1.05),
    ("face:tflite:qnn-htp=2", "face", "tflite:qnn-htp", 2.0),
    ("*:npu=1.5", "*", "npu", 1.5),
    (" model:cpu = 0.5 ", "model", "cpu", 0.5),
])
def test_a_knob_reads_workload_backend_and_factor(text, workload, backend, factor):
    knob = parse_knob(text)
    assert (knob.workload, knob.backend, knob.factor) == (workload, backend, factor)


@pytest.mark.parametrize("text, says", [
    ("face", "no WORKLOAD=FACTOR"),
    ("face=", "not a positive number"),
    ("face=abc", "not a positive number"),
    ("face=0", "not a positive number"),
    ("face=-1.5", "not a positive number"),
    ("face=nan", "not a positive number"),
    ("face=inf", "not a positive number"),
    ("=1.5", "no WORKLOAD=FACTOR"),
    (":npu=1.5", "names no workload"),
    ("face:tpu=1.5", "unknown backend 'tpu'"),
])
def test_a_bad_knob_is_a_config_error_that_says_what_is_wrong(text, says):
    with pytest.raises(ConfigError) as caught:
        parse_knob(text)
    assert says in str(caught.value)
    assert "WORKLOAD[:BACKEND]=FACTOR" in caught.value.hint


def test_the_most_specific_knob_wins_and_others_do_not_match():
    slowdown = Slowdown(["*=1.1", "face=1.2", "face:npu=1.3", "face:tflite:qnn-htp=1.4",
                         "nabu:gpu=9"])
    assert slowdown.knob_for("face", "tflite:qnn-htp").factor == 1.4
    assert slowdown.knob_for("face", "ort:qnn-htp").factor == 1.3  # the npu class
    assert slowdown.knob_for("face", "tflite:xnnpack").factor == 1.2
    assert slowdown.knob_for("other", "tflite:gpu").factor == 1.1
    assert slowdown.knob_for("nabu", "llama:gpu").factor == 9
    assert Slowdown(["face=2"]).knob_for("nabu", "tflite:xnnpack") is None
    assert Slowdown(["face:gpu=2"]).knob_for("face", "tflite:xnnpack") is None
    assert Slowdown(["face=2"]).factor("/data/local/tmp/x/nabu.tflite", "tflite:cpu", "t") == 1.0


def test_the_backend_comes_from_the_tools_own_flags():
    def bm(*args):
        return backend_of_benchmark_model(tflite_flags.parse(list(args)))

    assert bm() == "tflite:xnnpack"
    assert bm("--use_xnnpack=true") == "tflite:xnnpack"
    assert bm("--use_xnnpack=false") == "tflite:cpu"
    assert bm("--use_gpu=true") == "tflite:gpu"
    assert bm("--use_nnapi=true", "--nnapi_accelerator_name=qti-dsp") == "tflite:nnapi"
    assert bm("--use_neuron=true") == "tflite:neuron"
    assert bm("--external_delegate_path=/data/local/tmp/qnn/libQnnTFLiteDelegate.so") \
        == "tflite:qnn-htp"
    assert [backend_of_ort(e) for e in ("cpu", "qnn", "nnapi", "xnnpack")] \
        == ["ort:cpu", "ort:qnn-htp", "ort:nnapi", "ort:xnnpack"]
    assert backend_of_llama([]) == "llama:cpu"
    assert backend_of_llama(["gpu"]) == "llama:gpu"
    assert backend_of_llama(["npu"]) == "llama:htp"


def test_sim_specs_carry_knobs_after_a_question_mark():
    assert parse_sim_spec("sm8650") == ("sm8650", [])
    assert parse_sim_spec("sm8650?slowdown=face=1.5,nabu:npu=2") \
        == ("sm8650", ["face=1.5", "nabu:npu=2"])
    with pytest.raises(ConfigError, match="unknown option"):
        parse_sim_spec("sm8650?speed=2")


def test_a_bad_knob_in_a_device_spec_fails_before_a_phone_starts():
    from npubench.devices.registry import resolve_device

    with pytest.raises(ConfigError, match="not a positive number"):
        resolve_device("sim:sm8650?slowdown=face=fast")


def test_npubench_sim_refuses_a_bad_knob_with_exit_1_and_no_traceback():
    done = subprocess.run([sys.executable, "-m", "npubench", "sim", "--slowdown", "face"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "slowdown knob 'face' has no WORKLOAD=FACTOR" in done.stderr
    assert "Traceback" not in done.stderr


# --- the emulated tools, on a userland ------------------------------------------------------------


@pytest.fixture(scope="module")
def phone():
    p = make_phone("sm8650", models=True)
    yield p
    p.close()


def benchmark_model_mean_ms(phone, model: str) -> float:
    from npubench.harness.parsers import parse

    out, err, code = phone.run(line("benchmark_model", f"--graph={model}", "--num_runs=30",
                                    "--min_secs=0", "--warmup_runs=2", "--warmup_min_secs=0"),
                               timeout_s=120)
    assert code == 0, err.decode()
    return parse("benchmark_model", out.decode())["latency_ms"]["mean"]


def ort_mean_ms(phone, model: str) -> float:
    from npubench.harness.parsers import parse

    out, err, code = phone.run(line("onnxruntime_perf_test", "-m", "times", "-r", "20", "-I",
                                    "-e", "cpu", "-s", model), timeout_s=120)
    assert code == 0, (out + err).decode()
    parsed = parse("onnxruntime_perf_test", out.decode())
    return parsed["latency_ms"]["mean"]


def interleaved_ratio(phone, measure, model: str, knobs: list[str], pairs: int = 5) -> float:
    """Median over ``pairs`` of (with knobs / without), measured alternately so that the host's
    drift falls on both."""
    ratios = []
    for _ in range(pairs):
        phone.slowdown = Slowdown([])
        base = measure(phone, model)
        phone.slowdown = Slowdown(knobs)
        ratios.append(measure(phone, model) / base)
    phone.slowdown = Slowdown([])
    return statistics.median(ratios)


def test_benchmark_model_reports_the_slowed_workload_x_factor(phone, capfd):
    ratio = interleaved_ratio(phone, benchmark_model_mean_ms, "face.tflite", ["face=1.5"])
    assert ratio > 1.25, ratio
    err = capfd.readouterr().err
    assert "npubench-sim: slowdown face=1.5 applied: benchmark_model measures face on " \
           "tflite:xnnpack x1.5" in err


def test_a_knob_for_another_workload_or_backend_changes_nothing(phone, capfd):
    phone.slowdown = Slowdown(["nabu=3", "face:gpu=3", "face:tflite:cpu=3"])
    try:
        capfd.readouterr()
        benchmark_model_mean_ms(phone, "face.tflite")
        out, err, _ = phone.run(line("benchmark_model", "--graph=face.tflite", "--num_runs=2",
                                     "--min_secs=0", "--warmup_runs=0"), timeout_s=120)
        assert b"slowdown" not in out + err  # the phone's output never names the knob
        assert "slowdown" not in capfd.readouterr().err  # nothing applied, nothing logged
        benchmark_model_mean_ms(phone, "nabu.tflite")
        assert "slowdown nabu=3 applied" in capfd.readouterr().err
    finally:
        phone.slowdown = Slowdown([])


def test_onnxruntime_perf_test_reports_the_slowed_workload_x_factor(phone, capfd):
    ratio = interleaved_ratio(phone, ort_mean_ms, "mnv2.onnx", ["mnv2:ort:cpu=1.5"])
    assert ratio > 1.25, ratio
    assert "onnxruntime_perf_test measures mnv2 on ort:cpu x1.5" in capfd.readouterr().err


# --- a run on a simulated phone ------------------------------------------------------------------


def test_a_run_on_a_slowed_sim_shows_the_median_scaled_and_no_trace_of_the_knob(tmp_path,
                                                                              capfd):
    """Two copies of one model (~1 ms) in one run, one slowed x2: the other is the control,
    measured in the same seconds (host noise, which on this shared 2-core machine moves a
    median by tens of percent between runs, falls on both)."""
    import npubench
    from npubench.workloads.registry import resolve

    model = resolve("face_detection_short_range").path().read_bytes()
    (tmp_path / "slowed.tflite").write_bytes(model)
    (tmp_path / "control.tflite").write_bytes(model)
    result = npubench.run_suite(
        None, device="sim:sm8650?slowdown=slowed=2", threads=1,
        workloads=[str(tmp_path / "slowed.tflite"), str(tmp_path / "control.tflite")],
        backends=["tflite:xnnpack"], out=tmp_path / "run", report=False, cooldown_c=95.0,
        measure_power=False,
        settings={"max_seconds": 1, "min_seconds": 0.2, "device_rounds_min": 5,
                  "device_rounds_max": 5})
    by_name = {r["workload"]["name"]: r for r in result.records}
    assert {r["status"] for r in result.records} == {"ok"}, [r["error"] for r in result.records]
    ratio = by_name["slowed"]["latency_ms"]["median"] / by_name["control"]["latency_ms"]["median"]
    assert ratio > 1.3, ratio
    for record in result.records:
        assert record["device"]["id"] == "sim:sm8650" and record["device"]["simulated"] is True
        text = json.dumps(record)
        assert "slowdown" not in text and "slowed=2" not in text
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file() and path.name != "run.json":  # run.json keeps the command typed
            assert b"slowdown" not in path.read_bytes(), path
    err = capfd.readouterr().err
    assert err.count("slowdown slowed=2 applied") == 1  # once, though a tool runs per round
    assert "measures control" not in err


def test_llama_bench_reports_times_x_factor_and_rates_divided(tmp_path, monkeypatch, capfd):
    from test_sim_llama_bench import CONFIG
    from test_sim_llama_bench import make_phone as llama_phone

    from npubench.harness.parsers.llama_bench import parse_llama_bench
    from npubench.workloads.gguf_files import write_gguf

    monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NPUBENCH_MEMORY_AVAILABLE_MB", raising=False)
    models = {p: tmp_path / f"tiny-{p}.gguf" for p in ("int4", "int8")}
    for precision, path in models.items():
        write_gguf(path, CONFIG, precision, seed=0)
    phone = llama_phone("sm8650", models)
    try:
        def tg_ns(knobs: list[str]) -> tuple[float, float]:
            phone.slowdown = Slowdown(knobs)
            out, err, code = phone.run(line_llama("-m", "tiny.gguf", "-p", "0", "-n", "16",
                                                  "-r", "5", "-ngl", "0", "-o", "json"),
                                       timeout_s=120)
            assert code == 0, err
            (test,) = parse_llama_bench(out.decode())["tests"]
            return statistics.median(test["samples_ns"]), test["tokens_per_s"]

        ratios, rates = [], []
        for _ in range(3):
            base_ns, base_rate = tg_ns([])
            slow_ns, slow_rate = tg_ns(["tiny:llama:cpu=3"])
            ratios.append(slow_ns / base_ns)
            rates.append(base_rate / slow_rate)
        assert statistics.median(ratios) > 2.0 and statistics.median(rates) > 2.0, \
            (ratios, rates)
        assert "llama-bench measures tiny on llama:cpu x3" in capfd.readouterr().err
        tg_ns(["tiny:npu=3"])  # the CPU run is not the NPU's
        assert "slowdown" not in capfd.readouterr().err
    finally:
        phone.close()


def line_llama(*args: str) -> str:
    from test_sim_llama_bench import line as llama_line

    return llama_line(*args)


def test_the_harness_pushes_a_model_under_its_workloads_name():
    """So that WORKLOAD in a knob is the name a run shows, also for a built-in model whose
    file is just model.onnx (harness.device_job.remote_model_name)."""
    from pathlib import Path

    from npubench.harness.device_job import remote_model_name

    assert remote_model_name("mobilenet_v2_synth", Path("/c/m/model.onnx")) \
        == "mobilenet_v2_synth.onnx"
    assert remote_model_name("llama_15m_int4", Path("/c/l/model.gguf")) == "llama_15m_int4.gguf"
    assert remote_model_name("face", Path("/u/face.tflite")) is None  # its own name already
    for odd in ("decoder:preset=llama_125m,layers=4", "<img src=x onerror=alert(1)>",
                "a b;rm -rf x'", "../up", ".hidden"):
        assert remote_model_name(odd, Path("/c/model.gguf")) is None
