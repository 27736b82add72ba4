"""What runs behind an ADB stream on the simulated phone: shell (v1 and v2), exec, root, reboot.

A service gets a :class:`devices.sim.adbd.Stream` to write to; the connection calls
``start()`` once the host has the stream's OKAY, ``on_data()`` for every WRTE payload and
``on_close()`` when the host closed the stream or the connection went away. The sync service
lives in :mod:`devices.sim.sync_service`.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Protocol

from npubench.devices.sim import protocol as p
from npubench.devices.sim.interactive import InteractiveShell
from npubench.devices.sim.process import EXIT, STDERR, ShellProcess
from npubench.devices.sim.sync_service import SyncService

if TYPE_CHECKING:
    from npubench.devices.sim.stream import Stream

log = logging.getLogger(__name__)

ROOT_MESSAGE = b"adbd is already running as root\n"
_EVENT_POLL_S = 0.2


class Service(Protocol):
    def start(self) -> None: ...
    def on_data(self, data: bytes) -> None: ...
    def on_close(self) -> None: ...


class Userland(Protocol):
    """What the ADB server needs from the emulated userland."""

    fs: object

    def start(self, command: str) -> ShellProcess: ...
    def banner_props(self) -> dict[str, str]: ...


def open_service(name: str, stream: Stream, userland: Userland) -> Service | None:
    """The service for an OPEN payload, or None to refuse it (the host gets ``CLSE(0, h)``)."""
    shell = p.parse_shell_service(name)
    if shell is not None and not shell.command:
        return InteractiveShell(stream, userland, v2=shell.v2, pty=shell.pty)
    if shell is not None:
        return ShellService(stream, userland, shell.command, v2=shell.v2)
    if name.startswith("exec:"):
        return ShellService(stream, userland, name[len("exec:"):], v2=False)
    if name == "sync:":
        return SyncService(stream, userland.fs)
    if name == "root:":
        return TextService(stream, ROOT_MESSAGE)
    if name.startswith("reboot:"):
        return RebootService(stream, userland, name[len("reboot:"):])
    return None


class TextService:
    """Answers a fixed text, then closes (``root:``)."""

    def __init__(self, stream: Stream, text: bytes):
        self._stream = stream
        self._text = text

    def start(self) -> None:
        self._stream.write(self._text)
        self._stream.finish()

    def on_data(self, data: bytes) -> None:
        pass

    def on_close(self) -> None:
        pass


class RebootService(TextService):
    """``reboot:[target]``: the phone goes away, so the TCP connection drops soon after."""

    def __init__(self, stream: Stream, userland: Userland, target: str):
        super().__init__(stream, b"")
        self._userland = userland
        self._target = target

    def start(self) -> None:
        reboot = getattr(self._userland, "reboot", None)
        if callable(reboot):
            reboot(self._target)
        super().start()
        self._stream.drop_connection_soon(0.05)


class ShellService:
    """``shell:CMD``/``exec:CMD`` (raw: stdout and stderr merged, no exit code) or
    ``shell,v2,...:CMD`` (packets: stdout 1, stderr 2, exit 3; stdin 0 and close-stdin 4 from
    the host). Output events of the process are batched into WRTEs of at most maxdata."""

    def __init__(self, stream: Stream, userland: Userland, command: str, v2: bool):
        self._stream = stream
        self._userland = userland
        self._command = command
        self._v2 = v2
        self._reader = p.shell_v2_reader() if v2 else None
        self._proc: ShellProcess | None = None

    def start(self) -> None:
        try:
            proc = self._userland.start(self._command)
        except Exception as exc:  # a userland bug must not kill the connection
            log.exception("userland failed to start %r", self._command)
            proc = ShellProcess(self._command)
            proc.emit(STDERR, f"sh: {exc}\n".encode())
            proc.finish(127)
        self._proc = proc
        threading.Thread(target=self._pump, name=f"adbd-shell:{self._command[:24]}",
                         daemon=True).start()

    def on_data(self, data: bytes) -> None:
        if self._reader is None:
            self._stdin(data)
            return
        for packet_id, _length, payload in self._reader.feed(data):
            if packet_id == p.SHELL_STDIN:
                self._stdin(payload)
            elif packet_id == p.SHELL_CLOSE_STDIN:
                self._stdin(None)
            # window-size (5) and unknown ids: ignored, as adbd does in raw mode

    def _stdin(self, data: bytes | None) -> None:
        if self._proc is None:  # on_data only comes after start(), under the same lock
            return
        if data is None:
            self._proc.close_stdin()
        elif data:
            self._proc.write_stdin(data)

    def on_close(self) -> None:
        if self._proc is not None:
            self._proc.hangup()

    def _pump(self) -> None:
        proc, stream = self._proc, self._stream
        assert proc is not None
        limit = stream.max_payload
        while not stream.closed:
            event = proc.next_event(_EVENT_POLL_S)
            if event is None:
                continue
            out = bytearray()
            exited = False
            while event is not None:
                kind, value = event
                if kind == EXIT:
                    if self._v2:
                        out += p.shell_exit_packet(int(value))
                    exited = True
                    break
                if self._v2:
                    kind_id = p.SHELL_STDERR if kind == STDERR else p.SHELL_STDOUT
                    out += p.shell_packet(kind_id, bytes(value))
                else:
                    out += value
                if len(out) >= limit:
                    break
                event = proc.next_event(0)
            if out:
                stream.write(bytes(out))
            if exited:
                stream.finish()
                return
            stream.wait_drained(4 * limit)
        proc.hangup()
