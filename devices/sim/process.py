"""A command running on the simulated phone, as the ADB server sees it.

The userland produces output events (``emit``) and an exit code (``finish``) from a thread;
the ADB server consumes them (``next_event``) and forwards stdin (``write_stdin``). ``kill``
asks the command to stop; long-running commands poll ``killed``. ``hangup`` is what adbd does
when the host closes the stream or the connection drops: it sends SIGHUP to the shell and
closes its stdin and stdout. A shell that ignores SIGHUP (``trap '' HUP``) runs on and reads
end of input; any other dies of it, as if killed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

STDOUT, STDERR, EXIT = "stdout", "stderr", "exit"


class ShellProcess:
    def __init__(self, command: str):
        self.command = command
        self.exit_code: int | None = None
        self._events: queue.Queue = queue.Queue()
        self._stdin: queue.Queue = queue.Queue()
        self._killed = threading.Event()
        self._thread: threading.Thread | None = None
        self.ignores_hup = False
        """Set by ``trap '' HUP`` in the command line: a hang-up then only closes stdin."""
        self.hung_up = False

    # --- the userland's side ---------------------------------------------------------------

    def emit(self, stream: str, data: bytes) -> None:
        if data:
            self._events.put((stream, bytes(data)))

    def finish(self, exit_code: int) -> None:
        if self.exit_code is None:
            self.exit_code = exit_code
            self._events.put((EXIT, exit_code))

    @property
    def killed(self) -> bool:
        return self._killed.is_set()

    def wait_killed(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``; True as soon as the command was killed (for ``sleep``)."""
        return self._killed.wait(timeout_s)

    def read_stdin(self, timeout_s: float | None = None) -> bytes | None:
        """Next chunk of stdin; b"" at end of input; None on timeout."""
        try:
            return self._stdin.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def run_in_thread(self, body: Callable[[ShellProcess], int]) -> ShellProcess:
        """Run ``body(self)`` on a daemon thread; its return value is the exit code. An
        exception becomes exit code 1 with the message on stderr, like a crashing program."""

        def main() -> None:
            try:
                code = body(self)
            except Exception as exc:  # the simulated program crashed: report, do not die
                self.emit(STDERR, f"{type(exc).__name__}: {exc}\n".encode())
                code = 1
            self.finish(137 if self.killed and code is None else int(code or 0))

        self._thread = threading.Thread(target=main, name=f"sim:{self.command[:30]}",
                                        daemon=True)
        self._thread.start()
        return self

    # --- the ADB server's side -------------------------------------------------------------

    def next_event(self, timeout_s: float | None = None) -> tuple[str, bytes | int] | None:
        """``(STDOUT|STDERR, bytes)`` or ``(EXIT, code)``; None when nothing came in time."""
        try:
            return self._events.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def write_stdin(self, data: bytes) -> None:
        self._stdin.put(bytes(data))

    def close_stdin(self) -> None:
        self._stdin.put(b"")

    def kill(self) -> None:
        self._killed.set()
        self.close_stdin()

    def hangup(self) -> None:
        """The host closed the stream (or the connection went away): SIGHUP, stdin closed."""
        if self.hung_up:
            return
        self.hung_up = True
        if self.ignores_hup:
            self.close_stdin()
        else:
            self.kill()

    def join(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)
