"""``npubench sim --fault KNOB[=VALUE]`` and ``sim:PROFILE?fault=...``: the knobs' parser, and a
few knobs end to end against a ``npubench sim`` process reached over ADB on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from npubench.devices.android import AndroidDevice
from npubench.devices.sim.fault_knobs import KNOBS, FaultPlan, parse_fault_knobs
from npubench.devices.sim.faults import Faults
from npubench.devices.simulator import parse_sim_options
from npubench.devices.transport import AdbShellTransport
from npubench.errors import ConfigError, DeviceError
from npubench.results import read_records


@pytest.mark.parametrize("text, link", [
    ("drop-after-s=2.5", {"drop_after_s": 2.5}),
    ("drop-after-bytes=6000", {"drop_after_bytes": 6000}),
    ("refuse-auth", {"refuse_auth": True}),
    ("slow-link=100000", {"slow_link_bytes_per_s": 100000.0}),
    ("latency=0.05", {"latency_s": 0.05}),
    ("corrupt-checksums", {"corrupt_checksums": True}),
    ("refuse-service=sync:", {"refuse_services": ("sync:",)}),
])
def test_each_link_knob_sets_its_field_of_faults(text, link):
    plan = parse_fault_knobs([text])
    assert plan.link == link
    faults = plan.faults()
    for name, value in link.items():
        assert getattr(faults, name) == value
    assert plan.describe() == text


def test_the_userland_knobs():
    plan = parse_fault_knobs(["storage-full", "tool-hang", "tool-crash", "refuse-delegate=NNAPI",
                              "refuse-delegate=qnn", " hot=85 "])
    assert plan == FaultPlan(storage_full=True, tool_hang=True, tool_crash=True,
                             refuse_delegates=frozenset({"nnapi", "qnn"}), hot_c=85.0)
    assert not parse_fault_knobs([]) and plan
    assert parse_fault_knobs(["refuse-service=shell", "refuse-service=sync:"]).faults(
        Faults(latency_s=0.1)) == Faults(latency_s=0.1, refuse_services=("shell", "sync:"))


@pytest.mark.parametrize("text, why", [
    ("bogus", "no such knob"),
    ("hot", "hot needs a value"),
    ("hot=warm", "a number from"),
    ("hot=900", "a number from"),
    ("drop-after-bytes=1.5", "a whole number"),
    ("latency=-1", "a number from"),
    ("storage-full=yes", "takes no value"),
    ("refuse-delegate=tpu", "gpu, nnapi, qnn, neuron, xnnpack"),
])
def test_a_bad_knob_is_a_config_error_naming_it_and_the_valid_ones(text, why):
    with pytest.raises(ConfigError) as info:
        parse_fault_knobs([text])
    assert repr(text) in str(info.value) and why in str(info.value)
    assert all(knob in info.value.hint for knob in KNOBS)


def test_a_device_spec_carries_faults_among_its_options():
    options = parse_sim_options("sm8650?fault=storage-full,hot=85&timing=modeled")
    assert options.faults == ("storage-full", "hot=85") and options.timing == "modeled"
    options = parse_sim_options("sm8650?slowdown=face=1.05,fault=refuse-delegate=gpu")
    assert options.knobs == ["face=1.05"] and options.faults == ("refuse-delegate=gpu",)
    with pytest.raises(ConfigError, match="no such knob"):
        parse_sim_options("sm8650?fault=storage-ful")


def test_a_started_phone_has_its_faults_and_says_so():
    from npubench.devices.sim import start_sim

    with start_sim("sm8650", fault_knobs=["hot=85", "tool-crash", "refuse-delegate=gpu",
                                          "latency=0.01"]) as phone:
        assert phone.userland.tool_faults.crash and not phone.userland.tool_faults.hang
        assert phone.userland.tool_faults.refuse_delegates == {"gpu"}
        assert phone.faults.latency_s == 0.01 and not phone.userland.fs.full
        assert min(phone.userland.physics.snapshot().temps_c.values()) > 80
        assert "faults: latency=0.01, tool-crash, refuse-delegate=gpu, hot=85" in (
            phone.describe())


def test_sim_help_lists_the_knobs():
    result = npubench("sim", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert all(knob in text for knob in KNOBS)


def npubench(*args: str, env: dict | None = None, timeout: float = 120):
    return subprocess.run([sys.executable, "-m", "npubench", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, ANDROID_USER_HOME=str(tmp_path / "android-home"))


def test_a_bad_fault_stops_npubench_sim_with_the_valid_ones(env):
    result = npubench("sim", "--fault", "storage_full", env=env)
    assert result.returncode != 0
    assert "'storage_full'" in result.stderr and "storage-full" in result.stderr


def run_one_job(port: int, out, env: dict) -> dict:
    """``npubench run`` of one short job on the phone at ``port`` (no wait for a cool phone)."""
    result = npubench("run", "--device", f"tcp:127.0.0.1:{port}", "--workload", "okay_nabu",
                      "--backend", "tflite:xnnpack", "--out", str(out), "--no-report",
                      "--no-store", "--cooldown-c", "120", "--set", "min_seconds=0",
                      "--set", "max_seconds=0.5", "--set", "idle_baseline_s=0.5",
                      env=env, timeout=300)
    records = read_records(out)
    assert len(records) == 1, result.stdout + result.stderr
    return records[0]


def test_storage_full_makes_a_runs_push_fail(env, tmp_path, sim_process):
    record = run_one_job(sim_process("--fault", "storage-full"), tmp_path / "run", env)
    assert record["status"] == "failed"
    assert "not enough space on the phone" in record["error"]["message"]


def test_a_hot_phone_is_a_hot_and_throttled_run(env, tmp_path, sim_process):
    record = run_one_job(sim_process("--fault", "hot=85"), tmp_path / "run", env)
    assert record["status"] == "ok", record["error"]
    assert record["thermal"]["start_c"] > 70 and record["thermal"]["throttled"]


def test_hot_phone_reads_hot_over_adb(env, sim_process, adb_home):
    port = sim_process("--fault", "hot=85", "--profile", "mt6989")
    device = AndroidDevice(AdbShellTransport("tcp", "127.0.0.1", port),
                           f"tcp:127.0.0.1:{port}").connect()
    try:
        text = device.run("cat /sys/class/thermal/thermal_zone*/temp").text
    finally:
        device.close()
    hottest = max(int(line) for line in text.split()) / 1000
    assert hottest > 70, text  # a phone left alone at room temperature reads ~25-35 C


def test_refuse_auth_with_auth_is_an_unauthorized_phone(env, sim_process, adb_home):
    port = sim_process("--auth", "--fault", "refuse-auth")
    device = AndroidDevice(AdbShellTransport("tcp", "127.0.0.1", port), f"tcp:127.0.0.1:{port}")
    with pytest.raises(DeviceError, match="Allow USB debugging"):
        device.connect(timeout_s=1.0)
