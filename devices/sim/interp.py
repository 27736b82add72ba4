"""The interpreter behind ``devices/sim/shell.py``: redirection, pipes, control flow,
background jobs and command lookup. The vocabulary is documented in shell.py."""

from __future__ import annotations

import errno
import posixpath
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from npubench.devices.sim import shell as syntax
from npubench.devices.sim.cmdio import (
    IO,
    NULL,
    Command,
    ExitShell,
    Invocation,
    Killed,
    Sink,
    Source,
    TimedOut,
)
from npubench.devices.sim.expand import Expander
from npubench.devices.sim.shell import SH, ShellSyntaxError

if TYPE_CHECKING:
    from npubench.devices.sim.userland import Userland

SYSTEM_DIRS = ("/system/bin", "/system/xbin", "/vendor/bin", "/bin")


# --- the shell ---------------------------------------------------------------------------------

class Shell(Expander):
    def __init__(self, userland: Userland, io: IO, stopped: Callable[[float], bool],
                 pid: int, env: dict[str, str] | None = None, cwd: str = "/",
                 params: list[str] | None = None, process=None):
        self.userland = userland
        self.process = process  # the ShellProcess of the command line (``trap`` sets its signals)
        self.traps: dict[str, str] = {}  # signal name -> action ('' ignores it)
        self.io = io
        self._stopped = stopped  # stopped(timeout_s): wait up to timeout_s, True once killed
        self.pid = pid
        self.vars = dict(env if env is not None else userland.default_env())
        self.cwd = cwd
        self.params = list(params or [])
        self.arg0 = SH
        self.status = 0
        self.deadlines: list[float] = []
        self.last_bg = 0
        self.affinity: int | None = None  # CPU mask from taskset, for tools that care
        self._jobs: list[threading.Thread] = []

    # --- control ---------------------------------------------------------------------------

    def check(self) -> None:
        """Raise when killed or a timeout passed (long-running commands call this often)."""
        if self._stopped(0):
            raise Killed()
        if self.deadlines and time.monotonic() >= self.deadlines[-1]:
            raise TimedOut()

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + max(seconds, 0.0)
        while True:
            self.check()
            now = time.monotonic()
            if now >= end:
                return
            wait = min(end, *self.deadlines) - now if self.deadlines else end - now
            if wait > 0 and self._stopped(min(wait, 1.0)):
                raise Killed()

    def run(self, source: str) -> int:
        """Parse and run a command line; returns the exit status (``exit`` included)."""
        try:
            tree = syntax.parse(source)
        except ShellSyntaxError as exc:
            self.io.err.write(f"{SH}: syntax error: {exc}\n")
            return 1
        try:
            self.status = self.execute(tree, self.io)
        except ExitShell as exc:
            self.status = exc.code
        except ShellSyntaxError as exc:
            self.io.err.write(f"{SH}: {exc}\n")
            self.status = 1
        for job in self._jobs:
            while job.is_alive():
                job.join(0.1)
                self.check()
        return self.status

    def subshell(self, io: IO) -> Shell:
        sub = Shell(self.userland, io, self._stopped, self.pid, self.vars, self.cwd, self.params,
                    self.process)
        sub.status, sub.deadlines, sub.affinity = self.status, self.deadlines, self.affinity
        sub.arg0, sub.traps = self.arg0, self.traps
        return sub

    # --- execution -------------------------------------------------------------------------

    def execute(self, node, io: IO) -> int:
        self.check()
        if isinstance(node, syntax.Sequence):
            for and_or, background in node.items:
                if background:
                    self._background(and_or, io)
                else:
                    self.status = self.execute(and_or, io)
            return self.status
        if isinstance(node, syntax.AndOr):
            status = self.status = self.execute(node.first, io)
            for op, pipeline in node.rest:
                if (op == "&&") == (status == 0):
                    status = self.status = self.execute(pipeline, io)
            return status
        if isinstance(node, syntax.Pipeline):
            stdin = io.stdin
            for command in node.commands[:-1]:
                buffer = Sink()
                self.execute(command, IO(stdin, buffer, io.err))
                stdin = Source(bytes(buffer.data))
            status = self.execute(node.commands[-1], IO(stdin, io.out, io.err))
            return int(status == 0) if node.negate else status
        if isinstance(node, syntax.Simple):
            return self._simple(node, io)
        opened: list[Sink] = []
        try:
            inner = self._redirect(node.redirects, io, opened)
            return 1 if inner is None else self._compound(node, inner)
        finally:
            for sink in opened:
                sink.close()

    def _compound(self, node, io: IO) -> int:
        if isinstance(node, syntax.Loop):
            status = 0
            while True:
                self.check()
                if (self.execute(node.cond, io) == 0) == node.until:
                    return status
                status = self.execute(node.body, io)
        if isinstance(node, syntax.ForLoop):
            status = 0
            items = self.params if node.words is None else self.expand_words(node.words)
            for item in items:
                self.check()
                self.vars[node.name] = item
                status = self.execute(node.body, io)
            return status
        if isinstance(node, syntax.If):
            for cond, body in node.branches:
                if self.execute(cond, io) == 0:
                    return self.execute(body, io)
            return self.execute(node.orelse, io) if node.orelse else 0
        if node.subshell:
            try:
                return self.subshell(io).execute(node.body, io)
            except ExitShell as exc:  # exit leaves the ( ... ) only
                return exc.code
        return self.execute(node.body, io)

    def _background(self, and_or: syntax.AndOr, io: IO) -> None:
        """``cmd &``: run on a thread. The command line waits for the job at its end (adbd
        keeps the stream open while a job holds it) unless the job sends both stdout and
        stderr elsewhere; then it runs on until done, ``kill``-ed, or the userland closes."""
        pid = self.last_bg = self.userland.next_pid()
        event = threading.Event()
        detached = _detached(and_or)
        parent = self._stopped

        def stopped(timeout_s: float) -> bool:
            end = time.monotonic() + timeout_s
            while True:
                if event.is_set() or (not detached and parent(0)):
                    return True
                left = end - time.monotonic()
                if left <= 0:
                    return False
                event.wait(min(left, 0.05))

        sub = Shell(self.userland, io, stopped, pid, self.vars, self.cwd, self.params)
        sub.affinity = self.affinity

        def main() -> None:
            try:
                sub.execute(and_or, io)
            except (Killed, ExitShell, TimedOut, ShellSyntaxError):
                pass
            finally:
                self.userland.jobs.pop(pid, None)

        self.userland.jobs[pid] = event
        thread = threading.Thread(target=main, daemon=True, name=f"sim-bg:{pid}")
        thread.start()
        if not detached:
            self._jobs.append(thread)
        self.status = 0

    def _simple(self, node: syntax.Simple, io: IO) -> int:
        argv = self.expand_words(node.words)
        values = {name: self.expand_word(word, split=False) for name, word in node.assigns}
        opened: list[Sink] = []
        cmd_io = self._redirect(node.redirects, io, opened)
        try:
            if cmd_io is None:
                return 1
            if not argv:
                self.vars.update(values)
                return self.status if node.assigns else 0
            return self.run_argv(argv, cmd_io, {**self.vars, **values})
        finally:
            for sink in opened:
                sink.close()

    def run_argv(self, argv: list[str], io: IO, env: dict[str, str] | None = None) -> int:
        """Run one command by name (builtin, system command, or a file on the device)."""
        self.check()
        name = argv[0]
        inv = Invocation(argv, io, self, env if env is not None else dict(self.vars))
        if "/" in name:
            fn = self._file_command(inv)
            if isinstance(fn, int):
                return fn
        else:
            fn = BUILTINS.get(name) or self.userland.commands.get(name)
        if fn is None:
            io.err.write(f"{SH}: {name}: inaccessible or not found\n")
            return 127
        try:
            status = fn(inv)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            status = inv.error("write error: No space left on device")
        return 0 if status is None else int(status)

    def _file_command(self, inv: Invocation) -> Command | int:
        fs, path = self.userland.fs, inv.path(inv.argv[0])
        st = fs.stat(path)
        if st is None:
            found = BUILTINS.get(inv.name) or self.userland.commands.get(inv.name)
            if posixpath.dirname(path) in SYSTEM_DIRS and found:
                return found
            inv.err(f"{SH}: {inv.argv[0]}: inaccessible or not found\n")
            return 127
        if st.is_dir or not st.mode & 0o111:
            reason = "Is a directory" if st.is_dir else "Permission denied"
            inv.err(f"{SH}: {inv.argv[0]}: can't execute: {reason}\n")
            return 126
        tool = self.userland.tools.get(inv.name)
        if tool is not None:
            return tool
        head = fs.read_bytes(path)
        if head.startswith(b"\x7fELF"):
            inv.err(f"{SH}: {inv.argv[0]}: not executable: 64-bit ELF file\n")
            return 126
        return lambda i: self.subshell(i.io).script(head.decode(errors="replace"), i.argv)

    def script(self, text: str, argv: list[str]) -> int:
        self.params = argv[1:]
        return self.run(text)

    # --- redirections ------------------------------------------------------------------------

    def _redirect(self, redirects: list[syntax.Redirect], io: IO,
                  opened: list[Sink]) -> IO | None:
        """The streams after ``redirects``; files it opens go to ``opened`` (the caller closes
        them). None (with mksh's message on stderr) when one cannot be opened."""
        io = IO(io.stdin, io.out, io.err)
        for r in redirects:
            target = self.expand_word(r.target, split=False)
            if r.op in (">&", "<&"):
                if target not in ("0", "1", "2"):
                    io.err.write(f"{SH}: {target}: illegal file descriptor name\n")
                    return None
                chosen = {"1": io.out, "2": io.err}.get(target)
                if r.fd == 1 and chosen:
                    io.out = chosen
                elif r.fd == 2 and chosen:
                    io.err = chosen
                continue
            path = self.userland.fs.normalize(target, self.cwd)
            if r.op == "<":
                try:
                    data = b"" if path == "/dev/null" else self.userland.fs.read_bytes(path)
                except OSError as exc:
                    io.err.write(f"{SH}: can't open {target}: {exc.strerror}\n")
                    return None
                io.stdin = Source(data)
                continue
            sink = NULL if path == "/dev/null" else self._open_sink(path, target, r.op, io)
            if sink is None:
                return None
            if sink is not NULL:
                opened.append(sink)
            if r.fd == 2:
                io.err = sink
            elif r.fd == 1:
                io.out = sink
        return io

    def _open_sink(self, path: str, target: str, op: str, io: IO) -> Sink | None:
        fs = self.userland.fs
        try:
            old, st = b"", fs.stat(path)
            if op == ">>" and st is not None and not st.is_dir:
                old = fs.read_bytes(path)
            fh = fs.open_write(path, st.mode & 0o7777 if st and not st.is_dir else 0o666)
        except IsADirectoryError:
            io.err.write(f"{SH}: can't create {target}: Is a directory\n")
            return None
        except OSError as exc:
            message = exc.strerror or str(exc)
            if fs.stat(path) is not None and fs.stat(path).is_dir:
                message = "Is a directory"
            io.err.write(f"{SH}: can't create {target}: {message}\n")
            return None
        sink = Sink(fh.write, fh.close)
        if old:
            fh.write(old)
        return sink

    # --- expansion ---------------------------------------------------------------------------


def _detached(and_or: syntax.AndOr) -> bool:
    """Whether a background job sends both stdout and stderr away from the ADB stream."""
    if and_or.rest or len(and_or.first.commands) != 1:
        return False
    out = err = "stream"
    for r in getattr(and_or.first.commands[0], "redirects", []):
        target = r.target.literal()
        if r.op in (">", ">>"):
            out, err = (("file", err) if r.fd == 1 else (out, "file") if r.fd == 2
                        else (out, err))
        elif r.op == ">&" and target in ("1", "2"):
            if r.fd == 2:
                err = out if target == "1" else err
            elif r.fd == 1:
                out = err if target == "2" else out
    return out == "file" and err == "file"


from npubench.devices.sim.builtins import BUILTINS  # noqa: E402  (the builtins import Shell's names)
