"""The one door from the rest of npubench to the simulated phone (``devices/sim``): start one,
as a server (``npubench sim``) or as a device (``--device sim:PROFILE``). Everything else reaches
a simulated phone exactly as a real one, over ADB.

A ``sim:`` spec may carry options after ``?``: ``sim:sm8650?slowdown=WORKLOAD[:BACKEND]=FACTOR``
(several knobs separated by ``,``; see ``devices/sim/slowdown.py``). The options stay in the
simulator: the device's spec, and so every record, is ``sim:PROFILE``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from npubench.errors import ConfigError

SIM_PREFIX = "sim:"
SPEC_OPTIONS = ("slowdown",)


def serve(profile: str, host: str = "127.0.0.1", port: int = 0, auth: bool = False,
          slowdown: Sequence[str] = ()):
    """Start a simulated phone listening on ``host:port``; the returned handle has ``address``,
    ``describe()``, ``wait()`` and ``stop()``. ``slowdown``: ground-truth knobs
    ``WORKLOAD[:BACKEND]=FACTOR`` (a bad one is a ConfigError)."""
    from npubench.devices.sim import start_sim

    return start_sim(profile, host=host, port=port, auth="verify" if auth else "none",
                     slowdown=slowdown)


def parse_sim_spec(text: str) -> tuple[str, list[str]]:
    """``PROFILE[?slowdown=KNOB[,KNOB...]]`` (what follows ``sim:``) -> (profile, knobs)."""
    profile, _, query = text.partition("?")
    knobs: list[str] = []
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if key not in SPEC_OPTIONS or not eq:
            raise ConfigError(f"unknown option {part!r} in device sim:{text}",
                              hint="e.g. --device 'sim:sm8650?slowdown=WORKLOAD[:BACKEND]=1.05'")
        knobs += [k for k in value.split(",") if k.strip()]
    return profile, knobs


def start_sim_device(profile: str):
    """A simulated phone on 127.0.0.1, reached over real ADB on TCP like any phone; it stops
    when the device is closed. ``profile`` may carry ``?slowdown=...`` (``parse_sim_spec``)."""
    from npubench.devices.android import AndroidDevice
    from npubench.devices.transport import AdbShellTransport

    profile, knobs = parse_sim_spec(profile)
    server = serve(profile, slowdown=knobs)
    if knobs:
        print(f"npubench-sim: {profile} slowdown knobs (ground truth, the tools report times "
              f"x FACTOR): {server.userland.slowdown.describe()}", file=sys.stderr, flush=True)
    host, port = server.address
    spec = f"{SIM_PREFIX}{profile}"
    transport = AdbShellTransport("tcp", host, port, name=f"{spec} ({host}:{port})")
    return AndroidDevice(transport, spec, on_close=server.stop)
