"""What tests of a simulated phone share: the phone's charging counts, and waiting for a
condition."""

from __future__ import annotations

import time


def counts(phone) -> tuple[int, int]:
    """How often the phone's charging was suspended, and reset."""
    service = phone.userland.battery_service
    return service.suspended_count, service.reset_count


def wait_for(condition, timeout_s: float = 20.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
