"""The CLI with phones: simulated phones named by spec, `npubench sim` in the foreground,
ANDROID_SERIAL, and what a user sees when a phone is unreachable."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from tflite_models import COLON_INPUT, add_model

from npubench.devices import registry
from npubench.devices.android import AndroidDevice
from npubench.devices.transport import AdbShellTransport
from npubench.errors import ConfigError
from npubench.results import read_records


def npubench(*args: str, env: dict | None = None, timeout: float = 120):
    return subprocess.run([sys.executable, "-m", "npubench", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, ANDROID_USER_HOME=str(tmp_path / "android-home"))


def test_devices_json_lists_named_simulated_phones(env):
    result = npubench("devices", "--json", "--device", "sim:sm8650", "--device", "sim:mt6989",
                      env=env)
    assert result.returncode == 0, result.stderr
    items = {item["id"]: item for item in json.loads(result.stdout)}
    assert items["host"]["kind"] == "host"
    for spec, soc, model in (("sim:sm8650", "SM8650", "SM-S928B"),
                             ("sim:mt6989", "MT6989", "V2324A")):
        item = items[spec]
        assert (item["kind"], item["soc"], item["model"]) == ("android", soc, model)
        assert item["simulated"] is True and item["npu"]


def test_unreachable_phone_is_listed_with_the_reason(env):
    result = npubench("devices", "--device", "tcp:127.0.0.1:9", env=env)
    assert result.returncode == 3
    assert "unreachable" in result.stdout and "refused" in result.stdout


def test_sim_in_the_foreground_is_reachable_over_tcp(env, adb_home):
    proc = subprocess.Popen([sys.executable, "-m", "npubench", "sim", "--profile", "mt6989"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", first)
        assert match, first + proc.stderr.read()
        port = int(match[1])
        device = AndroidDevice(AdbShellTransport("tcp", "127.0.0.1", port),
                               f"tcp:127.0.0.1:{port}").connect()
        info = device.info()
        assert info.soc.part == "MT6989" and info.simulated is True  # known over plain tcp:
        device.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0


PHONE_TOOLS = {"/data/local/tmp/benchmark_model", "/data/local/tmp/onnxruntime_perf_test",
               "/data/local/tmp/benchmark_model_plus_neuron_delegate",
               "/data/local/tmp/llama.cpp/bin/llama-bench"}


@pytest.mark.network
@pytest.mark.slow
def test_a_simulated_phone_in_its_own_process_runs_the_quick_suite_with_its_own_tools(
        env, tmp_path, sim_process):
    """Reached as any phone over tcp:, with no --tool: the harness finds the tools the phone
    has installed and runs the quick suite on every backend the phone offers."""
    port = sim_process("--profile", "sm8650")
    out = tmp_path / "run"
    result = npubench("run", "--device", f"tcp:127.0.0.1:{port}", "--suite", "quick",
                      "--out", str(out), "--no-report", "--cooldown-c", "95",
                      "--set", "warmup_iterations=1", "--set", "min_iterations=3",
                      "--set", "min_seconds=0", "--set", "max_seconds=0.5",
                      "--set", "llm_repetitions=1", "--set", "idle_baseline_s=0.5",
                      "--set", "device_rounds_min=2", "--set", "device_rounds_max=2",
                      "--set", "device_round_runs=3", "--set", "device_round_min_secs=0",
                      env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "onnxruntime" not in result.stderr and "INFO:" not in result.stderr, result.stderr
    records = read_records(out)
    backends = {r["backend"]["spec"] for r in records}
    assert {"tflite:xnnpack", "tflite:gpu", "tflite:qnn-htp", "ort:cpu"} <= backends, backends
    assert any(r["workload"]["name"] == "llama_15m_int4" and r["status"] == "ok"
               for r in records)
    for record in records:
        assert record["status"] in ("ok", "skipped"), (record["job_id"], record["error"])
        assert record["device"]["simulated"] is True  # the phone says so (its own property)
        tool = record.get("tool") or {}
        if record["status"] == "ok" and tool.get("path_on_device"):
            assert tool["path_on_device"] in PHONE_TOOLS, tool  # the phone's, nothing pushed
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) >= 0.8 * len(records), [(r["job_id"], r["error"]) for r in records]


@pytest.mark.network
@pytest.mark.parametrize("profile, npu_delegate", [("sm8650", "EXTERNAL"),
                                                   ("mt6989", "NeuronDelegate")])
def test_run_on_a_simulated_phone_measures_everything(env, tmp_path, profile, npu_delegate):
    out = tmp_path / "run"
    result = npubench("run", "--device", f"sim:{profile}", "--workload", "okay_nabu",
                      "--backend", "tflite:xnnpack", "--backend", "npu", "--out", str(out),
                      "--set", "max_seconds=2", "--set", "idle_baseline_s=1",
                      "--set", "device_rounds_min=3", env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # the host runtime's log lines belong to the phone tool's log, not to this terminal
    assert "INFO:" not in result.stdout + result.stderr
    records = read_records(out)
    assert len(records) == 2
    for record in records:
        assert record["status"] == "ok", record["error"]
        assert record["device"]["simulated"] is True
        assert record["device"]["soc"]["part"] == profile.upper()
        assert record["latency_ms"]["n"] >= 3 and record["iterations"] > record["latency_ms"]["n"]
        assert record["power"]["energy_mj_per_inference"] > 0
        assert record["power"]["active_mw"] > record["power"]["idle_mw"]
        assert record["thermal"]["max_c"] >= record["thermal"]["start_c"]
        assert record["memory_peak_mb"] > 0 and "VmHWM" in record["memory_source"]
        assert record["accuracy"]["cosine_similarity"] > 0.99
        assert record["tool"]["name"].startswith("benchmark_model")
    npu = next(r for r in records if r["backend"]["accelerator"] != "xnnpack")
    assert npu["delegation"]["delegate"] == npu_delegate
    assert npu["delegation"]["status"] in ("full", "partial")
    html = (out / "report.html").read_text()
    assert "imulated" in html
    # charging was restored after every job
    assert "suspend" not in str(records[-1].get("power_missing_reason") or "")


def test_an_input_name_with_a_colon_reaches_the_phone(env, tmp_path):
    """``--input-shape serving_default_input:0=...`` on a phone: the seeded inputs reach
    benchmark_model under that name (its value-file flag needs the ':' written '::'), so the
    phone's outputs are the host reference's, not those of random data."""
    model = tmp_path / "colon.tflite"
    model.write_bytes(add_model(COLON_INPUT))
    out = tmp_path / "run"
    result = npubench("run", "--device", "sim:sm8650", "--workload", str(model),
                      "--backend", "tflite:cpu", "--input-shape", f"{COLON_INPUT}=1,5,64",
                      "--out", str(out), "--no-report", "--set", "min_seconds=0.2",
                      "--set", "max_seconds=1", "--set", "idle_baseline_s=1",
                      "--set", "device_rounds_min=3", env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (record,) = read_records(out)
    assert record["status"] == "ok", record["error"]
    assert record["workload"]["inputs"] == {COLON_INPUT: {"shape": [1, 5, 64]}}
    assert record["accuracy"]["max_abs_error"] == 0.0


def test_clean_on_a_simulated_phone(env):
    result = npubench("clean", "--device", "sim:sm8650", env=env)
    assert result.returncode == 0, result.stderr
    assert "removed npubench's files" in result.stdout


def test_android_serial_is_honoured(monkeypatch, sim_phone, adb_home):
    phone = sim_phone("sm8650")
    host, port = phone.address
    monkeypatch.setenv("ANDROID_SERIAL", f"{host}:{port}")
    device = registry.resolve_device(None)
    try:
        assert device.spec == f"tcp:{host}:{port}"
        assert device.info().soc.part == "SM8650"
    finally:
        device.close()


def test_several_phones_and_none_named_lists_them(monkeypatch):
    # No phone can be attached on USB here: the USB enumeration is the one thing replaced.
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    monkeypatch.setattr(registry, "usb_serials", lambda: ["R5CX1234", "ZY22ABCD"])
    with pytest.raises(ConfigError, match="2 phones are attached: R5CX1234, ZY22ABCD"):
        registry.resolve_device(None)
