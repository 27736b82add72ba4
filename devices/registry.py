"""Device specs -> devices. ``host`` today; Android phones (``SERIAL``, ``usb:``, ``tcp:``,
``sim:``) are the next step of the device layer."""

from __future__ import annotations

import os

from harness.errors import ConfigError


def resolve_device(spec: str | None):
    """The device a spec names. None means: the attached phone if there is one, else the host."""
    from devices.host import HostDevice

    spec = (spec or os.environ.get("ANDROID_SERIAL") or "host").strip()
    if spec == "host":
        return HostDevice()
    raise ConfigError(
        f"device {spec!r}: Android devices are not supported by this version of npubench",
        hint="use --device host",
    )


def available_devices() -> list:
    """Every device this machine can reach now."""
    from devices.host import HostDevice

    return [HostDevice()]
