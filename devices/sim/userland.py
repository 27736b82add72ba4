"""The simulated phone's Android userland: what the ADB server runs commands against.

``Userland`` ties together a profile (``devices/sim/profiles/*.yaml``), the physical model
(battery and temperatures), the virtual /proc and /sys, the private file system with a writable
/data/local/tmp, and the shell that runs whole command lines (vocabulary: ``shell.py``). A test
instrument and a demo: its numbers are never presented as a phone's.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from npubench.devices.sim import disk, framework, preinstalled, textutils, tools, toybox
from npubench.devices.sim.cmdio import IO, Command, Killed, Sink, Source
from npubench.devices.sim.framework import BatteryService
from npubench.devices.sim.fs import SimFS
from npubench.devices.sim.interp import Shell
from npubench.devices.sim.physics import Physics
from npubench.devices.sim.process import EXIT, STDERR, STDOUT, ShellProcess
from npubench.devices.sim.profiles import Profile, load_profile
from npubench.devices.sim.slowdown import Slowdown
from npubench.devices.sim.sysfs import SysFS
from npubench.devices.sim.timing import DEFAULT_MODE, PROP, Timing

PATH = ("/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:/system_ext/bin:"
        "/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin")


class Userland:
    def __init__(self, profile: str | Profile = "sm8650", root: Path | None = None,
                 clock: Callable[[], float] = time.monotonic, seed: int = 0):
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="npubench-sim-")) if root is None else Path(root)
        self.physics = Physics(self.profile, clock=clock, seed=seed)
        self.boot_epoch_s = time.time() - self.physics.now()
        """Wall-clock time of the simulated boot; device time is this plus the uptime."""
        self.serial = f"SIM-{self.profile.soc_part.upper()}-{seed + 1:04d}"
        # ro.npubench.simulated tells the harness, however it reached this phone (sim:, tcp:),
        # that its numbers are not a phone's.
        self.props: dict[str, str] = {**self.profile.props, "ro.serialno": self.serial,
                                      "ro.boot.serialno": self.serial,
                                      "ro.npubench.simulated": "1"}
        self.sysfs = SysFS(self.profile, self.physics, lambda: self.boot_epoch_s)
        # --- emulated benchmark tools (devices/sim/tools): faults, running processes -------
        self.tool_faults = tools.ToolFaults()
        """Faults of the emulated tools (hang, crash, refuse_delegates), read live."""
        self.processes: dict[int, tools.ProcInfo] = {}
        """Emulated tools running now, by pid: each has a /proc/<pid>/status."""
        self.slowdown = Slowdown()
        """Ground-truth slowdown knobs of the emulated tools (``slowdown.py``), read live."""
        self.timing = Timing(DEFAULT_MODE, self.profile.timing, self.physics.speed_factor, seed)
        """Measured (host work) or modeled (waits) tool timing (``timing.py``); see
        ``set_timing``."""
        self.props[PROP] = DEFAULT_MODE
        # -----------------------------------------------------------------------------------
        p = self.profile
        self.fs = SimFS(self.root, capacity_bytes=p.data_total_bytes - p.data_used_bytes,
                        virtual_file=self._virtual_file, virtual_dir=self._virtual_dir)
        self.battery_service = BatteryService(self)
        self.settings: dict[str, dict[str, str]] = {
            "global": {"adb_enabled": "1", "stay_on_while_plugged_in": "0",
                       "development_settings_enabled": "1", "airplane_mode_on": "0"},
            "system": {"screen_off_timeout": "60000", "screen_brightness": "128"},
            "secure": {"android_id": f"{seed + 0x5117E5A1:016x}"},
        }
        self.commands: dict[str, Command] = {**toybox.COMMANDS, **disk.COMMANDS,
                                             **textutils.COMMANDS, **framework.COMMANDS}
        """System commands by name (/system/bin); the shell's builtins come first."""
        self.tools: dict[str, Command] = {}
        """Programs pushed to the device, by file name: an executable file with this name
        runs this command (the emulated benchmark tools register here)."""
        self.jobs: dict[int, threading.Event] = {}
        self._pids = itertools.count(4242 + 97 * seed)
        self._pid_lock = threading.Lock()
        tools.register_all(self)  # benchmark_model, onnxruntime_perf_test (emulated)
        self.preinstalled = preinstalled.install(self)
        """Tools and libraries on the phone before anything is pushed: path -> name."""

    # --- the ADB server's side -------------------------------------------------------------

    def start(self, command: str, stdin: bytes | None = None) -> ShellProcess:
        """Run a whole command line on a thread and return at once. ``stdin`` None: the
        command reads the process's stdin (what the ADB stream sends) until it is closed."""
        proc = ShellProcess(command)
        pid = self.next_pid()

        def body(proc: ShellProcess) -> int | None:
            source = Source(stdin) if stdin is not None else Source(proc=proc)
            io = IO(source, Sink(lambda data: proc.emit(STDOUT, data)),
                    Sink(lambda data: proc.emit(STDERR, data)))
            shell = Shell(self, io, proc.wait_killed, pid, process=proc)
            try:
                return shell.run(command)
            except Killed:
                return None  # ShellProcess turns a killed run into 137

        return proc.run_in_thread(body)

    def run(self, command: str, timeout_s: float = 10,
            stdin: bytes = b"") -> tuple[bytes, bytes, int]:
        """Run a command line and collect (stdout, stderr, exit code); killed after
        ``timeout_s`` (wall clock)."""
        proc = self.start(command, stdin=stdin)
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 and not proc.killed:
                proc.kill()
                deadline = time.monotonic() + 5
                continue
            event = proc.next_event(max(left, 0.01))
            if event is None:
                continue
            kind, value = event
            if kind == EXIT:
                return bytes(out), bytes(err), int(value)
            (out if kind == STDOUT else err).extend(value)

    def banner_props(self) -> dict[str, str]:
        """What the device announces in its CNXN banner."""
        return {k: self.props[k] for k in ("ro.product.name", "ro.product.model",
                                           "ro.product.device")}

    def close(self) -> None:
        for event in list(self.jobs.values()):
            event.set()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def set_timing(self, mode: str) -> None:
        """``measured`` or ``modeled`` (ConfigError else); the phone shows it as
        ``ro.npubench.timing`` so the harness can record it."""
        self.timing = Timing(mode, self.profile.timing, self.physics.speed_factor,
                             self.timing.seed)
        self.props[PROP] = self.timing.mode

    # --- for commands ----------------------------------------------------------------------

    def register_tool(self, name: str, command: Command) -> None:
        self.tools[name] = command

    def next_pid(self) -> int:
        with self._pid_lock:
            return next(self._pids)

    def _virtual_file(self, path: str) -> bytes | None:
        """/proc/<pid>/status of a running emulated tool, else the sysfs/procfs files."""
        proc = self._process(path)
        if proc is not None and path.endswith("/status"):
            return proc.status().encode()
        return self.sysfs.file(path)

    def _virtual_dir(self, path: str) -> list[str] | None:
        if self._process(path + "/status") is not None and path.count("/") == 2:
            return ["status"]
        return self.sysfs.listdir(path)

    def _process(self, path: str) -> tools.ProcInfo | None:
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "proc" and parts[2].isdigit():
            return self.processes.get(int(parts[2]))
        return None

    def epoch_s(self) -> float:
        """The device's wall clock (``date +%s.%N``)."""
        return self.boot_epoch_s + self.physics.now()

    def default_env(self) -> dict[str, str]:
        return {"PATH": PATH, "HOME": "/", "SHELL": "/bin/sh", "USER": "shell",
                "LOGNAME": "shell", "HOSTNAME": "localhost", "TMPDIR": "/data/local/tmp",
                "ANDROID_DATA": "/data", "ANDROID_ROOT": "/system",
                "EXTERNAL_STORAGE": "/sdcard", "ANDROID_STORAGE": "/storage", "PWD": "/",
                "IFS": " \t\n"}
