"""The one door from the rest of npubench to the simulated phone (``devices/sim``): start one,
as a server (``npubench sim``) or as a device (``--device sim:PROFILE``). Everything else reaches
a simulated phone exactly as a real one, over ADB.

A ``sim:`` spec may carry options after ``?``: ``sim:sm8650?slowdown=WORKLOAD[:BACKEND]=FACTOR``
(several knobs separated by ``,``; see ``devices/sim/slowdown.py``) and ``timing=measured|modeled``
(``devices/sim/timing.py``) and ``ram_gb=GB`` (the phone as sold with that RAM, e.g. an 8 GB
phone: ``sim:sm8650?ram_gb=8``; /proc/meminfo shows it), joined by ``&`` or ``,``:
``sim:sm8650?timing=modeled&slowdown=face=1.05`` or
``sim:sm8650?slowdown=face=1.05,timing=modeled``; and ``fault=KNOB[=VALUE]`` (several
separated by ``,``; ``devices/sim/fault_knobs.py``): ``sim:sm8650?fault=storage-full,hot=85``.
The options stay in the simulator: the device's spec, and so every record, is ``sim:PROFILE``;
the phone itself says its timing (``ro.npubench.timing``), which records keep as
``device.simulated_timing``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from npubench.errors import ConfigError

SIM_PREFIX = "sim:"
SPEC_OPTIONS = ("slowdown", "timing", "ram_gb", "fault")
TIMING_MODES = ("measured", "modeled")
SPEC_HINT = ("e.g. --device 'sim:sm8650?slowdown=WORKLOAD[:BACKEND]=1.05' or "
             "'sim:sm8650?timing=modeled' (timing: measured or modeled) or "
             "'sim:sm8650?ram_gb=8' (RAM in GB) or "
             "'sim:sm8650?fault=storage-full,hot=85' (see npubench sim --help)")


@dataclass(frozen=True)
class SimOptions:
    """What a ``sim:`` spec asks for: the profile, slowdown knobs, the timing mode."""

    profile: str
    knobs: list[str] = field(default_factory=list)
    timing: str = "measured"
    ram_gb: float | None = None
    faults: tuple[str, ...] = ()


def serve(profile: str, host: str = "127.0.0.1", port: int = 0, auth: bool = False,
          slowdown: Sequence[str] = (), timing: str = "measured", ram_gb: float | None = None,
          faults: Sequence[str] = ()):
    """Start a simulated phone listening on ``host:port``; the returned handle has ``address``,
    ``describe()``, ``wait()`` and ``stop()``. ``slowdown``: ground-truth knobs
    ``WORKLOAD[:BACKEND]=FACTOR`` (a bad one is a ConfigError). ``timing``: ``measured`` (the
    tools compute on the host CPU) or ``modeled`` (they wait the profile's modeled times).
    ``ram_gb``: the phone's RAM in GB instead of the profile's. ``faults``: ``KNOB[=VALUE]``
    (``devices/sim/fault_knobs.py``; a bad one is a ConfigError)."""
    from npubench.devices.sim import start_sim

    return start_sim(profile, host=host, port=port, auth="verify" if auth else "none",
                     slowdown=slowdown, timing=check_timing(timing), fault_knobs=faults,
                     **({"ram_gb": check_ram_gb(ram_gb)} if ram_gb is not None else {}))


def check_timing(text: str) -> str:
    """``measured`` or ``modeled``; anything else is a ConfigError."""
    mode = str(text).strip().lower()
    if mode not in TIMING_MODES:
        raise ConfigError(f"unknown simulated timing {text!r}: it is measured or modeled",
                          hint=SPEC_HINT)
    return mode


def fault_knobs_help() -> str:
    """The simulated phone's fault knobs, one line each (``npubench sim --help``)."""
    from npubench.devices.sim.fault_knobs import knobs_help

    return knobs_help()


def check_ram_gb(value) -> float:
    """A phone's RAM in GB (1 to 64); anything else is a ConfigError."""
    try:
        gb = float(value)
    except (TypeError, ValueError):
        gb = 0.0
    if not 1 <= gb <= 64:
        raise ConfigError(f"ram_gb={value!r}: a simulated phone's RAM is 1 to 64 GB",
                          hint=SPEC_HINT)
    return gb


def parse_sim_spec(text: str) -> tuple[str, list[str]]:
    """``PROFILE[?slowdown=KNOB[,KNOB...]]`` (what follows ``sim:``) -> (profile, knobs)."""
    options = parse_sim_options(text)
    return options.profile, options.knobs


def parse_sim_options(text: str) -> SimOptions:
    """What follows ``sim:`` -> SimOptions. Options are ``KEY=VALUE`` joined by ``&``; a
    slowdown's knobs are separated by ``,``, and a ``timing=...`` may stand among them."""
    profile, _, query = text.partition("?")
    knobs: list[str] = []
    timing, ram_gb, faults = "measured", None, []
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if key not in SPEC_OPTIONS or not eq:
            raise ConfigError(f"unknown option {part!r} in device sim:{text}", hint=SPEC_HINT)
        items = [k.strip() for k in value.split(",") if k.strip()]
        if key == "timing":
            timing, items = check_timing(items[0] if items else ""), items[1:]
        elif key == "ram_gb":
            ram_gb, items = check_ram_gb(items[0] if items else ""), items[1:]
        for item in items:
            name, eq, rest = item.partition("=")
            if name == "timing" and eq:
                timing = check_timing(rest)
            elif name == "ram_gb" and eq:
                ram_gb = check_ram_gb(rest)
            elif name == "slowdown" and eq:
                knobs.append(rest)
            elif name == "fault" and eq:
                faults.append(rest)
            elif key == "slowdown":
                knobs.append(item)
            elif key == "fault":
                faults.append(item)
            else:
                raise ConfigError(f"unknown option {item!r} in device sim:{text}",
                                  hint=SPEC_HINT)
    if faults:
        from npubench.devices.sim.fault_knobs import parse_fault_knobs

        parse_fault_knobs(faults)  # a bad knob is an error here, before any phone starts
    return SimOptions(profile, knobs, timing, ram_gb, tuple(faults))


def start_sim_device(profile: str):
    """A simulated phone on 127.0.0.1, reached over real ADB on TCP like any phone; it stops
    when the device is closed. ``profile`` may carry ``?slowdown=...&timing=...&fault=...``
    (``parse_sim_options``)."""
    from npubench.devices.android import AndroidDevice
    from npubench.devices.transport import AdbShellTransport

    options = parse_sim_options(profile)
    profile, knobs = options.profile, options.knobs
    server = serve(profile, slowdown=knobs, timing=options.timing, ram_gb=options.ram_gb,
                   faults=options.faults)
    if knobs:
        print(f"npubench-sim: {profile} slowdown knobs (ground truth, the tools report times "
              f"x FACTOR): {server.userland.slowdown.describe()}", file=sys.stderr, flush=True)
    if server.fault_plan:
        print(f"npubench-sim: {profile} faults: {server.fault_plan.describe()}",
              file=sys.stderr, flush=True)
    host, port = server.address
    spec = f"{SIM_PREFIX}{profile}"
    transport = AdbShellTransport("tcp", host, port, name=f"{spec} ({host}:{port})")
    return AndroidDevice(transport, spec, on_close=server.stop)
