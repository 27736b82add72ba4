"""A tiny stand-in for the simulated phone's userland, for the ADB server's tests.

It knows a handful of commands (``echo [>&2]``, ``true``, ``false``, ``exit N``, ``sleep S``
that honours kill, ``cat`` of files or of stdin, ``seq N``, ``mkdir``), joined with ``;``.
The real userland is :mod:`devices.sim.userland`; this one keeps the protocol tests
independent of it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from npubench.devices.sim.fs import SimFS
from npubench.devices.sim.process import STDERR, STDOUT, ShellProcess

PROPS = {"ro.product.name": "standin", "ro.product.model": "Stand In", "ro.product.device": "sid"}


class StandInUserland:
    serial = "standin0"

    def __init__(self, root: Path):
        self.fs = SimFS(root)
        self.processes: list[ShellProcess] = []
        self.reboots: list[str] = []

    def banner_props(self) -> dict[str, str]:
        return dict(PROPS)

    def reboot(self, target: str) -> None:
        self.reboots.append(target)

    def start(self, command: str) -> ShellProcess:
        proc = ShellProcess(command)
        self.processes.append(proc)
        return proc.run_in_thread(lambda proc: self._run(proc, command))

    def _run(self, proc: ShellProcess, command: str) -> int:
        code = 0
        for part in command.split(";"):
            argv = shlex.split(part)
            if not argv:
                continue
            stream = STDOUT
            if argv[-1] == ">&2":
                stream, argv = STDERR, argv[:-1]
            name, args = argv[0], argv[1:]
            code = 0
            if name == "echo":
                proc.emit(stream, (" ".join(args) + "\n").encode())
            elif name == "false":
                code = 1
            elif name == "exit":
                return int(args[0])
            elif name == "sleep":
                if proc.wait_killed(float(args[0])):
                    return 143
            elif name == "cat":
                code = self._cat(proc, args, stream)
            elif name == "seq":
                proc.emit(stream, "".join(f"{i}\n" for i in range(1, int(args[0]) + 1)).encode())
            elif name == "mkdir":
                for path in args:
                    self.fs.mkdir(path, parents=True)
            elif name != "true":
                proc.emit(STDERR, f"sh: {name}: not found\n".encode())
                code = 127
        return code

    def _cat(self, proc: ShellProcess, args: list[str], stream: str) -> int:
        if not args:
            while (chunk := proc.read_stdin(timeout_s=10)) and not proc.killed:
                proc.emit(stream, chunk)
            return 0
        code = 0
        for path in args:
            try:
                proc.emit(stream, self.fs.read_bytes(path))
            except OSError as exc:
                proc.emit(STDERR, f"cat: {path}: {exc.strerror}\n".encode())
                code = 1
        return code
