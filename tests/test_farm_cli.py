"""``npubench farm`` from the command line (issue 12): every subcommand's --help, ``farm worker``
for a host the file does not have, ``farm status`` with no scheduler and with a real one that
has one ``npubench farm worker`` holding a simulated phone (which then stops on SIGTERM), and
``farm run --resume`` of a night that does not exist. Each runs ``python -m npubench`` as a
user would."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

FARM_ACTIONS = ("check", "run", "worker", "status", "report")

ONE_SIM_PHONE = """\
phones:
  - device: sim:sm8650
    labels: {class: sd8gen3, host: rack-1}
limits: {battery_min_percent: 5, max_temperature_c: 80, min_free_mb: 10}
nightly:
  - suite: quick
"""


def npubench(*args: str, timeout: float = 60, cwd: Path | None = None
             ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "npubench", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def farm_file(tmp_path: Path, text: str = ONE_SIM_PHONE) -> Path:
    path = tmp_path / "farm.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_farm_help_lists_every_action():
    out = npubench("farm", "--help")
    assert out.returncode == 0, out.stderr
    for action in FARM_ACTIONS:
        assert action in out.stdout


@pytest.mark.parametrize("action, options", [
    ("check", ["--json"]),
    ("run", ["--scheduler", "--store", "--deadline", "--resume", "--out", "--previous",
             "--no-report"]),
    ("worker", ["--scheduler", "--host-label", "--name", "--idle-restore"]),
    ("status", ["--scheduler", "--json"]),
    ("report", ["--previous", "--store"]),
])
def test_each_farm_action_has_help(action, options):
    out = npubench("farm", action, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: npubench farm {action}")
    for option in options:
        assert option in out.stdout, f"farm {action} --help does not mention {option}"


def test_worker_for_a_host_no_phone_has_names_the_hosts_of_the_file(tmp_path):
    path = farm_file(tmp_path, ONE_SIM_PHONE.replace(
        "phones:\n", "phones:\n  - device: sim:mt6989\n    labels: {class: d9300, host: rack-2}\n",
        1))
    out = npubench("farm", "worker", str(path), "--scheduler", "tcp://127.0.0.1:1",
                   "--host-label", "rack-9", timeout=30)
    assert out.returncode == 1
    assert "no phone has labels {host: rack-9}" in out.stderr
    assert "hosts in the file: rack-1, rack-2" in out.stderr
    assert "Traceback" not in out.stderr


def test_status_without_a_scheduler_says_so_and_exits_3():
    address = f"tcp://127.0.0.1:{free_port()}"
    out = npubench("farm", "status", "--scheduler", address, timeout=40)
    assert out.returncode == 3
    assert f"no scheduler at {address}" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


@pytest.fixture
def farm_worker(tmp_path):
    """A real scheduler (in this process) and one ``npubench farm worker`` subprocess that
    holds one simulated phone: (scheduler address, the worker process, its log)."""
    from distributed import Client, LocalCluster

    path = farm_file(tmp_path)
    log = tmp_path / "worker.log"
    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                      scheduler_port=0, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        address = cluster.scheduler_address
        with open(log, "wb") as sink:
            worker = subprocess.Popen(
                [sys.executable, "-m", "npubench", "farm", "worker", str(path),
                 "--scheduler", address, "--name", "test-worker"],
                stdout=sink, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 40
            while not client.scheduler_info(n_workers=-1)["workers"]:
                assert worker.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the worker did not join: " + log.read_text()
                time.sleep(0.2)
            yield address, worker, log
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def test_status_shows_the_worker_and_its_idle_phone(farm_worker):
    address, _, _ = farm_worker
    text = npubench("farm", "status", "--scheduler", address, timeout=40)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"scheduler {address}"
    assert lines[1].startswith("dashboard ")
    assert any(line.startswith("worker test-worker at tcp://127.0.0.1:") for line in lines), (
        text.stdout)
    phone = [line for line in lines if "sim:sm8650#1" in line]
    assert len(phone) == 1 and phone[0].split()[1:] == ["class", "sd8gen3", "idle"], text.stdout

    raw = npubench("farm", "status", "--scheduler", address, "--json", timeout=40)
    assert raw.returncode == 0, raw.stderr
    status = json.loads(raw.stdout)
    assert status["scheduler"] == address
    [held] = status["workers"]
    assert held["worker"] == "test-worker"
    assert held["resources"] == {"npubench-class:sd8gen3": 1}
    [state] = held["phones"]
    assert state["name"] == "sim:sm8650#1" and state["class"] == "sd8gen3"
    assert state["open"] is True
    assert state["busy_with"] is None and state["quarantined"] is None
    assert state["strikes"] == []
    assert state["labels"] == {"class": "sd8gen3", "host": "rack-1"}


def test_sigterm_stops_the_worker_within_20_s(farm_worker):
    _, worker, log = farm_worker
    signalled = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    try:
        code = worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker was still running 20 s after SIGTERM")
    assert time.monotonic() - signalled < 20
    said = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, said
    assert "stopping (signal); restoring the phones" in said


def test_resume_of_an_unknown_night_says_what_to_give(tmp_path):
    path = farm_file(tmp_path)
    out = npubench("farm", "run", str(path), "--resume", "NOPE", cwd=tmp_path, timeout=30)
    assert out.returncode == 1
    assert "--resume NOPE: no farm night with that id or folder" in out.stderr
    assert "give the night's folder or its run id" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()


def test_a_new_night_does_not_write_over_a_folder_that_holds_a_run(tmp_path):
    (tmp_path / "suite.yaml").write_text("name: s\ndescription: d\nworkloads: [okay_nabu]\n"
                                         "backends: [tflite:cpu]\n")
    farm = tmp_path / "farm.yaml"
    farm.write_text("phones:\n  - {device: sim:sm8650, labels: {class: c}}\n"
                    "nightly:\n  - suite: suite.yaml\n")
    night = tmp_path / "night"
    night.mkdir()
    (night / "results.jsonl").write_text("")
    result = subprocess.run([sys.executable, "-m", "npubench", "farm", "run", str(farm),
                             "--out", str(night)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "holds a run already" in result.stderr and "--resume" in result.stderr
