"""How npubench reaches adbd: adb-shell over TCP or USB, behind one small interface.

The Android device receives a Transport in its constructor and never opens sockets itself.
adb-shell's ``shell:`` service gives no exit code and merges stderr into stdout; the device
layer adds the exit code (see ``devices.android``). Every call takes a timeout in seconds.
A connection that drops raises ``DeviceLost`` naming the device.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from npubench.errors import DeviceError, DeviceLost

ProgressCallback = Callable[[int, int], None]
"""``(bytes_done, bytes_total)``."""


class Transport(Protocol):
    serial: str
    connected: bool

    def connect(self, timeout_s: float) -> None: ...
    def close(self) -> None: ...
    def shell(self, command: str, timeout_s: float, label: str | None = None) -> bytes: ...
    def streaming_shell(self, command: str, timeout_s: float) -> Iterator[bytes]: ...
    def hold_shell(self, command: str, timeout_s: float) -> HeldShell: ...
    def push(self, local: Path, remote: str, mode: int, timeout_s: float,
             progress: ProgressCallback | None = None) -> None: ...
    def pull(self, remote: str, local: Path, timeout_s: float,
             progress: ProgressCallback | None = None) -> None: ...
    def stat(self, remote: str, timeout_s: float) -> tuple[int, int, int]: ...


def _fast_checksum(data) -> int:
    """adb's 32-bit byte sum, computed with numpy (adb-shell's pure-Python sum costs about
    half of its push time)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data:
        return 0
    return int(np.frombuffer(data, dtype=np.uint8).sum(dtype=np.uint64)) & 0xFFFFFFFF


def _install_fast_checksum() -> None:
    """Give adb-shell the same checksum function, only faster (it looks the name up in its
    modules at call time)."""
    from adb_shell import adb_device, adb_message

    adb_message.checksum = _fast_checksum
    adb_device.checksum = _fast_checksum


class AdbShellTransport:
    """adb-shell speaking to adbd directly: ``tcp`` (host, port) or ``usb`` (serial or None)."""

    def __init__(self, kind: str, address: str | None, port: int | None = None, signer=None,
                 name: str | None = None):
        if kind not in ("tcp", "usb"):
            raise ValueError(f"unknown transport kind {kind!r}")
        self.kind = kind
        self.address = address
        self.port = port
        self.serial = f"{address}:{port}" if kind == "tcp" else (address or "")
        self.name = name or (f"tcp:{self.serial}" if kind == "tcp" else f"usb:{self.serial}")
        """How errors name the device (its spec)."""
        self._signer = signer
        self._device = None

    # --- connection ------------------------------------------------------------------------

    def connect(self, timeout_s: float = 10.0) -> None:
        from adb_shell import exceptions as adb_exc
        from adb_shell.adb_device import AdbDevice

        from npubench.devices.adb_keys import load_signer

        _install_fast_checksum()
        signer = self._signer or load_signer()
        if self.kind == "tcp":
            transport = _TcpTransport(self.address, self.port)
        else:
            transport = _usb_transport(self.address, timeout_s)
        device = AdbDevice(transport=transport)
        try:
            device.connect(rsa_keys=[signer], transport_timeout_s=timeout_s,
                           auth_timeout_s=timeout_s, read_timeout_s=timeout_s)
        except adb_exc.DeviceAuthError:
            device.close()
            raise DeviceError(self.name, "the phone did not authorize this computer",
                              hint="unlock the phone and accept the 'Allow USB debugging?' "
                              "prompt (tick 'Always allow'), then run again") from None
        except (adb_exc.TcpTimeoutException, TimeoutError):
            device.close()
            raise DeviceError(self.name, f"no answer from adbd within {timeout_s:.0f} s",
                              hint="if the phone shows 'Allow USB debugging?', accept it; "
                              "else check the address and that adbd listens there") from None
        except (ConnectionError, OSError) as exc:
            device.close()
            raise DeviceLost(self.name, f"cannot connect: {exc}",
                             hint="is the phone on, reachable, with ADB debugging on?") from None
        except (*_GARBLED, adb_exc.InvalidResponseError, struct.error) as exc:
            device.close()
            raise DeviceError(self.name, "the ADB handshake got a corrupt answer "
                              f"({type(exc).__name__}: {exc})", hint=_GARBLED_HINT) from None
        except Exception as exc:
            if not _from_adb_shell(exc):
                raise
            device.close()
            raise DeviceError(self.name, f"cannot connect ({type(exc).__name__}: {exc})",
                              hint="is the phone on, reachable, with ADB debugging on?") from None
        self._device = device

    def close(self) -> None:
        if self._device is not None:
            try:
                self._device.close()
            finally:
                self._device = None

    @property
    def connected(self) -> bool:
        return self._device is not None and self._device.available

    # --- calls -----------------------------------------------------------------------------

    def shell(self, command: str, timeout_s: float, label: str | None = None) -> bytes:
        return self._call(lambda d: d.shell(command, transport_timeout_s=timeout_s,
                                            read_timeout_s=timeout_s, timeout_s=timeout_s,
                                            decode=False), timeout_s, label or command)

    def streaming_shell(self, command: str, timeout_s: float) -> Iterator[bytes]:
        device = self._require()
        stream = device.streaming_shell(command, transport_timeout_s=timeout_s,
                                        read_timeout_s=timeout_s, decode=False)
        while True:
            try:
                chunk = self._call(lambda _d: next(stream, None), timeout_s, command)
            except StopIteration:
                return
            if chunk is None:
                return
            yield chunk

    def hold_shell(self, command: str, timeout_s: float) -> HeldShell:
        """Start ``command`` and keep its stream open without reading it to the end: the
        command's stdin stays the open stream until ``HeldShell.close()``, or until this
        connection goes away (the process driving it died, the cable was pulled), when adbd
        hangs the command up. Returns once the command printed its first output."""
        from adb_shell import constants

        def open_held(device) -> tuple[object, bytes, bool]:
            info = device._open(b"shell:" + command.encode(), timeout_s, timeout_s, None)
            cmd, data = device._read_until([constants.CLSE, constants.WRTE], info)
            return info, (data if cmd == constants.WRTE else b""), cmd == constants.CLSE

        device = self._require()
        info, first, ended = self._call(open_held, timeout_s, command)
        return HeldShell(self, device, info, first, ended)

    def push(self, local: Path, remote: str, mode: int, timeout_s: float,
             progress: ProgressCallback | None = None) -> None:
        callback = _progress_adapter(progress, Path(local).stat().st_size)
        self._call(lambda d: d.push(str(local), remote, st_mode=0o100000 | mode,
                                    progress_callback=callback,
                                    transport_timeout_s=timeout_s, read_timeout_s=timeout_s),
                   timeout_s, f"push {remote}")

    def pull(self, remote: str, local: Path, timeout_s: float,
             progress: ProgressCallback | None = None) -> None:
        callback = _progress_adapter(progress, None)
        self._call(lambda d: d.pull(remote, str(local), progress_callback=callback,
                                    transport_timeout_s=timeout_s, read_timeout_s=timeout_s),
                   timeout_s, f"pull {remote}")

    def stat(self, remote: str, timeout_s: float) -> tuple[int, int, int]:
        return self._call(lambda d: d.stat(remote, transport_timeout_s=timeout_s,
                                           read_timeout_s=timeout_s), timeout_s, f"stat {remote}")

    def _require(self):
        if self._device is None:
            raise DeviceLost(self.name, "not connected")
        return self._device

    def _call(self, fn, timeout_s: float, what: str):
        from adb_shell import exceptions as adb_exc

        device = self._require()
        try:
            return fn(device)
        except _PeerClosed:
            self.close()
            raise DeviceLost(
                self.name, f"the connection dropped during '{_short(what)}'",
                hint="check the cable or network; the phone may have rebooted",
            ) from None
        except (adb_exc.TcpTimeoutException, adb_exc.AdbTimeoutError, TimeoutError) as exc:
            self.close()  # the stream state is unknown now: start afresh on the next call
            raise DeviceError(self.name, f"'{_short(what)}' timed out after {timeout_s:g} s "
                              f"({exc})") from None
        except (adb_exc.UsbReadFailedError, adb_exc.UsbWriteFailedError, ConnectionError,
                OSError) as exc:
            self.close()
            raise DeviceLost(self.name, f"the connection failed during '{_short(what)}': "
                             f"{exc}") from None
        except (adb_exc.AdbCommandFailureException, adb_exc.PushFailedError,
                adb_exc.InvalidResponseError) as exc:
            raise DeviceError(self.name, f"'{_short(what)}' failed: {exc}") from None
        except (*_GARBLED, struct.error) as exc:
            self.close()  # a packet came back corrupt: the stream is out of step, start afresh
            raise DeviceError(self.name, f"'{_short(what)}' got a corrupt ADB packet "
                              f"({type(exc).__name__}: {exc})", hint=_GARBLED_HINT) from None
        except Exception as exc:
            if not _from_adb_shell(exc):
                raise
            self.close()
            raise DeviceError(self.name, f"'{_short(what)}' failed in adb-shell "
                              f"({type(exc).__name__}: {exc})") from None


class HeldShell:
    """A command whose ADB stream is kept open (``AdbShellTransport.hold_shell``): ``first`` is
    its first output; ``alive`` says whether the stream still stands (False once this side
    closed it or the connection it was opened on is gone)."""

    def __init__(self, transport: AdbShellTransport, device, info, first: bytes, ended: bool):
        self._transport, self._device, self._info = transport, device, info
        self.first = first
        self._ended = ended

    @property
    def alive(self) -> bool:
        return (not self._ended and self._transport._device is self._device
                and self._device.available)

    def close(self) -> None:
        """Close the stream (adbd then hangs the command up). Never raises."""
        if not self.alive:
            self._ended = True
            return
        self._ended = True
        try:
            from adb_shell import constants
            from adb_shell.adb_message import AdbMessage

            info = self._info
            self._device._io_manager.send(
                AdbMessage(constants.CLSE, info.local_id, info.remote_id), info)
        except Exception:  # the connection is going anyway: adbd hangs up on its own
            pass


def _garbled_errors() -> tuple[type[Exception], ...]:
    from adb_shell import exceptions as adb_exc

    return (adb_exc.InvalidChecksumError, adb_exc.InvalidCommandError,
            adb_exc.InvalidTransportError, adb_exc.AdbConnectionError)


_GARBLED = _garbled_errors()
"""adb-shell's errors for a packet that is not what the protocol allows."""
_GARBLED_HINT = ("the connection was closed and reopens on the next command; if this repeats, "
                 "try another cable or USB port, or restart adbd (`adb reconnect`)")


def _from_adb_shell(exc: BaseException) -> bool:
    """Whether ``exc`` is one of adb-shell's own exceptions (none may reach the user raw)."""
    return type(exc).__module__.startswith("adb_shell")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _progress_adapter(progress: ProgressCallback | None, total: int | None):
    if progress is None:
        return None
    done = 0

    def callback(_path, chunk: int, size: int) -> None:
        nonlocal done
        done += chunk
        progress(done, total or size)

    return callback


class _PeerClosed(ConnectionError):
    """adbd closed the TCP connection (adb-shell would spin on empty reads until a timeout)."""


def _tcp_transport_base():
    from adb_shell.transport.tcp_transport import TcpTransport

    return TcpTransport


class _TcpTransport(_tcp_transport_base()):
    """adb-shell's TCP transport with TCP_NODELAY, and a closed peer reported at once."""

    def connect(self, transport_timeout_s):
        super().connect(transport_timeout_s)
        self._connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def bulk_read(self, numbytes, transport_timeout_s):
        data = super().bulk_read(numbytes, transport_timeout_s)
        if not data:
            raise _PeerClosed(f"{self._host}:{self._port} closed the connection")
        return data


def _usb_transport(serial: str | None, timeout_s: float):
    """adb-shell's USB transport for ``serial`` (or the only phone), with the errors a user
    meets explained: no libusb, no phone, or a phone held by a running adb server."""
    try:
        from adb_shell.transport.usb_transport import UsbTransport
    except (ImportError, OSError) as exc:
        raise DeviceError(f"usb:{serial or '?'}", f"USB support is not available: {exc}",
                          hint="pip install 'adb-shell[usb]' and install libusb-1.0") from None
    from adb_shell import exceptions as adb_exc

    try:
        return UsbTransport.find_adb(serial=serial, default_transport_timeout_s=timeout_s)
    except adb_exc.UsbDeviceNotFoundError:
        raise DeviceLost(f"usb:{serial or '?'}", "no such phone on USB",
                         hint="check the cable, and that USB debugging is on") from None
    except Exception as exc:
        if "BUSY" in str(exc).upper() or "ACCESS" in str(exc).upper():
            raise DeviceError(
                f"usb:{serial or '?'}",
                "the phone's USB interface is held by another program (a running adb "
                "server claims every phone it sees)",
                hint="run `adb kill-server` and try again, or reach the phone over TCP "
                "(`adb tcpip 5555`, then --device tcp:PHONE_IP:5555)",
            ) from None
        raise DeviceError(f"usb:{serial or '?'}",
                          f"cannot open the phone over USB ({type(exc).__name__}: {exc})",
                          hint="check the cable, and that USB debugging is on") from None
