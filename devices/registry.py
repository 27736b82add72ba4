"""Device specs -> devices (DESIGN.md, Words):

``host``; ``SERIAL`` or ``usb:SERIAL`` (a phone on USB); ``tcp:HOST:PORT`` (adbd over TCP: Wi-Fi
debugging, a farm's remote endpoint, or a simulated phone); ``sim:PROFILE`` (a simulated phone
started inside this process). ``ANDROID_SERIAL`` is honoured as adb does.
"""

from __future__ import annotations

import os

from npubench.errors import ConfigError, DeviceError

SIM_PREFIX, TCP_PREFIX, USB_PREFIX = "sim:", "tcp:", "usb:"


def resolve_device(spec: str | None, connect: bool = True):
    """The device a spec names. None means: ``$ANDROID_SERIAL``, else the one phone attached
    on USB, else this host. Several phones and none named is an error listing them."""
    from npubench.devices.host import HostDevice

    spec = (spec or os.environ.get("ANDROID_SERIAL") or "").strip()
    if not spec:
        phones = usb_serials()
        if len(phones) > 1:
            raise ConfigError(
                f"{len(phones)} phones are attached: {', '.join(phones)}",
                hint="choose one with --device SERIAL (or set ANDROID_SERIAL)",
            )
        spec = phones[0] if phones else "host"
    if spec == "host":
        return HostDevice()
    device = _android(spec)
    if connect:
        try:
            device.connect()
        except BaseException:
            device.close()
            raise
    return device


def _android(spec: str):
    from npubench.devices.android import AndroidDevice
    from npubench.devices.transport import AdbShellTransport

    if spec.startswith(SIM_PREFIX):
        from npubench.devices.simulator import start_sim_device

        return start_sim_device(spec[len(SIM_PREFIX):])
    if spec.startswith(TCP_PREFIX):
        host, port = parse_host_port(spec[len(TCP_PREFIX):])
        return AndroidDevice(AdbShellTransport("tcp", host, port, name=spec), spec)
    serial = spec[len(USB_PREFIX):] if spec.startswith(USB_PREFIX) else spec
    if ":" in serial and serial.rsplit(":", 1)[1].isdigit():
        host, port = parse_host_port(serial)  # what `adb devices` prints for TCP phones
        return AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{serial}")
    return AndroidDevice(AdbShellTransport("usb", serial or None), f"usb:{serial or '?'}")


def parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"device address {text!r} is not HOST:PORT",
                          hint="e.g. --device tcp:192.168.1.20:5555")
    return host.strip("[]"), int(port)


def usb_serials() -> list[str]:
    """Serials of the phones on USB with ADB on (empty when USB support is missing)."""
    try:
        from adb_shell.transport.usb_transport import UsbTransport
    except (ImportError, OSError):
        return []
    try:
        return sorted(t.serial_number for t in UsbTransport.find_all_adb_devices())
    except Exception:  # no libusb, no permission to enumerate: nothing we can reach anyway
        return []


def available_devices(extra_specs: list[str] | None = None) -> list:
    """This host, the phones on USB, and the devices named with ``--device``."""
    from npubench.devices.host import HostDevice

    devices: list = [HostDevice()]
    for serial in usb_serials():
        devices.append(_connected_or_error(f"usb:{serial}"))
    for spec in extra_specs or []:
        devices.append(_connected_or_error(spec) if spec != "host" else HostDevice())
    return devices


def _connected_or_error(spec: str):
    """A connected device, or an ``Unreachable`` entry that says why (listing never dies on
    one bad phone)."""
    try:
        return resolve_device(spec)
    except DeviceError as exc:
        return Unreachable(spec, str(exc))


class Unreachable:
    """A device that was named or seen but could not be reached; listed with the reason."""

    def __init__(self, spec: str, reason: str):
        self.spec = spec
        self.reason = reason

    def close(self) -> None:
        pass
