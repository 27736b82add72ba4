"""What a run keeps per phone while its jobs run: the device's session (charging suspended
once, sensors and CPU topology read once, the gauge's calibration, idle baselines, what was
pushed: ``devices.phone_session``) and, on the host's side, the reference outputs of each model
for the accuracy check (the same for every backend of a model). Opened at the phone's first
job, closed (charging restored) when the run ends, however it ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PhoneRun:
    session: Any  # devices.phone_session.PhoneSession
    host_cache: dict = field(default_factory=dict)
    """The host's work per model, the same for every backend of it: the accuracy reference
    and the input files written for it, an ONNX model's fixed shapes and test data."""


class PhoneRuns:
    """One ``PhoneRun`` per phone of a run."""

    def __init__(self, run_id: str | None, options, settings):
        self.run_id, self.options, self.settings = run_id, options, settings
        self._runs: dict[int, tuple[Any, PhoneRun]] = {}
        self.closed = False
        """After ``close_all`` (or a farm night's end): no phone is opened again."""

    def get(self, device) -> PhoneRun:
        entry = self._runs.get(id(device))
        if entry is None and self.closed:
            from npubench.errors import DeviceError

            raise DeviceError(device.spec, "the run's phones were restored already (the run or "
                              "farm night ended): this job does not prepare the phone again")
        if entry is None:
            from npubench.devices.calibration_store import CalibrationStore
            from npubench.devices.phone_session import PhoneSession, SessionOptions

            opts = self.options
            session = PhoneSession(device, SessionOptions(
                measure_power=opts.measure_power, cooldown_c=opts.cooldown_c,
                cooldown_timeout_s=opts.cooldown_timeout_s,
                idle_s=self.settings.idle_baseline_s), run_id=self.run_id,
                store=CalibrationStore())
            entry = (device, PhoneRun(session))
            self._runs[id(device)] = entry
            session.open()
        return entry[1]

    def close(self, device, abnormal: bool = False) -> dict | None:
        """Close one phone's session (restoring charging): its summary, or None when it had
        none; a failure to close is the summary's ``error``."""
        entry = self._runs.pop(id(device), None)
        if entry is None:
            return None
        try:
            summary = entry[1].session.close(abnormal=abnormal)
        except Exception as exc:
            summary = {"error": f"{type(exc).__name__}: {exc}"}
        remove_leftovers(device)
        return summary

    def close_all(self, abnormal: bool = False) -> dict[str, dict]:
        """Close every session (restoring charging); {device spec: session summary}. A
        failure on one phone does not keep the others from being closed."""
        self.closed = True
        return {device.spec: self.close(device, abnormal)
                for device, _ in list(self._runs.values())}


LEFTOVERS = ("tool-*.pid", "outputs-*.bin", "sampler-*.txt", ".stderr-*")
"""What a job or its sampler writes in the phone's work folder and removes itself when it ends
normally; after Ctrl-C (the link is not used until the run's end) they are removed here."""


def remove_leftovers(device) -> None:
    """Remove the jobs' files (``LEFTOVERS``) from the phone's work folder, once charging is
    restored. Never raises (``npubench clean`` removes the whole folder)."""
    from npubench.devices.android import WORK_DIR, q

    names = " ".join(f"{q(WORK_DIR)}/{pattern}" for pattern in LEFTOVERS)
    try:
        device.run(f"rm -f {names}", check=False, timeout_s=10)
    except Exception:
        pass
