"""The simulated phone's modeled timing (devices/sim/timing.py, issue 12 point 7):
``npubench sim --timing modeled`` and ``sim:PROFILE?timing=modeled``. The emulated tools wait
the time the profile models instead of computing, so that many phones share few cores; the
phone says so (``ro.npubench.timing``), records keep it (``device.simulated_timing``) and the
report names it."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import threading
import time

import pytest
from test_sim_tools import line, make_phone

from npubench.devices.sim import timing
from npubench.devices.sim.timing import (
    CALIBRATION_RUNS,
    Calibration,
    TimingSpec,
    llm_test_s,
    modeled_sequence,
)
from npubench.devices.simulator import parse_sim_options, parse_sim_spec
from npubench.errors import ConfigError


@pytest.fixture(autouse=True)
def private_calibration(tmp_path, monkeypatch):
    """Each test calibrates into its own file, never the user's cache."""
    monkeypatch.setattr(timing, "_CALIBRATION", Calibration(tmp_path / "sim-timing.json"))


# --- the model, pure ----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_modeled_sequence_and_another_seed_another():
    a = modeled_sequence(0.004, speed=2.0, sigma=0.02, seed=7, n=50)
    assert a == modeled_sequence(0.004, speed=2.0, sigma=0.02, seed=7, n=50)
    assert a != modeled_sequence(0.004, speed=2.0, sigma=0.02, seed=8, n=50)
    assert all(0.0015 < x < 0.0025 for x in a)  # 4 ms on the host / speed 2, a 2% spread
    assert len(set(a)) == 50  # noise: no two iterations alike


def test_throttling_and_speed_scale_the_modeled_time():
    full = modeled_sequence(0.01, speed=5.0, sigma=0.0, seed=1, n=1)[0]
    assert full == pytest.approx(0.002)
    assert modeled_sequence(0.01, speed=5.0, sigma=0.0, seed=1, n=1, clock_ratio=0.5)[0] \
        == pytest.approx(0.004)


def test_an_llm_decode_is_bound_by_memory_bandwidth():
    # 1e9 weight bytes at 50 GB/s: 20 ms a token; a prompt of 100 tokens of a 1e9-parameter
    # model at 2 TOPS: 2e11 operations / 2e12 = 100 ms
    assert llm_test_s(int(1e9), int(1e9), 0, 0, 10, 0, 2.0, 50.0) == pytest.approx(0.2)
    assert llm_test_s(int(1e9), int(1e9), 0, 100, 0, 0, 2.0, 50.0) == pytest.approx(0.1)
    deeper = llm_test_s(int(1e9), int(1e9), 1e5, 0, 10, 512, 2.0, 50.0)
    assert deeper > llm_test_s(int(1e9), int(1e9), 1e5, 0, 10, 0, 2.0, 50.0)


def test_calibration_measures_once_then_the_cache_file_serves_other_processes(tmp_path):
    calls = []

    def measure() -> float:
        calls.append(1)
        return 0.003

    first = Calibration(tmp_path / "c.json")
    assert first.host_s("abc|tflite:xnnpack", measure) == 0.003
    assert len(calls) >= CALIBRATION_RUNS + 3  # a warm-up, then the timed runs
    count = len(calls)
    assert first.host_s("abc|tflite:xnnpack", measure) == 0.003
    assert len(calls) == count  # in memory: not again
    other = Calibration(tmp_path / "c.json")  # as another process would see it
    assert other.host_s("abc|tflite:xnnpack", lambda: pytest.fail("calibrated again")) == 0.003


def test_a_profile_timing_block_is_checked():
    with pytest.raises(ValueError, match="unknown keys"):
        TimingSpec.from_dict({"speeed": {"npu": 2}})
    with pytest.raises(ValueError, match="positive"):
        TimingSpec.from_dict({"speed": {"npu": 0}})


# --- the words: sim: options and --timing ------------------------------------------------------


@pytest.mark.parametrize("text, knobs, mode", [
    ("sm8650", [], "measured"),
    ("sm8650?timing=modeled", [], "modeled"),
    ("sm8650?timing=modeled&slowdown=face=1.5,nabu:npu=2", ["face=1.5", "nabu:npu=2"], "modeled"),
    ("sm8650?slowdown=face=1.5,timing=modeled", ["face=1.5"], "modeled"),
    ("sm8650?timing=modeled,slowdown=face=1.5", ["face=1.5"], "modeled"),
    ("sm8650?slowdown=face=1.5&timing=measured", ["face=1.5"], "measured"),
])
def test_timing_and_slowdown_are_read_together(text, knobs, mode):
    options = parse_sim_options(text)
    assert (options.profile, options.knobs, options.timing) == ("sm8650", knobs, mode)
    assert parse_sim_spec(text) == ("sm8650", knobs)


@pytest.mark.parametrize("text", ["sm8650?timing=fast", "sm8650?timing=",
                                  "sm8650?timing=modeled,face=2"])
def test_a_bad_timing_is_a_config_error(text):
    with pytest.raises(ConfigError) as caught:
        parse_sim_options(text)
    assert "timing" in str(caught.value) + caught.value.hint


def test_npubench_sim_with_a_bad_timing_says_what_to_write():
    done = subprocess.run([sys.executable, "-m", "npubench", "sim", "--timing", "fast"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "unknown simulated timing 'fast': it is measured or modeled" in done.stderr
    assert "Traceback" not in done.stderr


# --- the emulated tools wait -------------------------------------------------------------------


@pytest.fixture(scope="module")
def modeled_phone():
    phone = make_phone("sm8650", models=True)
    phone.set_timing("modeled")
    yield phone
    phone.close()


def bm_line(model: str, runs: int) -> str:
    return line("benchmark_model", f"--graph={model}", f"--num_runs={runs}", "--min_secs=0",
                "--warmup_runs=1", "--warmup_min_secs=0")


def test_the_phone_says_its_timing(modeled_phone):
    out, _, code = modeled_phone.run("getprop ro.npubench.timing")
    assert (code, out.strip()) == (0, b"modeled")
    measured = make_phone("sm8650", models=False)
    try:
        assert measured.run("getprop ro.npubench.timing")[0].strip() == b"measured"
    finally:
        measured.close()


def test_a_modeled_benchmark_model_waits_and_leaves_the_cpu_free(modeled_phone, capfd):
    from npubench.harness.parsers import parse

    modeled_phone.run(bm_line("face.tflite", 3), timeout_s=120)  # calibrates, once
    assert "timing modeled: benchmark_model on tflite:xnnpack waits host" in capfd.readouterr().err
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    out, err, code = modeled_phone.run(bm_line("face.tflite", 300), timeout_s=120)
    wall = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    assert code == 0, err.decode()
    parsed = parse("benchmark_model", out.decode())
    modeled_ms = parsed["latency_ms"]["mean"]
    assert wall > 300 * modeled_ms / 1e3 * 0.9  # it did wait the modeled times
    assert cpu < 0.5 * wall, (cpu, wall)


def test_the_slowdown_knob_scales_modeled_times(modeled_phone):
    from npubench.devices.sim.slowdown import Slowdown
    from npubench.harness.parsers import parse

    def mean_ms() -> float:
        out, err, code = modeled_phone.run(bm_line("face.tflite", 40), timeout_s=120)
        assert code == 0, err.decode()
        return parse("benchmark_model", out.decode())["latency_ms"]["mean"]

    base = mean_ms()
    modeled_phone.slowdown = Slowdown(["face=3"])  # ~1 ms: whole microseconds are exact enough
    try:
        slowed = mean_ms()
    finally:
        modeled_phone.slowdown = Slowdown([])
    assert slowed / base == pytest.approx(3.0, rel=0.1)  # modeled: 2% noise, no host drift


def test_a_modeled_onnxruntime_perf_test_reports_modeled_times(modeled_phone):
    from npubench.harness.parsers import parse

    out, err, code = modeled_phone.run(line("onnxruntime_perf_test", "-m", "times", "-r", "30",
                                            "-I", "-e", "qnn", "-s", "mnv2.onnx"),
                                       timeout_s=120)
    assert code == 0, (out + err).decode()
    assert parse("onnxruntime_perf_test", out.decode())["latency_ms"]["mean"] > 0


def test_four_modeled_phones_at_once_take_about_the_wall_time_of_one(modeled_phone):
    phones = [modeled_phone] + [make_phone("sm8650", models=True) for _ in range(3)]
    for p in phones[1:]:
        p.set_timing("modeled")
    try:
        modeled_phone.run(bm_line("face.tflite", 3), timeout_s=120)  # calibrate first

        def one(p):
            out, err, code = p.run(bm_line("face.tflite", 400), timeout_s=300)
            assert code == 0, err.decode()

        t0 = time.perf_counter()
        one(modeled_phone)
        single = time.perf_counter() - t0
        threads = [threading.Thread(target=one, args=(p,)) for p in phones]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        four = time.perf_counter() - t0
    finally:
        for p in phones[1:]:
            p.close()
    print(f"modeled benchmark_model, 400 runs: one phone {single:.2f} s, four at once "
          f"{four:.2f} s ({four / single:.2f}x)")
    assert four < 2.5 * single, (single, four)


# --- a run, its records and its report ----------------------------------------------------------


def test_a_run_on_a_modeled_sim_records_and_reports_the_modeled_timing(tmp_path, capfd):
    import npubench

    result = npubench.run_suite(
        None, device="sim:sm8650?timing=modeled", threads=1,
        workloads=["face_detection_short_range"], backends=["tflite:xnnpack", "tflite:qnn-htp"],
        out=tmp_path / "run", report=True, cooldown_c=95.0, measure_power=False,
        settings={"max_seconds": 1, "min_seconds": 0.2, "device_rounds_min": 2,
                  "device_rounds_max": 2})
    assert result.records and {r["status"] for r in result.records} == {"ok"}, \
        [r.get("error") for r in result.records]
    for record in result.records:
        assert record["device"]["simulated"] is True
        assert record["device"]["simulated_timing"] == "modeled"
        assert record["device"]["id"] == "sim:sm8650"  # the options stay in the simulator
    by_backend = {r["backend"]["spec"].partition("?")[0]: r["latency_ms"]["median"]
                  for r in result.records}
    assert by_backend["tflite:qnn-htp"] < by_backend["tflite:xnnpack"]  # npu speed 5, cpu 1
    html = "".join(p.read_text() for p in (tmp_path / "run").rglob("*.html"))
    assert "simulated phone, modeled timing" in html
    assert "timing modeled" in capfd.readouterr().err  # the simulator logs its mode
    from npubench.reports.cell_key import environment

    assert environment(result.records[0])["simulated_timing"] == "modeled"
    assert json.dumps(result.records[0]).count("modeled") >= 1


# --- llama-bench ---------------------------------------------------------------------------------


def test_a_modeled_llama_bench_waits_prompt_and_decode_times_from_the_profile(tmp_path, capfd):
    from test_sim_llama_bench import CONFIG
    from test_sim_llama_bench import line as llama_line
    from test_sim_llama_bench import make_phone as llama_phone

    from npubench.harness.parsers.llama_bench import parse_llama_bench
    from npubench.workloads.gguf_files import write_gguf

    files = {p: tmp_path / f"tiny-{p}.gguf" for p in ("int4", "int8")}
    for precision, path in files.items():
        write_gguf(path, CONFIG, precision, seed=0)
    phone = llama_phone("sm8650", files)
    try:
        phone.set_timing("modeled")
        capfd.readouterr()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        results = {}
        for dev in ("none", "HTP0"):
            out, err, code = phone.run(llama_line("-m", "tiny.gguf", "-p", "64", "-n", "16",
                                                  "-r", "3", "-ngl", "99", "-dev", dev,
                                                  "-o", "json"), timeout_s=60)
            assert code == 0, err.decode()
            results[dev] = json.loads(out)
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        phone.close()
    by = {dev: {(t["n_prompt"], t["n_gen"]): t for t in r} for dev, r in results.items()}
    # the prompt runs at llm_tops (cpu 0.3, npu 4 on sm8650): the NPU's prompt is faster
    assert by["HTP0"][(64, 0)]["avg_ts"] > 5 * by["none"][(64, 0)]["avg_ts"]
    # decoding is bound by memory bandwidth, the same for every unit
    assert by["HTP0"][(0, 16)]["avg_ts"] == pytest.approx(by["none"][(0, 16)]["avg_ts"],
                                                          rel=0.1)
    assert "npubench-sim: timing modeled: llama-bench on llama:htp waits" in capfd.readouterr().err
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    assert cpu < 0.5 * wall or wall < 1.0, (cpu, wall)  # no decoder is built nor run
    assert parse_llama_bench(json.dumps(results["HTP0"]))  # the harness reads it
