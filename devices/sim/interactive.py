"""``adb shell`` with no command: a small interactive shell.

With a pty (the host's stdin is a terminal, in raw mode) keystrokes arrive one by one and the
device does what a pty line discipline and mksh would: echo, backspace, Ctrl-C, Ctrl-D, a
prompt, ``\\n`` turned into ``\\r\\n`` on output (stdout and stderr both go to the pty), and
keys typed while a command runs go to its stdin. Without a pty (``echo ls | adb shell``) stdin
is a script: no echo, no prompt, one command per line, stdout and stderr kept apart.
``exit [N]``, Ctrl-D on an empty line or the end of stdin ends the session with that status.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from npubench.devices.sim import protocol as p
from npubench.devices.sim.process import EXIT, STDERR, ShellProcess

if TYPE_CHECKING:
    from npubench.devices.sim.services import Userland
    from npubench.devices.sim.stream import Stream

_CTRL_C, _CTRL_D, _ESC, _BACKSPACES = 0x03, 0x04, 0x1B, (0x08, 0x7F)


class InteractiveShell:
    def __init__(self, stream: Stream, userland: Userland, v2: bool, pty: bool):
        self._stream = stream
        self._userland = userland
        self._v2 = v2
        self._pty = pty
        self._reader = p.shell_v2_reader() if v2 else None
        self._line = bytearray()
        self._escape = 0  # 1 after ESC, 2 inside ESC [ ... (arrow keys: ignored)
        self._pending: deque[str] = deque()
        self._running: ShellProcess | None = None
        self._eof = False
        self._ended = False
        self._status = 0
        self._lock = stream.conn.lock  # on_data runs under it: one lock, no ordering issue
        device = userland.banner_props().get("ro.product.device", "sim")
        self._prompt = f"{device}:/ # ".encode() if pty else b""

    def start(self) -> None:
        self._echo(self._prompt)

    def on_data(self, data: bytes) -> None:
        if self._reader is None:
            self._keys(bytes(data))
            return
        for packet_id, _length, payload in self._reader.feed(data):
            if packet_id == p.SHELL_STDIN:
                self._keys(bytes(payload))
            elif packet_id == p.SHELL_CLOSE_STDIN:
                self._end_of_input()

    def on_close(self) -> None:
        with self._lock:
            self._ended = True
            if self._running is not None:
                self._running.hangup()

    # --- keys ----------------------------------------------------------------------------------

    def _keys(self, data: bytes) -> None:
        with self._lock:
            for byte in data:
                if self._pty and self._running is not None:
                    self._key_to_command(self._running, byte)
                else:
                    self._key(byte)

    def _key_to_command(self, proc: ShellProcess, byte: int) -> None:
        if byte == _CTRL_C:
            self._echo(b"^C\r\n")
            proc.kill()
        elif byte == _CTRL_D:
            proc.close_stdin()
        else:
            char = b"\n" if byte == 0x0D else bytes([byte])
            self._echo(b"\r\n" if char == b"\n" else char)
            proc.write_stdin(char)

    def _key(self, byte: int) -> None:
        if self._escape == 1:
            self._escape = 2 if byte == ord("[") else 0
        elif self._escape == 2:
            self._escape = 0 if 0x40 <= byte <= 0x7E else 2
        elif byte == _ESC and self._pty:
            self._escape = 1
        elif byte in (0x0D, 0x0A):
            self._echo(b"\r\n")
            self._pending.append(self._line.decode("utf-8", "replace"))
            self._line.clear()
            self._run_next()
        elif byte in _BACKSPACES and self._pty:
            if self._line:
                del self._line[-1]
                self._echo(b"\b \b")
        elif byte == _CTRL_C and self._pty:
            self._line.clear()
            self._echo(b"^C\r\n" + self._prompt)
        elif byte == _CTRL_D and self._pty:
            if not self._line:
                self._end_of_input()
        else:
            self._line.append(byte)
            self._echo(bytes([byte]))

    def _end_of_input(self) -> None:
        with self._lock:
            if self._line:
                self._pending.append(self._line.decode("utf-8", "replace"))
                self._line.clear()
            self._eof = True
            self._run_next()

    # --- commands ------------------------------------------------------------------------------

    def _run_next(self) -> None:
        """Start the next pending line when no command runs; end after the last one at EOF."""
        with self._lock:
            while self._running is None and not self._ended:
                if not self._pending:
                    if self._eof:
                        self._exit(self._status)
                    return
                line = self._pending.popleft().strip()
                words = line.split()
                if not words:
                    self._echo(self._prompt)
                elif words[0] == "exit":
                    self._exit(int(words[1]) if len(words) > 1 and words[1].isdigit()
                               else self._status)
                else:
                    self._running = self._userland.start(line)
                    threading.Thread(target=self._pump, args=(self._running,), daemon=True,
                                     name=f"adbd-sh:{line[:24]}").start()

    def _pump(self, proc: ShellProcess) -> None:
        while not self._stream.closed:
            event = proc.next_event(0.2)
            if event is None:
                continue
            kind, value = event
            if kind == EXIT:
                self._status = int(value)
                break
            self._out(bytes(value), stderr=kind == STDERR)
            self._stream.wait_drained(4 * self._stream.max_payload)
        with self._lock:
            self._running = None
            self._echo(self._prompt)
            self._run_next()

    # --- output --------------------------------------------------------------------------------

    def _echo(self, data: bytes) -> None:
        if self._pty:
            self._out(data, translate=False)

    def _out(self, data: bytes, stderr: bool = False, translate: bool = True) -> None:
        if not data or self._ended:
            return
        if self._pty:  # the pty merges stderr into stdout and maps \n to \r\n (onlcr)
            data, stderr = data.replace(b"\n", b"\r\n") if translate else data, False
        if self._v2:
            data = p.shell_packet(p.SHELL_STDERR if stderr else p.SHELL_STDOUT, data)
        self._stream.write(data)

    def _exit(self, code: int) -> None:
        if self._ended:
            return
        if self._v2:
            self._stream.write(p.shell_exit_packet(code))
        self._ended = True
        self._stream.finish()
