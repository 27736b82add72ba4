"""Reaching the farm's Dask cluster: an existing scheduler (``--scheduler tcp://HOST:8786``,
with ``npubench farm worker`` on each phone host), or the embedded default: a ``LocalCluster``
in this process (scheduler only, on 127.0.0.1) and one ``npubench farm worker`` subprocess that
holds every phone of the farm file. The subprocess is a worker like any other: it restores its
phones itself when it is stopped or when its scheduler goes away."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench.errors import DeviceError
from npubench.harness.farm.pool import CLASS_RESOURCE


def _dashboard_address() -> str | None:
    return "127.0.0.1:0"  # (Dask serves its dashboard there when bokeh is installed)


@dataclass
class Cluster:
    client: Any
    address: str
    dashboard: str | None
    local: Any = None  # the LocalCluster, when embedded
    worker: subprocess.Popen | None = None
    worker_log: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return self.local is not None

    def class_capacity(self) -> dict[str, float]:
        """Per phone class, the usable phones of every connected worker (Dask resources)."""
        out: dict[str, float] = {}
        for worker in self.client.scheduler_info(n_workers=-1)["workers"].values():
            for key, amount in (worker.get("resources") or {}).items():
                if key.startswith(CLASS_RESOURCE):
                    name = key[len(CLASS_RESOURCE):]
                    out[name] = out.get(name, 0) + amount
        return out

    def workers_with(self, phone_class: str, exclude: str | None = None) -> list[str]:
        """The addresses of the workers with a usable phone of the class."""
        key = CLASS_RESOURCE + phone_class
        return [address for address, worker in
                self.client.scheduler_info(n_workers=-1)["workers"].items()
                if address != exclude and (worker.get("resources") or {}).get(key)]

    def start_night(self, run_id: str, say) -> dict:
        """Tell every worker a night begins (its phones get another chance); their states,
        once the scheduler counts their usable phones."""
        from npubench import __version__
        from npubench.harness.farm.task import start_night

        try:
            states = self.client.run(start_night, run_id)
        except Exception as exc:  # e.g. a worker whose npubench has no start_night
            raise DeviceError("farm", f"the workers could not start the night: "
                              f"{type(exc).__name__}: {exc}",
                              hint="run the same npubench version on the controller and on "
                              "every phone host (pip install -U npubench), then start "
                              "`npubench farm worker` again") from None
        for state in states.values():
            if state.get("version") not in (None, __version__):
                say(f"npubench farm: warning: worker {state.get('worker')} runs npubench "
                    f"{state.get('version')}, this controller {__version__}")
        self.wait_for_capacity(states)
        return states

    def wait_for_capacity(self, states: dict, timeout_s: float = 10.0) -> None:
        """Until the scheduler counts the phones the workers say are usable (``states``: what
        ``task.start_night`` returned; a phone released from an earlier night's quarantine
        reaches the scheduler a moment later)."""
        usable: dict[str, int] = {}
        for state in states.values():
            for phone in state.get("phones", []):
                if phone.get("open") and not phone.get("quarantined"):
                    usable[phone["class"]] = usable.get(phone["class"], 0) + 1
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            capacity = self.class_capacity()
            if all(capacity.get(c, 0) >= n for c, n in usable.items()):
                return
            time.sleep(0.1)

    def worker_count(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def close(self, timeout_s: float = 90.0) -> int | None:
        """Stop the embedded worker (it restores its phones) and the cluster; the worker's
        exit code (None when not embedded)."""
        code = None
        if self.worker is not None:
            if self.worker.poll() is None:
                self.worker.send_signal(signal.SIGTERM)
            try:
                code = self.worker.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                code = self.worker.wait()
        try:
            self.client.close(timeout=10)
        except Exception:
            pass
        if self.local is not None:
            try:
                self.local.close(timeout=10)
            except Exception:
                pass
        return code


def connect(farm_file: Path, scheduler: str | None, log_dir: Path, *,
            wait_workers_s: float = 120.0, say=print) -> Cluster:
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler, timeout="30s")
        cluster = Cluster(client, scheduler, client.dashboard_link if has_dashboard(client)
                          else None)
        # as in the embedded cluster: a job whose worker died comes back to the controller
        # (an attempt it records and retries), Dask does not rerun it unseen
        previous = client.run_on_scheduler(_no_silent_reruns)
        if previous:
            say(f"npubench farm: the scheduler reran a task up to {previous} times when its "
                "worker died; for this night the controller does (allowed-failures 0)")
        _wait_for_workers(cluster, wait_workers_s, say)
        return cluster
    # a worker that dies with a job is the controller's to handle (an attempt, retried on
    # another phone), not Dask's to rerun silently
    dask.config.set({"distributed.scheduler.allowed-failures": 0,
                     "distributed.worker.daemon": False})
    # the embedded scheduler's chatter (workers joining and leaving, tasks it "will recompute"
    # when the night's worker stops) is not for the night's terminal; its errors are
    logging.getLogger("distributed").setLevel(logging.ERROR)
    local = LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                         scheduler_port=0,
                         dashboard_address=_dashboard_address())
    client = Client(local)
    address = local.scheduler_address
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "worker.log"
    command = [sys.executable, "-m", "npubench", "farm", "worker", str(farm_file),
               "--scheduler", address, "--name", "npubench-embedded"]
    with open(log_path, "ab") as log:
        # its own session: a Ctrl-C in the terminal reaches the controller, which stops the
        # worker in order (the night's records first, then the phones)
        worker = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, env=os.environ.copy())
    cluster = Cluster(client, address, local.dashboard_link if has_dashboard(client)
                      else None, local, worker, log_path)
    try:
        _wait_for_workers(cluster, wait_workers_s, say)
    except BaseException:
        cluster.close(timeout_s=30)
        raise
    return cluster


def _no_silent_reruns(dask_scheduler=None) -> int:
    """(On the scheduler.) Set its allowed-failures to 0; what it was."""
    previous = dask_scheduler.allowed_failures
    dask_scheduler.allowed_failures = 0
    return previous


def has_dashboard(client) -> bool:
    """Whether the scheduler's dashboard answers (a scheduler lists the service even when
    started with --no-dashboard, or without bokeh)."""
    import urllib.request

    try:
        if not client.scheduler_info().get("services", {}).get("dashboard"):
            return False
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
        with opener.open(client.dashboard_link, timeout=3) as answer:
            return answer.status == 200
    except Exception:
        return False


def _wait_for_workers(cluster: Cluster, timeout_s: float, say) -> None:
    deadline = time.monotonic() + timeout_s
    while cluster.worker_count() == 0:
        if cluster.worker is not None and cluster.worker.poll() is not None:
            tail = _tail(cluster.worker_log)
            raise DeviceError("farm", f"the farm worker exited with {cluster.worker.returncode} "
                              f"before it joined: {tail}",
                              hint=f"its log: {cluster.worker_log}")
        if time.monotonic() > deadline:
            raise DeviceError("farm", f"no worker joined the scheduler {cluster.address} "
                              f"within {timeout_s:.0f} s",
                              hint="start `npubench farm worker FARM_YAML --scheduler "
                              f"{cluster.address}` on each phone host")
        time.sleep(0.2)


def _tail(path: Path | None, lines: int = 6) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "(empty log)"
