"""Bad input and faults on a phone, each against the simulated phone through the harness:
the job becomes a record that says what happened, the next job runs, charging is restored."""

from __future__ import annotations

from pathlib import Path

import pytest

from npubench.devices.android import AndroidDevice
from npubench.devices.hashcache import HashCache
from npubench.devices.transport import AdbShellTransport
from npubench.harness.device_job import DeviceJobOptions, phone_backends
from npubench.harness.plan import make_plan
from npubench.harness.run import PhoneContext, execute, new_run_id, start_run
from npubench.harness.settings import MeasureSettings
from npubench.harness.tools import ToolConfig
from npubench.results import read_records
from npubench.workloads.registry import resolve

pytestmark = pytest.mark.network  # the model comes from a PyPI wheel (cached after once)

FAST = dict(max_seconds=1.0, idle_baseline_s=0.5, device_rounds_min=2, device_rounds_max=3,
            device_round_runs=5, device_round_min_secs=0.0, job_timeout_s=20)


@pytest.fixture
def phone(sim_phone, adb_home, tmp_path):
    sim = sim_phone("sm8650")
    host, port = sim.address
    device = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}",
                           hash_cache=HashCache(tmp_path / "hashes.json")).connect()
    device.sim = sim
    yield device
    device.close()


def run(device, tmp_path: Path, backends, tools=None, on_start=None, on_done=None,
        options=None, workload="face_detection_short_range", **settings):
    tools = tools or ToolConfig()
    jobs = make_plan([device], [resolve(workload)], backends,
                     known_backends=lambda d: phone_backends(d, tools))
    run_id = new_run_id()
    store = start_run(tmp_path / "run", run_id, {}, None)
    execute(jobs, store, run_id, MeasureSettings(**{**FAST, **settings}),
            on_start=on_start or (lambda job: None), on_done=on_done or (lambda j, r: None),
            phone=PhoneContext(tools, options or DeviceJobOptions(cooldown_timeout_s=30)))
    return read_records(store.run_dir), store.run_dir


def charging_suspended(device) -> bool:
    return device.sim.userland.physics.input_suspended


def test_tool_built_for_another_abi(phone, tmp_path):
    from npubench.devices.sim.tools.stub import stub_binary

    x86 = tmp_path / "benchmark_model"
    x86.write_bytes(stub_binary("benchmark_model", "x86_64"))
    (record,) = run(phone, tmp_path, ["tflite:xnnpack"],
                    tools=ToolConfig({"benchmark_model": x86}))[0]
    assert record["status"] == "failed"
    assert "built for x86_64, but the phone runs arm64-v8a" in record["error"]["message"]


def test_delegate_that_fails_to_apply_and_the_next_job_runs(phone, tmp_path):
    phone.sim.userland.tool_faults.refuse_delegates = {"nnapi"}
    records, run_dir = run(phone, tmp_path, ["tflite:nnapi", "tflite:xnnpack"])
    failed, ok = records
    assert failed["status"] == "failed" and failed["error"]["kind"] == "delegate"
    assert "Failed to apply NNAPI delegate" in (run_dir / failed["log_path"]).read_text()
    assert ok["status"] == "ok"
    assert not charging_suspended(phone)


def test_require_npu_turns_a_partial_delegation_into_a_failure(phone, tmp_path):
    # the wake-word model has stateful ops (VAR_HANDLE, ...) that the simulated HTP does not
    # take: without --require-npu that is a flagged fallback, with it a failed job
    (flagged,) = run(phone, tmp_path / "a", ["npu"], workload="okay_nabu")[0]
    assert flagged["status"] == "ok"
    assert flagged["delegation"]["status"] == "partial" and flagged["delegation"]["fallback"]
    (refused,) = run(phone, tmp_path / "b", ["npu"], workload="okay_nabu",
                     options=DeviceJobOptions(require_npu=True, cooldown_timeout_s=30))[0]
    assert refused["status"] == "failed"
    assert refused["error"]["kind"] == "delegate"


def test_a_hanging_tool_is_killed_and_the_next_job_runs(phone, tmp_path):
    faults = phone.sim.userland.tool_faults
    faults.hang = True

    def heal(job, record):
        faults.hang = False

    records, _ = run(phone, tmp_path, ["tflite:xnnpack", "tflite:cpu"], on_done=heal,
                     job_timeout_s=3)
    hung, ok = records
    assert hung["status"] == "failed"
    assert "killed on the phone" in hung["error"]["message"]
    assert ok["status"] == "ok"
    assert not phone.sim.userland.processes or all(
        p.exit_code is not None for p in phone.sim.userland.processes)


def test_phone_that_disconnects_mid_job_then_comes_back(phone, tmp_path):
    faults = phone.sim.faults

    def drop_during_first(job):
        if job.index == 0:  # a few shell commands into the job, the connection drops
            (connection,) = list(phone.sim.server._connections)
            faults.drop_after_bytes = connection._bytes_in + 6000

    def heal(job, record):
        faults.drop_after_bytes = None

    records, _ = run(phone, tmp_path, ["tflite:xnnpack", "tflite:cpu"],
                     on_start=drop_during_first, on_done=heal, max_seconds=5.0,
                     device_rounds_min=20, device_rounds_max=40)
    lost, ok = records
    assert lost["status"] == "failed" and lost["error"]["kind"] == "device_lost"
    assert ok["status"] == "ok"
    assert not charging_suspended(phone)


def test_phone_that_stays_too_hot_is_semivalid(phone, tmp_path):
    records, _ = run(phone, tmp_path, ["tflite:xnnpack"],
                     options=DeviceJobOptions(cooldown_c=15.0, cooldown_timeout_s=1.0))
    (record,) = records
    assert record["status"] == "ok" and record["validity"] == "semivalid"
    assert any("cool" in reason for reason in record["validity_reasons"])


def test_full_disk(phone, tmp_path):
    phone.sim.userland.fs.full = True
    (record,) = run(phone, tmp_path, ["tflite:xnnpack"])[0]
    assert record["status"] == "failed"
    assert "not enough space on the phone" in record["error"]["message"]


def test_charging_that_cannot_be_suspended_leaves_power_missing(phone, tmp_path):
    phone.sim.userland.profile.props["ro.debuggable"] = "0"  # a retail build
    (record,) = run(phone, tmp_path, ["tflite:xnnpack"])[0]
    assert record["status"] == "ok"
    assert record["power"] is None
    assert "suspend" in record["power_missing_reason"]
    assert record["thermal"] is not None  # temperatures are still measured
    assert not charging_suspended(phone)


def test_tool_missing_on_a_real_phone_is_a_skip_that_says_what_to_do(sim_phone, adb_home,
                                                                       tmp_path):
    sim = sim_phone("sm8650")
    host, port = sim.address
    # a phone without the tools: nothing installed on it, nothing configured
    device = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}").connect()
    try:
        device.run("rm -rf /data/local/tmp/benchmark_model /data/local/tmp/qnn "
                     "/data/local/tmp/onnxruntime_perf_test /data/local/tmp/llama.cpp")
        records, _ = run(device, tmp_path, ["tflite:xnnpack", "ort:cpu", "tflite:qnn-htp"])
    finally:
        device.close()
    by_backend = {r["backend"]["accelerator"]: r for r in records}
    assert all(r["status"] == "skipped" for r in records)
    xnnpack = by_backend["xnnpack"]["error"]["message"]
    assert "npubench tools fetch" in xnnpack and "/data/local/tmp/benchmark_model" in xnnpack
    assert "QAIRT" in by_backend["qnn-htp"]["error"]["message"] or \
        "benchmark_model" in by_backend["qnn-htp"]["error"]["message"]
