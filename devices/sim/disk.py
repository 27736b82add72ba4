"""df and du of the simulated phone (toybox formats): /data is the SimFS storage, sized from
the profile; / is a full read-only system partition; /dev a tmpfs."""

from __future__ import annotations

import posixpath

from npubench.devices.sim.cmdio import Invocation
from npubench.devices.sim.toybox import _opts


def _mounts(inv: Invocation) -> list[tuple[str, str, int, int]]:
    """(device, mount point, size bytes, available bytes) of the filesystems df shows."""
    p, fs = inv.userland.profile, inv.userland.fs
    system = 7_516_192_768
    return [("/dev/block/dm-6", "/", system, 0),
            ("tmpfs", "/dev", p.mem_total_kb * 512, p.mem_total_kb * 512 - 1_392_640),
            (p.block_device, "/data", p.data_total_bytes, min(fs.free_bytes(),
                                                               p.data_total_bytes))]


def df(inv: Invocation) -> int:
    flags, names = _opts(inv, "hHkPa")
    mounts = _mounts(inv)
    rows, status = [], 0
    for name in names or [m[1] for m in mounts]:
        path = inv.path(name)
        if inv.userland.fs.stat(path) is None:
            status = inv.error(f"'{name}': No such file or directory")
            continue
        dev, point, size, avail = max((m for m in mounts if path == m[1] or path.startswith(
            m[1].rstrip("/") + "/")), key=lambda m: len(m[1]))
        used = size - avail
        percent = -(-used * 100 // (used + avail)) if used + avail else 0
        rows.append((dev, size, used, avail, percent, point))
    if not rows:
        return status
    width0 = max(14, *(len(r[0]) for r in rows))
    if flags & {"h", "H"}:
        out = [f"{'Filesystem':<{width0}} Size  Used Avail Use% Mounted on\n"]
        out += [f"{r[0]:<{width0}} {_human(r[1]):>4}  {_human(r[2]):>4}  {_human(r[3]):>4} "
                f"{r[4]:>3}% {r[5]}\n" for r in rows]
    else:
        kb = [(r[0], r[1] // 1024, r[2] // 1024, r[3] // 1024, r[4], r[5]) for r in rows]
        w = [max(len(label), *(len(str(r[i])) for r in kb))
             for i, label in ((1, "1K-blocks"), (2, "Used"), (3, "Available"), (4, "Use%"))]
        out = [f"{'Filesystem':<{width0}} {'1K-blocks':>{w[0]}} {'Used':>{w[1]}} "
               f"{'Available':>{w[2]}} {'Use%':>{w[3]}} Mounted on\n"]
        out += [f"{r[0]:<{width0}} {r[1]:>{w[0]}} {r[2]:>{w[1]}} {r[3]:>{w[2]}} "
                f"{r[4]:>{w[3] - 1}}% {r[5]}\n" for r in kb]
    inv.out("".join(out))
    return status


def _human(n: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            if unit == "":
                return str(int(n))
            return f"{n:.1f}{unit}" if n < 10 else f"{int(n)}{unit}"
        n /= 1024
    return str(n)


def du(inv: Invocation) -> int:
    flags, names = _opts(inv, "skhac")
    fs, status = inv.userland.fs, 0

    def size_kb(path: str) -> int:
        st = fs.stat(path)
        if st is None:
            return 0
        if not st.is_dir:
            return (st.size + 4095) // 4096 * 4
        return 4 + sum(size_kb(posixpath.join(path, n)) for n in fs.listdir(path) or [])

    for name in names or ["."]:
        if fs.stat(inv.path(name)) is None:
            status = inv.error(f"{name}: No such file or directory")
            continue
        kb = size_kb(inv.path(name))
        inv.out(f"{_human(kb * 1024) if 'h' in flags else kb}\t{name}\n")
    return status


COMMANDS = {"df": df, "du": du}
