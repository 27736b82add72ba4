"""Start a simulated phone: an emulated userland for a SoC profile behind the ADB server."""

from __future__ import annotations

import posixpath
import sys
import threading
from collections.abc import Iterable

from npubench.devices.sim.adbd import SimAdbServer
from npubench.devices.sim.fault_knobs import FaultPlan, parse_fault_knobs
from npubench.devices.sim.faults import Faults
from npubench.devices.sim.slowdown import parse_knobs
from npubench.devices.sim.timing import check_mode
from npubench.devices.sim.userland import Userland


class SimPhone:
    """A running simulated phone. ``stop()`` closes the server and removes its storage."""

    def __init__(self, userland: Userland, server: SimAdbServer,
                 fault_plan: FaultPlan | None = None):
        self.userland = userland
        self.server = server
        self.fault_plan = fault_plan or FaultPlan()
        """The faults it was started with (``fault_knobs``)."""
        self._stopped = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    @property
    def serial(self) -> str:
        return self.server.serial

    @property
    def faults(self) -> Faults:
        return self.server.faults

    @property
    def stats(self):
        return self.server.stats

    def describe(self) -> str:
        """What this phone is and what it has installed, for a person to read."""
        props = self.userland.banner_props()
        tools = sorted({posixpath.dirname(path) if "/lib/" in path or "/qnn/" in path else path
                        for path in self.userland.preinstalled})
        slowdown = self.userland.slowdown
        numbers = "modeled" if self.userland.timing.modeled else "the host's"
        return (f"simulated phone '{self.userland.profile.name}' ({props.get('ro.product.model')}"
                f", not a real phone; its numbers are {numbers}) "
                f"listening on {self.address[0]}:{self.address[1]}\n"
                f"tools installed on it: {', '.join(tools)}"
                + (f"\nslowdown knobs (ground truth, the tools report times x FACTOR): "
                   f"{slowdown.describe()}" if slowdown else "")
                + f"\ntiming: {self.userland.timing.describe()}"
                + (f"\nfaults: {self.fault_plan.describe()}" if self.fault_plan else ""))

    def wait(self) -> None:
        """Block until ``stop()`` (for ``npubench sim`` in the foreground)."""
        while not self._stopped.wait(0.5):
            pass

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            try:
                self.server.stop()
            finally:
                self.userland.close()

    def __enter__(self) -> SimPhone:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sim(profile: str = "sm8650", host: str = "127.0.0.1", port: int = 0,
              auth: str = "none", faults: Faults | None = None,
              slowdown: Iterable[str] = (), timing: str = "measured",
              ram_gb: float | None = None, fault_knobs: Iterable[str] = (),
              **server_options) -> SimPhone:
    """Start a simulated phone with ``profile`` (e.g. ``sm8650``, ``mt6989``) listening on
    ``host:port`` (127.0.0.1 and a free port by default). ``slowdown``: ground-truth knobs
    ``WORKLOAD[:BACKEND]=FACTOR`` (``slowdown.py``); a bad one is a ConfigError. ``timing``:
    ``measured`` (host work) or ``modeled`` (the tools wait modeled times, ``timing.py``).
    ``ram_gb``: the phone's RAM instead of the profile's (``profiles.with_ram``).
    ``fault_knobs``: ``KNOB[=VALUE]`` faults set from the start (``fault_knobs.py``), on top of
    ``faults``."""
    knobs = parse_knobs(slowdown)
    mode = check_mode(timing)
    plan = parse_fault_knobs(fault_knobs)
    if plan:
        faults = plan.faults(faults)
    if ram_gb is not None:
        from npubench.devices.sim.profiles import load_profile, with_ram

        profile = with_ram(load_profile(profile), ram_gb)
    userland = Userland(profile)
    userland.slowdown = knobs
    userland.set_timing(mode)
    plan.apply(userland)
    if userland.timing.modeled:
        print(f"npubench-sim: {userland.profile.name} timing {userland.timing.describe()}",
              file=sys.stderr, flush=True)
    server = SimAdbServer(userland, host=host, port=port, auth=auth, faults=faults,
                          **server_options)
    try:
        server.start()
    except BaseException:
        userland.close()
        raise
    return SimPhone(userland, server, plan)
