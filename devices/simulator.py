"""The one door from the rest of npubench to the simulated phone (``devices/sim``): start one,
as a server (``npubench sim``) or as a device (``--device sim:PROFILE``). Everything else reaches
a simulated phone exactly as a real one, over ADB."""

from __future__ import annotations

SIM_PREFIX = "sim:"


def serve(profile: str, host: str = "127.0.0.1", port: int = 0, auth: bool = False):
    """Start a simulated phone listening on ``host:port``; the returned handle has ``address``,
    ``describe()``, ``wait()`` and ``stop()``."""
    from npubench.devices.sim import start_sim

    return start_sim(profile, host=host, port=port, auth="verify" if auth else "none")


def start_sim_device(profile: str):
    """A simulated phone on 127.0.0.1, reached over real ADB on TCP like any phone; it stops
    when the device is closed."""
    from npubench.devices.android import AndroidDevice
    from npubench.devices.transport import AdbShellTransport

    server = serve(profile)
    host, port = server.address
    spec = f"{SIM_PREFIX}{profile}"
    transport = AdbShellTransport("tcp", host, port, name=f"{spec} ({host}:{port})")
    return AndroidDevice(transport, spec, on_close=server.stop)
