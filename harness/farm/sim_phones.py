"""A farm's ``sim:`` phones each run in a process of their own (``npubench sim``), as a real
phone is a machine of its own: the worker drives them over ADB on 127.0.0.1 and shares its
Python with none of them, so 16 simulated phones measure the farm, not one interpreter's lock.
A phone process ends with its worker: stopped by it, or, when the worker is killed, by itself
(``npubench sim`` watches the process named in ``NPUBENCH_SIM_PARENT``)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time

from npubench.errors import DeviceError

_LISTENING = re.compile(r"listening on (\S+):(\d+)")
START_TIMEOUT_S = 120.0
PARENT_ENV = "NPUBENCH_SIM_PARENT"


def command(spec: str) -> list[str]:
    """``npubench sim`` for a ``sim:PROFILE[?options]`` spec."""
    from npubench.devices.simulator import parse_sim_options

    options = parse_sim_options(spec.removeprefix("sim:"))
    out = [sys.executable, "-m", "npubench", "sim", "--profile", options.profile,
           "--timing", options.timing, "--host", "127.0.0.1"]
    for knob in options.knobs:
        out += ["--slowdown", knob]
    if options.ram_gb is not None:
        out += ["--ram-gb", f"{options.ram_gb:g}"]
    for knob in options.faults:
        out += ["--fault", knob]
    return out


def start(spec: str, name: str) -> tuple[str, subprocess.Popen]:
    """Start the phone; (its ``tcp:`` spec, its process)."""
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    proc = subprocess.Popen(command(spec), stdout=subprocess.PIPE, stderr=None, text=True,
                            env=env)
    deadline = time.monotonic() + START_TIMEOUT_S
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
        found = _LISTENING.search(line)
        if found:  # the rest of what it prints is read and dropped (a full pipe would block it)
            threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
            return f"tcp:{found.group(1)}:{found.group(2)}", proc
    stop(proc)
    said = " | ".join(seen[-3:]) or "no output"
    raise DeviceError(name, f"the simulated phone did not start ({said}; exit "
                      f"{proc.returncode})")


def _drain(stream) -> None:
    try:
        for _ in stream:
            pass
    except (OSError, ValueError):
        pass


def stop(proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """Stop a phone process (SIGTERM: it removes its storage on the way out)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
