"""A farm on loopback for tests: simulated phones served from the test process (so that a test
can hurt them: stop one, make it hot, fill its disk, hang its tools), a Dask scheduler, and
``npubench farm worker`` processes that reach the phones over real ADB on TCP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from npubench.results import read_jsonl

SUITE = """\
name: farm-test
description: two small models on two backends, short modeled jobs
workloads: [okay_nabu, hey_jarvis]
backends: [tflite:cpu, tflite:gpu]
settings:
  warmup_iterations: 2
  min_iterations: 5
  min_seconds: 0.2
  max_seconds: 2.0
  device_rounds_min: 2
  device_rounds_max: 3
  device_round_runs: 5
  device_round_min_secs: 0.1
  idle_baseline_s: 0.3
  job_timeout_s: {timeout}
"""


@dataclass
class Phone:
    name: str  # as the farm names it: tcp:127.0.0.1:PORT
    sim: object  # devices.sim.launch.SimPhone
    phone_class: str
    host: str

    @property
    def charging_suspended(self) -> bool:
        return bool(self.sim.userland.physics.input_suspended)


@dataclass
class Farm:
    path: Path
    phones: list[Phone]
    scheduler: str | None = None
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def phone(self, index: int) -> Phone:
        return self.phones[index]

    def start_worker(self, host: str, timeout_s: float = 60.0) -> subprocess.Popen:
        log = self.path.parent / f"worker-{host}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "npubench", "farm", "worker", str(self.path),
                 "--scheduler", self.scheduler, "--host-label", host, "--idle-restore", "5m"],
                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers[host], self.logs[host] = proc, log
        deadline = time.monotonic() + timeout_s
        while b"joined" not in log.read_bytes():
            assert proc.poll() is None, f"worker {host} exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"worker {host} did not join: {log.read_text()}"
            time.sleep(0.2)
        return proc

    def stop_workers(self) -> dict[str, int | None]:
        codes = {}
        for host, proc in self.workers.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                codes[host] = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[host] = proc.wait()
        return codes

    def close(self) -> None:
        self.stop_workers()
        for phone in self.phones:
            phone.sim.stop()


def make_farm(tmp_path: Path, phones: list[tuple[str, str, str]], *, limits: dict | None = None,
              timeout_s: float = 30, retries: int = 2, deadline: str | None = None,
              sim_options: dict[int, dict] | None = None) -> Farm:
    """``phones``: (host label, class, profile) each; ``sim_options``: per phone index, keyword
    arguments of ``start_sim`` (auth, faults)."""
    from npubench.devices.sim.launch import start_sim

    (tmp_path / "suite.yaml").write_text(SUITE.format(timeout=timeout_s))
    made: list[Phone] = []
    lines = ["phones:"]
    for i, (host, phone_class, profile) in enumerate(phones):
        sim = start_sim(profile, timing="modeled", **(sim_options or {}).get(i, {}))
        address = f"tcp:127.0.0.1:{sim.address[1]}"
        made.append(Phone(address, sim, phone_class, host))
        lines.append(f"  - device: {address}\n    labels: {{class: {phone_class}, host: {host}}}")
    limits = {"battery_min_percent": 5, "max_temperature_c": 60, "min_free_mb": 64,
              "cooldown_timeout_s": 2, **(limits or {})}
    lines.append(f"limits: {json.dumps(limits)}")
    lines.append("nightly:\n  - suite: suite.yaml")
    lines.append(f"retries: {retries}")
    if deadline:
        lines.append(f"deadline: {deadline}")
    path = tmp_path / "farm.yaml"
    path.write_text("\n".join(lines) + "\n")
    return Farm(path, made)


def start_scheduler():
    """A Dask scheduler on 127.0.0.1 in this process; a worker lost with a job makes the job
    the controller's to retry (allowed-failures 0), as in ``npubench farm run``."""
    import dask
    from distributed import LocalCluster

    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    return LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                        dashboard_address="127.0.0.1:0")


def run_night(farm: Farm, out: Path, *extra: str, timeout_s: float = 240,
              wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [sys.executable, "-m", "npubench", "farm", "run", str(farm.path), "--out",
               str(out), *(["--scheduler", farm.scheduler] if farm.scheduler else []), *extra]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                          env=os.environ.copy())


def records(out: Path) -> list[dict]:
    return read_jsonl(out / "results.jsonl")


def events(out: Path) -> list[dict]:
    return read_jsonl(out / "events.jsonl")


def plan_keys(out: Path) -> list[str]:
    return [j["key"] for j in json.loads((out / "farm-plan.json").read_text())["jobs"]]


def wait_until(condition, timeout_s: float = 60.0, every_s: float = 0.1) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(every_s)
    return False


def assert_night_complete(out: Path) -> dict[str, dict]:
    """Every planned job has exactly one record; returns them by key."""
    keys = plan_keys(out)
    got = [r["job_id"] for r in records(out)]
    assert sorted(got) == sorted(keys), (
        f"records {sorted(got)} != plan {sorted(keys)}")
    return {r["job_id"]: r for r in records(out)}
