"""What a command on the simulated phone sees: its argv, streams (stdin, stdout, stderr),
environment and the shell it runs in; and the exceptions that unwind a command line."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from npubench.devices.sim.interp import Shell
    from npubench.devices.sim.userland import Userland

Command = Callable[["Invocation"], "int | None"]
"""A command: returns its exit status (None: 0)."""


class Killed(Exception):
    """The command line was killed (the ADB stream closed): unwind everything."""


class ExitShell(Exception):
    """``exit N``: unwind to the end of the command line (or of the ``( ... )``)."""

    def __init__(self, code: int):
        self.code = code


class TimedOut(Exception):
    """A ``timeout`` deadline passed: unwind to the ``timeout`` command."""


# --- streams -----------------------------------------------------------------------------------

class Source:
    """Standard input: bytes given up front, or the ADB stream's stdin."""

    def __init__(self, data: bytes = b"", proc=None):
        self._buf = bytearray(data)
        self._proc = proc  # read more from proc.read_stdin() until b"" (EOF)

    def _fill(self, sh: Shell) -> bool:
        while self._proc is not None:
            sh.check()
            chunk = self._proc.read_stdin(0.1)
            if chunk is None:
                continue
            if chunk == b"":
                self._proc = None
                return False
            self._buf += chunk
            return True
        return False

    def read_all(self, sh: Shell) -> bytes:
        while self._fill(sh):
            pass
        data, self._buf = bytes(self._buf), bytearray()
        return data

    def readline(self, sh: Shell) -> bytes:
        while b"\n" not in self._buf and self._fill(sh):
            pass
        end = self._buf.find(b"\n")
        end = len(self._buf) if end < 0 else end + 1
        line, self._buf = bytes(self._buf[:end]), self._buf[end:]
        return line


class Sink:
    """Standard output or error: collected in ``data``, or passed to ``write``."""

    def __init__(self, write: Callable[[bytes], object] | None = None,
                 close: Callable[[], object] | None = None):
        self._write = write
        self._close = close
        self.data = bytearray()

    def close(self) -> None:
        if self._close is not None:
            self._close()

    def write(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        if self._write is None:
            self.data += data
        else:
            self._write(data)


NULL = Sink(lambda data: None)


@dataclass
class IO:
    stdin: Source
    out: Sink
    err: Sink


@dataclass
class Invocation:
    """What a command gets: its argv, streams, environment and the shell it runs in."""

    argv: list[str]
    io: IO
    sh: Shell
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return posixpath.basename(self.argv[0])

    @property
    def args(self) -> list[str]:
        return self.argv[1:]

    @property
    def userland(self) -> Userland:
        return self.sh.userland

    def out(self, data: bytes | str) -> None:
        self.io.out.write(data)

    def err(self, data: bytes | str) -> None:
        self.io.err.write(data)

    def error(self, message: str) -> int:
        """Write ``name: message`` to stderr (toybox style); returns 1."""
        self.err(f"{self.name}: {message}\n")
        return 1

    def path(self, path: str) -> str:
        return self.sh.userland.fs.normalize(path, self.sh.cwd)

    def stdin(self) -> bytes:
        return self.io.stdin.read_all(self.sh)
