"""Stand-in binaries for a SIMULATED phone: a minimal, valid ELF header plus a marker.

The simulated phone has such stand-ins installed where the real tools are installed
(``devices/sim/preinstalled.py``), so the harness finds and runs them as it would on a real
phone; a user may also push one. The phone runs its emulated tool for a file that has the tool's
name AND is an ELF for one of the phone's ABIs (``ro.product.cpu.abilist``); any other ELF is
refused the way mksh refuses it. A stub never runs on a real phone (it has no program headers).

Layout: the ELF file header (64 bytes for ELFCLASS64, 52 for ELFCLASS32; little-endian,
``ET_DYN`` like Android's position-independent executables, no program or section headers),
then ``MARKER + b" " + tool + b"\\n"``. ``e_machine`` sits at offset 18 in both classes, so the
harness's ABI check only needs the first 20 bytes.
"""

from __future__ import annotations

import struct

MARKER = b"NPUBENCH-SIM-STUB"

EM_386, EM_ARM, EM_X86_64, EM_AARCH64 = 3, 40, 62, 183
ELFCLASS32, ELFCLASS64 = 1, 2

MACHINES: dict[str, tuple[int, int]] = {
    "aarch64": (ELFCLASS64, EM_AARCH64), "arm64-v8a": (ELFCLASS64, EM_AARCH64),
    "x86_64": (ELFCLASS64, EM_X86_64),
    "armeabi-v7a": (ELFCLASS32, EM_ARM), "arm": (ELFCLASS32, EM_ARM),
    "x86": (ELFCLASS32, EM_386),
}
"""Machine or Android ABI name -> (EI_CLASS, e_machine)."""

ABI_ELF: dict[str, tuple[int, int]] = {
    "arm64-v8a": (ELFCLASS64, EM_AARCH64), "armeabi-v7a": (ELFCLASS32, EM_ARM),
    "armeabi": (ELFCLASS32, EM_ARM), "x86_64": (ELFCLASS64, EM_X86_64), "x86": (ELFCLASS32, EM_386),
}
"""Android ABI (as in ``ro.product.cpu.abilist``) -> the ELF (class, machine) it executes."""


def stub_binary(tool: str, machine: str = "aarch64") -> bytes:
    """A minimal ELF executable header for ``machine`` followed by the stub marker."""
    try:
        elf_class, e_machine = MACHINES[machine]
    except KeyError:
        raise ValueError(f"unknown machine {machine!r}; one of {sorted(MACHINES)}") from None
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + bytes(8)  # LE, version 1, SysV ABI
    if elf_class == ELFCLASS64:
        header = ident + struct.pack("<HHIQQQIHHHHHH", 3, e_machine, 1, 0, 0, 0, 0,
                                     64, 56, 0, 64, 0, 0)
    else:
        flags = 0x05000000 if e_machine == EM_ARM else 0  # EF_ARM_EABI_VER5
        header = ident + struct.pack("<HHIIIIIHHHHHH", 3, e_machine, 1, 0, 0, 0, flags,
                                     52, 32, 0, 40, 0, 0)
    return header + MARKER + b" " + tool.encode() + b"\n"


def elf_ident(data: bytes) -> tuple[int, int] | None:
    """(EI_CLASS, e_machine) of an ELF file's first bytes, or None when it is not ELF."""
    if len(data) < 20 or not data.startswith(b"\x7fELF"):
        return None
    order = "<" if data[5] != 2 else ">"
    return data[4], struct.unpack_from(order + "H", data, 18)[0]


def runs_on(data: bytes, abilist: str) -> bool:
    """Whether an ELF file is executable for a phone with ``ro.product.cpu.abilist``."""
    ident = elf_ident(data)
    return ident is not None and ident in {ABI_ELF.get(abi.strip())
                                           for abi in abilist.split(",")}
