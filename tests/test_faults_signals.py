"""Fault matrix, signals and leftovers (issue 14 items 1 and 6): ``npubench run`` stopped by
SIGTERM or SIGHUP as by Ctrl-C (exit 130, the phone's charging restored, records, run info and
report written), a second Ctrl-C during that stop not cutting it short, ``npubench clean``
restoring a killed run's charging, and nothing of a run's jobs left in the phone's work folder
after a run that ended ok, with a failed tool, or interrupted. Runs are separate processes
against a simulated phone in this process (real ADB), so the test sees what the phone saw."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import phone_waits
import pytest
from phone_waits import counts, wait_for

from npubench.devices.android import WORK_DIR
from npubench.devices.charging_guard import MARKER
from npubench.harness.interrupts import signals_deferred, sigterm_as_ctrl_c
from npubench.results import read_records, read_run_info

SMALL = ["--set", "max_seconds=1", "--set", "min_seconds=0.2", "--set", "device_rounds_min=2",
         "--set", "device_rounds_max=2", "--set", "device_round_min_secs=0.2",
         "--set", "idle_baseline_s=0.5", "--cooldown-c", "95"]
JOB_FILES = ("tool-", "outputs-", "sampler-", ".stderr-")
"""What a job writes in the phone's work folder (pid file, accuracy outputs, the sampler's
file, a command's stderr)."""


@pytest.fixture
def run_env(tmp_path, adb_home):
    return phone_waits.run_env(tmp_path, adb_home)


def start_run(phone, model, out, env, *extra) -> subprocess.Popen:
    host, port = phone.address
    return subprocess.Popen(
        [sys.executable, "-m", "npubench", "run", "--device", f"tcp:{host}:{port}",
         "--workload", str(model), "--backend", "tflite:cpu", "--out", str(out), *SMALL,
         *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def job_files(phone) -> list[str]:
    work = phone.userland.fs.host_path(WORK_DIR)
    if work is None or not work.is_dir():
        return []
    return sorted(p.name for p in work.iterdir() if p.name.startswith(JOB_FILES))


def assert_phone_restored(phone) -> None:
    assert wait_for(lambda: counts(phone) == (1, 1), 15), counts(phone)
    assert not phone.userland.physics.input_suspended
    assert wait_for(lambda: not phone.userland.processes, 15)  # tool and sampler stopped
    marker = phone.userland.fs.host_path(MARKER)
    assert marker is not None and not marker.exists()


# --- the signal handling itself, in this process ---------------------------------------------

def test_sigterm_and_sighup_raise_ctrl_c_once_then_the_stop_goes_on():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for first in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        stopped = finished = False
        with sigterm_as_ctrl_c():
            try:
                os.kill(os.getpid(), first)
                time.sleep(5)  # interrupted well before
            except KeyboardInterrupt:
                stopped = True
                os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while stopping
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                finished = True
        assert stopped and finished
    assert {s: signal.getsignal(s) for s in before} == before


def test_signals_deferred_notes_ctrl_c_and_puts_the_handlers_back():
    before = signal.getsignal(signal.SIGINT)
    with signals_deferred() as caught:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    assert caught == [signal.SIGINT, signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) is before


# --- whole runs against a simulated phone ----------------------------------------------------

@pytest.mark.parametrize("signum, again, where", [(signal.SIGTERM, True, "tool"),
                                                   (signal.SIGHUP, False, "tool"),
                                                   (signal.SIGTERM, False, "sampler")])
def test_a_run_stopped_by_a_signal_stops_as_on_ctrl_c(sim_phone, run_env, tmp_path, signum,
                                                       again, where):
    """In the middle of a job (the tool hangs, or the sampler runs in the measured rounds):
    SIGTERM (then two Ctrl-C while it stops) or SIGHUP; exit 130, charging restored, the
    run info and report written, nothing left."""
    model, env = run_env
    phone = sim_phone("mt6989")
    phone.userland.tool_faults.hang = where == "tool"
    out = tmp_path / "run"
    proc = start_run(phone, model, out, env, "--set", "device_rounds_min=50",
                     "--set", "device_rounds_max=50", "--set", "max_seconds=60")
    try:
        if where == "tool":
            started = lambda: counts(phone)[0] == 1 and phone.userland.processes  # noqa: E731
        else:
            started = lambda: any(n.startswith("sampler-") for n in job_files(phone))  # noqa
        assert wait_for(started, 120), (
            proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
        time.sleep(0.3)  # in the tool, or in the measured rounds
        assert phone.userland.physics.input_suspended
        proc.send_signal(signum)
        if again:
            for _ in range(2):
                time.sleep(0.1)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert "interrupted" in stdout
    assert_phone_restored(phone)
    info = read_run_info(out)
    assert info["interrupted"] is True and info["finished_at"]
    assert list(info["phone_sessions"].values())[0]["charging_restore"]
    assert (out / "report.html").is_file()
    assert job_files(phone) == []


def test_a_host_run_stopped_by_sigterm_keeps_what_was_measured(run_env, tmp_path):
    """No phone: SIGTERM between the host's jobs (their isolated workers) ends the run with
    the finished records kept, exit 130 and the run marked interrupted."""
    model, env = run_env
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "npubench", "run", "--workload", str(model),
         "--backend", "tflite:cpu", "--backend", "tflite:xnnpack", "--input-shape",
         "serving_default_input:0=1,64,256", "--set", "min_seconds=2",
         "--set", "max_seconds=3", "--out", str(out), "--no-report"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    results = out / "results.jsonl"
    try:
        assert wait_for(lambda: results.exists() and results.read_text().count("\n") >= 1,
                        120), proc.poll()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    records = read_records(out)
    assert 1 <= len(records) <= 2 and records[0]["status"] == "ok"
    assert read_run_info(out)["interrupted"] is True


@pytest.mark.parametrize("fault", ["none", "crash"])
def test_nothing_of_a_job_stays_on_the_phone(sim_phone, run_env, tmp_path, fault):
    model, env = run_env
    phone = sim_phone("mt6989")
    phone.userland.tool_faults.crash = fault == "crash"
    out = tmp_path / "run"
    proc = start_run(phone, model, out, env, "--no-report")
    stdout, stderr = proc.communicate(timeout=180)
    record = read_records(out)[0]
    assert record["status"] == ("ok" if fault == "none" else "failed"), record["error"]
    assert proc.returncode in ((0,) if fault == "none" else (3, 4)), stdout + stderr
    assert_phone_restored(phone)
    assert job_files(phone) == []


def test_clean_restores_charging_a_killed_run_left_suspended(sim_phone, run_env):
    """A run killed with no guardian on the phone left charging suspended and its marker."""
    from npubench.devices.android import AndroidDevice
    from npubench.devices.transport import AdbShellTransport

    _model, env = run_env
    phone = sim_phone("mt6989")
    host, port = phone.address
    device = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}").connect()
    try:
        device.run(f"mkdir -p {WORK_DIR} && echo 'run=killed-run pid=1' > {MARKER} && "
                   "dumpsys battery suspend_input")
    finally:
        device.close()
    assert phone.userland.physics.input_suspended
    result = subprocess.run([sys.executable, "-m", "npubench", "clean", "--device",
                             f"tcp:{host}:{port}"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "restored charging" in result.stdout and "killed-run" in result.stdout
    assert "removed npubench's files" in result.stdout
    assert_phone_restored(phone)
    assert phone.userland.fs.host_path(WORK_DIR) is not None
    assert not phone.userland.fs.host_path(WORK_DIR).exists()
