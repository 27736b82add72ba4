"""Frame-rate (sustained) mode: the pure analysis on known series, the paced loop on the host with
a fast model and one slow on purpose, the phone path against the simulated phone over ADB, and
the report's time-axis figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from npubench.errors import ConfigError
from npubench.harness import framerate as fr
from npubench.harness.suite_run import RunRequest, make_settings, parse_duration_s, run
from npubench.results import read_records, read_samples

# --- the pure analysis -------------------------------------------------------------------------


def simulate(fps: float, duration_s: float, latency_at) -> list[tuple[int, float, float]]:
    """The pacing of ``framerate.next_frame`` on an exact clock: (index, start_s, latency_ms)
    of each processed frame, ``latency_at(start_s)`` giving the latency."""
    frames, last, now = [], -1, 0.0
    total = fr.frame_count(fps, duration_s)
    while True:
        index, arrival = fr.next_frame(now, fps, last)
        if index >= total:
            return frames
        start = max(now, arrival)
        latency = latency_at(start)
        frames.append((index, start, latency))
        last, now = index, start + latency / 1e3


def analysed(fps, duration_s, frames):
    windows = fr.frame_windows(*zip(*frames, strict=True), fps, duration_s)
    return fr.analyse(windows, fps, duration_s)


def test_next_frame_takes_the_newest_arrived_frame_or_waits_for_the_next():
    assert fr.next_frame(0.0, 30, -1) == (0, 0.0)
    assert fr.next_frame(0.010, 30, 0) == (1, pytest.approx(1 / 30))  # wait for frame 1
    assert fr.next_frame(0.105, 30, 0)[0] == 3  # frames 1 and 2 are dropped
    assert fr.frame_count(30, 300) == 9000


def test_a_fast_steady_series_has_no_miss_and_a_ratio_of_one():
    out = analysed(30, 20, simulate(30, 20, lambda t: 10.0))
    assert (out["frames"], out["processed"], out["dropped"], out["missed"]) == (600, 600, 0, 0)
    assert out["miss_ratio"] == 0 and out["misses_exact"]
    assert out["first_sustained_slowdown_s"] is None and out["first_steady_miss_s"] is None
    assert out["steady_state_ratio"] == 1.0


def test_a_slowdown_is_found_where_it_starts_with_exact_misses_and_drops():
    # 10 ms until t = 10 s, then 40 ms (over the 33.3 ms budget): each frame then takes the
    # newest arrived one, so 5 of every 6 frames run (late) and 1 of 6 is dropped
    out = analysed(30, 20, simulate(30, 20, lambda t: 10.0 if t < 10 else 40.0))
    assert out["first_sustained_slowdown_s"] == 10.0
    assert out["first_sustained_slowdown_frame"] == 300
    assert (out["slowdown_before_ms"], out["slowdown_after_ms"]) == (10.0, 40.0)
    assert out["first_steady_miss_s"] == 10.0 and out["first_steady_miss_frame"] == 300
    assert (out["processed"], out["dropped"], out["missed"]) == (550, 50, 250)
    assert out["miss_ratio"] == pytest.approx(300 / 600)
    assert out["steady_throughput_fps"] == 25.0
    assert out["steady_state_ratio"] == pytest.approx(25 / 30)
    assert out["steady_latency_ratio"] == pytest.approx(0.25)


def test_one_outlier_is_no_sustained_slowdown():
    rng = np.random.default_rng(1)
    noise = {}

    def latency(t):  # 8-12 ms, one 300 ms frame at 5 s and one slow second (12-13 s)
        key = round(t, 6)
        noise.setdefault(key, 8 + 4 * rng.random())
        if abs(t - 5.0) < 1e-9:
            return 300.0
        return 45.0 if 12 <= t < 13 else noise[key]

    frames = simulate(30, 30, latency)
    out = analysed(30, 30, frames)
    assert out["first_sustained_slowdown_s"] is None
    assert out["first_steady_miss_s"] is None
    assert out["missed"] > 0 and out["dropped"] > 0  # the outliers still count as misses
    late = [f for f in frames if f[1] + f[2] / 1e3 > f[0] / 30 + 1 / 30]
    assert out["missed"] == len(late)


def test_a_gradual_climb_is_a_slowdown_where_it_passes_ten_percent():
    # a throttling phone: 10 ms rising steadily to 20 ms over 60 s (+10% at 6 s)
    out = analysed(30, 60, simulate(30, 60, lambda t: 10.0 + t / 6))
    assert out["first_sustained_slowdown_s"] is not None
    assert 4 <= out["first_sustained_slowdown_s"] <= 12
    assert out["slowdown_after_ms"] >= 1.1 * out["slowdown_before_ms"]
    assert out["first_steady_miss_s"] is None  # 20 ms stays within the 33 ms budget


@pytest.mark.parametrize("stat, deadline, expected", [
    ({"n": 30, "mean": 10.0, "min": 8.0, "max": 20.0}, 33.3, (0, 0)),  # max within: none
    ({"n": 30, "mean": 50.0, "min": 40.0, "max": 60.0}, 33.3, (30, 30)),  # min beyond: all
    ({"n": 10, "mean": 30.0, "min": 10.0, "max": 50.0}, 33.3, (1, 8)),  # straddles: bounds
    ({"n": 10, "mean": 46.0, "min": 10.0, "max": 50.0}, 33.3, (8, 9)),
])
def test_phone_window_misses_are_exact_or_bounds(stat, deadline, expected):
    low, high = fr.miss_bounds(stat["n"], stat["mean"], stat["min"], stat["max"], deadline)
    assert (low, high) == expected
    # the bounds hold for a real sample with these aggregates
    if stat["n"] == 10 and stat["mean"] == 46.0:
        sample = [10.0] + [50.0] * 9  # mean 46, 9 above the deadline
        assert low <= sum(x > deadline for x in sample) <= high
    window = fr.window_from_round(0.0, 1000 / deadline, {**stat, "std": 1.0})
    assert window["misses_exact"] == (low == high)
    assert window["missed"] == (low if low == high else None)


def test_settings_and_durations():
    assert [parse_duration_s(v) for v in ("300s", "5m", "300", 2.5)] == [300, 300, 300, 2.5]
    with pytest.raises(ConfigError):
        parse_duration_s("5 parsecs")
    from npubench.harness.suites import load_suite

    suite = load_suite("quick")
    s = make_settings(suite, RunRequest(fps=30, duration="5m"))
    assert (s.fps, s.duration_s, s.timeout_s) == (30.0, 300.0, s.job_timeout_s + 300)
    with pytest.raises(ConfigError, match="frame-rate"):
        make_settings(suite, RunRequest(duration="5m"))


def test_a_suite_file_sets_the_frame_rate(tmp_path):
    from npubench.harness.suites import load_suite

    path = tmp_path / "camera.yaml"
    path.write_text("name: camera\nworkloads: [mobilenet_v2_synth]\nbackends: [ort:cpu]\n"
                    "settings: {fps: 30, duration_s: 300}\n")
    settings = load_suite(str(path)).settings
    assert (settings.fps, settings.duration_s) == (30.0, 300.0)


# --- the host ----------------------------------------------------------------------------------


def onnx_model(path: Path, matmuls: int = 0, n: int = 1024) -> Path:
    """``y = x + 1`` (fast), or a chain of ``matmuls`` n x n MatMuls (slow on purpose)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits, nodes, prev = [], [], "x"
    shape = [n, n] if matmuls else [1, 16]
    if matmuls:
        for i in range(matmuls):
            w = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
            inits.append(numpy_helper.from_array(w, f"w{i}"))
            nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]))
            prev = f"h{i}"
    else:
        inits.append(numpy_helper.from_array(np.ones(shape, np.float32), "one"))
        nodes.append(helper.make_node("Add", ["x", "one"], ["h"]))
        prev = "h"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, shape)], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, shape)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def host_run(tmp_path: Path, model: Path, fps: float, seconds: float) -> tuple[dict, dict]:
    result = run(RunRequest(device="host", workloads=[str(model)], backends=["ort:cpu"],
                            threads=1, fps=fps, duration=seconds, out=tmp_path / "run",
                            settings={"warmup_iterations": 2, "idle_baseline_s": 0},
                            store=False, report=True))
    (record,) = read_records(result.run_dir)
    assert record["status"] == "ok", record["error"]
    return record, read_samples(result.run_dir, record)


def test_host_fast_model_keeps_the_frame_rate(tmp_path):
    record, samples = host_run(tmp_path, onnx_model(tmp_path / "fast.onnx"), 20, 3)
    block = record["framerate"]
    assert block["frames"] == 60 and block["fps"] == 20 and block["deadline_ms"] == 50
    assert block["processed"] + block["dropped"] == 60
    assert block["processed"] >= 54 and block["miss_ratio"] <= 0.1  # a loaded machine
    assert block["mechanism"].startswith("host") and "dropped" in block["pacing"]
    assert record["latency_ms"]["n"] == block["processed"]
    series = samples["framerate"]
    assert len(series["frame_index"]) == len(series["start_s"]) == block["processed"]
    # frames start at their arrival, not back to back
    starts = np.asarray(series["start_s"])
    arrivals = np.asarray(series["frame_index"]) / 20
    assert np.median(starts - arrivals) < 0.01
    assert series["freq"]["t_s"] and series["freq"]["mhz"]  # clocks sampled alongside
    assert all("freq_mhz" in w and "temp_c" in w for w in block["windows"])


def test_host_slow_model_misses_every_frame(tmp_path):
    record, samples = host_run(tmp_path, onnx_model(tmp_path / "slow.onnx", matmuls=16),
                               20, 3)
    block = record["framerate"]
    lat = samples["latency_ms"]
    assert min(lat) > 2 * 50, "the slow model must take well over 1/fps (~250 ms here)"
    assert block["missed"] == block["processed"] == len(lat)  # every frame that ran missed
    assert block["processed"] + block["dropped"] == block["frames"] == 60
    assert block["miss_ratio"] == 1.0
    # what the schedule allowed: each frame starts when the last ended, with the newest
    # frame that had arrived by then; the last one started before the schedule ended
    index, start = samples["framerate"]["frame_index"], samples["framerate"]["start_s"]
    for i in range(1, len(index)):
        ended = start[i - 1] + lat[i - 1] / 1e3
        assert index[i] == int(np.floor(ended * 20 + 1e-9)) or start[i] - ended < 0.005
        assert start[i] >= ended - 1e-6
    assert start[-1] < 3.0 and start[-1] + lat[-1] / 1e3 >= 3.0 - 3 * 0.05 - 1e-6
    assert block["first_steady_miss_s"] == 0.0


def test_a_language_model_job_is_skipped_in_frame_rate_mode_at_plan_time():
    """Skipped in the plan (a skipped job never asks for its model file, so the decoder is not
    built); an image model is planned."""
    from npubench.devices.host import HostDevice
    from npubench.harness.plan import make_plan
    from npubench.workloads.registry import resolve

    llm = resolve("decoder:preset=llama_15m,layers=1,precision=int4")
    image = resolve("mobilenet_v2_synth")
    jobs = make_plan([HostDevice()], [llm, image], ["ort:cpu"], frame_rate=True)
    assert "language model" in jobs[0].skip_reason and jobs[1].skip_reason is None
    assert make_plan([HostDevice()], [llm], ["ort:cpu"])[0].skip_reason is None


def test_report_draws_the_time_axis_and_escapes_a_hostile_name(tmp_path):
    hostile = tmp_path / "x<b>'\"&y.onnx"
    record, _ = host_run(tmp_path, onnx_model(hostile), 20, 2)
    html = (tmp_path / "run" / "report.html").read_text()
    section = html[html.index('<section id="framerate">'):]
    section = section[:section.index("</section>")]
    assert "x&lt;b&gt;" in section and "x<b>" not in html
    svg = section[section.index("<svg"):]
    for label in ("latency (ms)", "hottest zone (°C)", "CPU clock (MHz)", "time since the first"):
        assert label in svg
    assert svg.count("<svg") == 1  # one figure, one shared time axis for the three panels


# --- the simulated phone over ADB ---------------------------------------------------------------


def test_phone_run_records_rounds_the_mechanism_and_telemetry(tmp_path, adb_home):
    from tflite_models import add_model

    model = tmp_path / "add.tflite"
    model.write_bytes(add_model(dynamic=False))
    onnx_file = onnx_model(tmp_path / "fast.onnx")
    result = run(RunRequest(device="sim:sm8650", workloads=[str(model), str(onnx_file)],
                            backends=["tflite:xnnpack", "ort:cpu"], fps=20, duration=3,
                            out=tmp_path / "run", measure_power=False,
                            settings={"idle_baseline_s": 0}, store=False, report=False))
    records = {(r["workload"]["format"], r["backend"]["runtime"]): r
               for r in read_records(result.run_dir)}
    record = records[("tflite", "tflite")]
    assert record["status"] == "ok", record["error"]
    block = record["framerate"]
    assert block["mechanism"].startswith("run_frequency rounds of 20 frames")
    assert block["rounds"] >= 2 and len(block["windows"]) == block["rounds"]
    # the tool paced its runs (--run_frequency): 20 runs of a microsecond model take ~1 s
    assert block["rounds"] <= 3 and record["tool"]["wall_s"] >= 0.9 * block["rounds"]
    assert block["frames"] == 20 * block["rounds"] and block["dropped"] == 0
    assert block["misses_exact"] and block["missed"] == 0  # the add model is far within 50 ms
    assert record["device"]["simulated"] is True
    assert "--run_frequency=20" in record["backend"]["details"]["command"]
    samples = read_samples(result.run_dir, record)
    series = samples["framerate"]
    assert series["temp"]["t_s"] and any(v is not None for v in series["temp"]["c"])
    assert series["freq"]["mhz"]  # the cpufreq policies, sampled on the phone
    assert any(w["temp_c"] is not None for w in block["windows"])
    ort_record = records[("onnx", "ort")]
    assert ort_record["status"] == "skipped"
    assert "onnxruntime_perf_test" in ort_record["error"]["message"]
    json.dumps(block, allow_nan=False)


def test_the_terminal_line_says_frames_drops_and_misses_exact_or_bounded():
    from npubench.harness.commands import _one_line

    exact = {"fps": 30.0, "frames": 450, "processed": 271, "dropped": 179, "missed": 271,
             "missed_low": 271, "missed_high": 271, "misses_exact": True, "miss_ratio": 1.0,
             "miss_ratio_low": 1.0, "miss_ratio_high": 1.0, "steady_state_ratio": 0.957}
    line = _one_line({"job_id": "sr[bold]x@tflite:xnnpack", "status": "ok",
                      "framerate": exact})
    assert "450 frames at 30 fps, ran 271, dropped 179, missed 271 (100.0% late" in line
    assert "steady / first throughput 0.96" in line and r"sr\[bold]x" in line
    bounded = {**exact, "processed": 450, "dropped": 0, "missed": None, "missed_low": 30,
               "missed_high": 60, "misses_exact": False, "miss_ratio": None,
               "miss_ratio_low": 30 / 450, "miss_ratio_high": 60 / 450,
               "steady_state_ratio": None}
    line = _one_line({"job_id": "j", "status": "ok", "framerate": bounded})
    assert "missed 30-60 (6.7% to 13.3% late or dropped)" in line
    assert line.endswith("not measured")
