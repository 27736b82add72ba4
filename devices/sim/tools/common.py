"""What the emulated on-device tools share: starting like a program (the ELF check mksh would
do), being a process (a pid with ``/proc/<pid>/status``, ``kill PID``, faults), C++-style
number formatting, and an honest estimate of the memory a tool uses.

Pids: a tool runs as the pid of the shell that runs it (``inv.sh.pid``). The simulated shell
gives ``sh -c`` the pid of its parent, and ``exec`` keeps it, so in
``sh -c 'echo $$ > tool.pid; exec ./benchmark_model ...'`` the pid in the file is the tool's,
as on a phone. (Without ``exec`` a phone would give the tool a new pid; the simulation keeps the
shell's.)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from npubench.devices.sim.cmdio import Command, Invocation
from npubench.devices.sim.shell import SH
from npubench.devices.sim.tools.stub import runs_on

ADBD_PID = 1121
"""The parent of a tool run through ``adb shell`` with ``exec`` (adbd)."""

SCRIPT_MAGICS = {0o407, 0o410, 0o413, 0o314, 0x4C01, 0x0150, 0x5001, 0x0500, 0x0005, 0x425A,
                 0x4D5A, 0x4E45, 0x4C58, 0x0B13, 0x4C5A, 0x377A, 0x1F8B, 0x1F9D}
"""First two bytes that make mksh refuse a file with ``not executable: magic %04X``
(mksh ``exec.c`` scriptexec: a.out, ECOFF, bzip2, MZ, NE, LX, ksh93, lzip, 7z, gzip, .Z)."""


@dataclass
class ToolFaults:
    """Faults of the emulated tools, read live (a test may change them between commands)."""

    hang: bool = False
    """Print the start of the output, then sleep until killed (``kill PID`` or the ADB stream
    closing)."""
    crash: bool = False
    """Print part of the output, then die like SIGSEGV: the shell reports
    ``Segmentation fault`` and the exit status is 139."""
    refuse_delegates: set[str] = field(default_factory=set)
    """Delegates that fail to apply: ``gpu``, ``nnapi``, ``qnn``, ``neuron``, ``xnnpack``
    (benchmark_model) and ``nnapi``, ``qnn`` (onnxruntime_perf_test execution providers)."""


class Terminated(Exception):
    """``kill PID`` reached the tool: it ends like a process killed by SIGTERM (143)."""


class Crashed(Exception):
    """The tool dies like a process killed by SIGSEGV (139)."""


class Aborted(Exception):
    """The tool calls abort() (a FATAL log): SIGABRT, 134."""


@dataclass
class ProcInfo:
    """A running tool as ``/proc/<pid>/status`` shows it. Memory is the simulated footprint
    (see ``Footprint``), in kB."""

    pid: int
    name: str
    rss_kb: int
    hwm_kb: int
    file_kb: int
    threads: int = 1
    state: str = "R (running)"

    def update(self, rss_kb: int, file_kb: int | None = None, threads: int | None = None) -> None:
        self.rss_kb = int(rss_kb)
        self.hwm_kb = max(self.hwm_kb, self.rss_kb)
        if file_kb is not None:
            self.file_kb = int(file_kb)
        if threads is not None:
            self.threads = threads

    def status(self) -> str:
        """``/proc/<pid>/status`` in the kernel's format (fs/proc/array.c, task_mmu.c)."""
        vm = {"VmPeak": 2_243_000 + 3 * self.hwm_kb, "VmSize": 2_243_000 + 3 * self.rss_kb,
              "VmLck": 0, "VmPin": 0, "VmHWM": self.hwm_kb, "VmRSS": self.rss_kb,
              "RssAnon": self.rss_kb - self.file_kb, "RssFile": self.file_kb, "RssShmem": 0,
              "VmData": 2 * self.rss_kb + 20_480, "VmStk": 132, "VmExe": 2_816,
              "VmLib": 9_876, "VmPTE": 96 + self.rss_kb // 512, "VmSwap": 0}
        head = (f"Name:\t{self.name[:15]}\nUmask:\t0077\nState:\t{self.state}\n"
                f"Tgid:\t{self.pid}\nNgid:\t0\nPid:\t{self.pid}\nPPid:\t{ADBD_PID}\n"
                "TracerPid:\t0\nUid:\t2000\t2000\t2000\t2000\nGid:\t2000\t2000\t2000\t2000\n"
                "FDSize:\t64\nGroups:\t1004 1007 1011 1015 1028 3001 3002 3003 3006 3009 3011 \n")
        mem = "".join(f"{k}:\t{v:8d} kB\n" for k, v in vm.items())
        tail = (f"CoreDumping:\t0\nTHP_enabled:\t1\nThreads:\t{self.threads}\n"
                "SigQ:\t0/42494\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n"
                "SigBlk:\t0000000000000000\nSigIgn:\t0000000000001000\n"
                "SigCgt:\t0000000c400084f8\nCapInh:\t0000000000000000\n"
                "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
                "CapBnd:\t00000000000000c0\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n"
                "Seccomp:\t2\nSeccomp_filters:\t1\nSpeculation_Store_Bypass:\tthread vulnerable\n"
                "Cpus_allowed:\tff\nCpus_allowed_list:\t0-7\nMems_allowed:\t1\n"
                "Mems_allowed_list:\t0\nvoluntary_ctxt_switches:\t118\n"
                "nonvoluntary_ctxt_switches:\t37\n")
        return head + mem + tail


class ToolRun:
    """One running tool: its pid, its ``/proc`` entry, how it is stopped."""

    def __init__(self, inv: Invocation, name: str, base_kb: int, base_file_kb: int):
        self.inv = inv
        self.userland = inv.userland
        self.pid = inv.sh.pid
        self.faults: ToolFaults = self.userland.tool_faults
        self.proc = ProcInfo(self.pid, name, base_kb, base_kb, base_file_kb)
        self._event = threading.Event()
        self._own_event = False

    def __enter__(self) -> ToolRun:
        self.userland.processes[self.pid] = self.proc
        if self.pid not in self.userland.jobs:  # so that `kill PID` reaches the tool
            self.userland.jobs[self.pid] = self._event
            self._own_event = True
        return self

    def __exit__(self, *exc) -> None:
        if self.userland.processes.get(self.pid) is self.proc:
            del self.userland.processes[self.pid]
        if self._own_event and self.userland.jobs.get(self.pid) is self._event:
            del self.userland.jobs[self.pid]

    def check(self) -> None:
        """Raise ``Killed`` (stream closed, timeout) or ``Terminated`` (``kill PID``)."""
        self.inv.sh.check()
        if self._own_event and self._event.is_set():
            raise Terminated()

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.check()
            self.inv.sh.sleep(min(left, 0.05))
        self.check()

    def hang(self) -> None:
        """The ``hang`` fault: sleep until killed."""
        self.proc.state = "S (sleeping)"
        while True:
            self.sleep(0.5)


def program(name: str, main: Callable[[Invocation, ToolRun], int],
            base_kb: int, base_file_kb: int) -> Command:
    """A command for ``Userland.register_tool``: checks the file like the kernel and mksh
    would, then runs ``main`` as process ``name`` (exit 143 on ``kill PID``, 139 on a crash)."""

    def command(inv: Invocation) -> int:
        refused = check_executable(inv)
        if refused is not None:
            return refused
        try:
            with ToolRun(inv, name, base_kb, base_file_kb) as run:
                return main(inv, run)
        except Terminated:
            return 143
        except Crashed:
            inv.err("Segmentation fault \n")  # mksh's j_print of a SIGSEGV-killed job
            return 139
        except Aborted:
            inv.err("Aborted \n")
            return 134

    return command


def check_executable(inv: Invocation) -> int | None:
    """None when the file is an ELF for one of the phone's ABIs; otherwise what mksh does with
    it: ``not executable: 64-bit ELF file`` / ``magic 1F8B`` (exit 126), or run it as a shell
    script (a text file without a known magic)."""
    data = inv.userland.fs.read_bytes(inv.path(inv.argv[0]))
    if runs_on(data[:64], inv.userland.props.get("ro.product.cpu.abilist", "arm64-v8a")):
        return None
    magic = data[0] << 8 | data[1] if len(data) >= 2 else -1
    if len(data) >= 5 and data.startswith(b"\x7fELF"):
        reason = f"{32 * data[4]}-bit ELF file"
    elif len(data) >= 5 and magic in SCRIPT_MAGICS:
        reason = f"magic {magic:04X}"
    else:
        return inv.sh.subshell(inv.io).script(data.decode(errors="replace"), inv.argv)
    inv.err(f"{SH}: {inv.argv[0]}: not executable: {reason}\n")
    return 126


def g(value: float) -> str:
    """A double as a C++ ostream prints it by default (6 significant digits, like %g)."""
    return format(value, "g")


class Footprint:
    """The simulated memory footprint of a tool: a fixed base (the tool's own code and heap on
    a phone) plus what the work needs, taken as the larger of the host process's RSS growth
    around the LiteRT/ORT work and an estimate from the model size and tensor bytes. The host
    RSS is a shared Python process (threads, allocator caches), so the estimate keeps the
    number honest when the host re-uses memory. Numbers are simulated, never a phone's."""

    def __init__(self, base_kb: int):
        self.base_kb = base_kb
        self._rss0 = _rss_kb()
        self.peak_growth_kb = 0

    def growth_kb(self, floor_kb: float = 0) -> int:
        grown = max(_rss_kb() - self._rss0, int(floor_kb), 0)
        self.peak_growth_kb = max(self.peak_growth_kb, grown)
        return grown


def _rss_kb() -> int:
    try:
        import psutil

        return psutil.Process(os.getpid()).memory_info().rss // 1024
    except Exception:  # psutil missing or /proc unreadable: estimate only
        return 0
