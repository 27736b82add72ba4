"""What tests of a simulated phone share: the phone's charging counts, waiting for a
condition, and the model and environment of an ``npubench run`` process."""

from __future__ import annotations

import os
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


def run_env(tmp_path, adb_home) -> tuple:
    """A model that needs no download, and the environment of an ``npubench run`` process with
    a cache folder (calibrations) and adb keys of the test's own."""
    from tflite_models import add_model

    model = tmp_path / "add.tflite"
    model.write_bytes(add_model(width=256))
    env = dict(os.environ, NPUBENCH_CACHE=str(tmp_path / "cache"),
               ANDROID_USER_HOME=str(adb_home))
    return model, env
