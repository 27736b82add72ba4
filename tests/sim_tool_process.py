"""Waiting on an emulated tool started on a simulated phone's userland (shared by the tests of
the emulated tools)."""

from __future__ import annotations

import time

TOOL_DIR = "/data/local/tmp/npubench"


def wait_for(predicate, timeout_s: float = 20.0):
    """The first truthy value of ``predicate()``, polled every 20 ms; AssertionError after
    ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def running_pid(phone) -> int:
    """The pid the tool wrote to ``TOOL_DIR/tool.pid``, once that process exists."""
    def pid():
        out, _, code = phone.run(f"cat {TOOL_DIR}/tool.pid 2>/dev/null")
        return int(out) if code == 0 and out.strip() and int(out) in phone.processes else None
    return wait_for(pid)
