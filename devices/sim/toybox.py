"""Toybox file commands of the simulated phone: cat, ls, stat, sha256sum (md5sum, sha1sum),
mkdir, rm, rmdir, mv, cp, chmod, touch (df and du: ``disk.py``). Every path goes through
SimFS; messages follow toybox (``cat: PATH: No such file or directory``)."""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import stat as statmod
import time

from npubench.devices.sim.cmdio import Invocation
from npubench.devices.sim.fs import Stat
from npubench.devices.sim.textutils import inputs

CHUNK = 1 << 20


def _opts(inv: Invocation, allowed: str) -> tuple[set[str], list[str]]:
    flags, names = set(), []
    for arg in inv.args:
        if arg.startswith("-") and len(arg) > 1 and not names and set(arg[1:]) <= set(allowed):
            flags.update(arg[1:])
        else:
            names.append(arg)
    return flags, names


def _strerror(exc: OSError) -> str:
    return exc.strerror or os.strerror(exc.errno or errno.EIO)


def cat(inv: Invocation) -> int:
    status = 0
    for _, data in inputs(inv, [a for a in inv.args if a != "-u"]):
        if data is None:
            status = 1
        else:
            inv.out(data)
    return status


def _hash_file(inv: Invocation, path: str, algo: str) -> str:
    """Hash a device file in chunks, counted as one busy core in the physics."""
    fs, digest = inv.userland.fs, hashlib.new(algo)
    with inv.userland.physics.load(cores=1.0):
        host = fs.host_path(path)
        if host is None or not host.is_file():
            digest.update(fs.read_bytes(path))
            return digest.hexdigest()
        with open(host, "rb") as fh:
            while chunk := fh.read(CHUNK):
                inv.sh.check()
                digest.update(chunk)
    return digest.hexdigest()


def checksum(inv: Invocation) -> int:
    algo = {"sha256sum": "sha256", "md5sum": "md5", "sha1sum": "sha1"}[inv.name]
    status = 0
    for name in [a for a in inv.args if not a.startswith("-") or a == "-"] or ["-"]:
        try:
            if name == "-":
                digest = hashlib.new(algo, inv.stdin()).hexdigest()
            else:
                digest = _hash_file(inv, inv.path(name), algo)
        except OSError as exc:
            status = inv.error(f"{name}: {_strerror(exc)}")
            continue
        inv.out(f"{digest}  {name}\n")
    return status


def _size(st: Stat) -> int:
    return 4096 if st.is_dir else st.size


def _mode_string(st: Stat) -> str:
    return statmod.filemode(st.mode)


def _owner(path: str) -> str:
    return "shell" if path.startswith("/data/local/tmp") else "root"


def _mtime(inv: Invocation, st: Stat) -> int:
    return st.mtime or int(inv.userland.boot_epoch_s)


def ls(inv: Invocation) -> int:
    flags, names = _opts(inv, "al1dtShF")
    fs, status = inv.userland.fs, 0
    files, dirs = [], []
    for name in names or ["."]:
        st = fs.stat(inv.path(name))
        if st is None:
            status = inv.error(f"{name}: No such file or directory")
        elif st.is_dir and "d" not in flags:
            dirs.append(name)
        else:
            files.append((name, inv.path(name), st))
    blocks = [_ls_lines(inv, files, flags, total=False)] if files else []
    for name in dirs:
        path = inv.path(name)
        entries = [(n, posixpath.join(path, n), fs.stat(posixpath.join(path, n)))
                   for n in fs.listdir(path) or [] if "a" in flags or not n.startswith(".")]
        if "a" in flags:
            entries = [(".", path, fs.stat(path)),
                       ("..", posixpath.dirname(path), fs.stat(posixpath.dirname(path)))] + entries
        lines = _ls_lines(inv, [e for e in entries if e[2] is not None], flags, total=True)
        blocks.append((f"{name}:\n" if len(names) > 1 else "") + lines)
    inv.out("\n".join(blocks))
    return status


def _ls_lines(inv: Invocation, entries: list, flags: set[str], total: bool) -> str:
    if "t" in flags:
        entries = sorted(entries, key=lambda e: -e[2].mtime)
    elif "S" in flags:
        entries = sorted(entries, key=lambda e: -e[2].size)
    if "l" not in flags:
        return "".join(f"{name}\n" for name, _, _ in entries)
    rows = [(_mode_string(st), "2" if st.is_dir else "1", _owner(p), _owner(p), str(_size(st)),
             time.strftime("%Y-%m-%d %H:%M", time.gmtime(_mtime(inv, st))), name)
            for name, p, st in entries]
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(5)]
    text = f"total {sum((_size(e[2]) + 4095) // 4096 * 4 for e in entries)}\n" if total else ""
    return text + "".join(
        f"{r[0]} {r[1]:>{widths[1]}} {r[2]:<{widths[2]}} {r[3]:<{widths[3]}} "
        f"{r[4]:>{widths[4]}} {r[5]} {r[6]}\n" for r in rows)


def stat(inv: Invocation) -> int:
    args, fmt, names = list(inv.args), None, []
    while args:
        a = args.pop(0)
        if a == "-c" and args:
            fmt = args.pop(0)
        elif a.startswith("-c") and len(a) > 2:
            fmt = a[2:]
        elif a not in ("-L",):
            names.append(a)
    status = 0
    for name in names:
        st = inv.userland.fs.stat(inv.path(name))
        if st is None:
            status = inv.error(f"'{name}': No such file or directory")
            continue
        inv.out(_stat_format(inv, fmt or "  File: %N\n  Size: %s\t Blocks: %b\t IO Blocks: 4096\t"
                             "%F\nAccess: (%a/%A)\tUid: (%u/%U)\tGid: (%g/%G)\nModify: %y",
                             name, inv.path(name), st) + "\n")
    return status


def _stat_format(inv: Invocation, fmt: str, name: str, path: str, st: Stat) -> str:
    owner = _owner(path)
    uid = "2000" if owner == "shell" else "0"
    mtime = _mtime(inv, st)
    kind = ("directory" if st.is_dir else "regular empty file" if st.size == 0
            else "regular file")
    fields = {"s": str(_size(st)), "Y": str(mtime), "X": str(mtime), "Z": str(mtime),
              "a": f"{st.mode & 0o7777:o}", "A": _mode_string(st), "n": name, "N": f"'{name}'",
              "F": kind, "U": owner, "G": owner, "u": uid, "g": uid, "h": "1",
              "b": str((_size(st) + 511) // 512), "B": "512", "o": "4096", "i": "1",
              "y": time.strftime("%Y-%m-%d %H:%M:%S.000000000 +0000", time.gmtime(mtime)),
              "%": "%"}
    return re.sub(r"%(.)", lambda m: fields.get(m[1], "?"), fmt)


def mkdir(inv: Invocation) -> int:
    """mkdir [-p]: new directories are drwxrwxrwx (the adb shell's umask is 0)."""
    flags, names = _opts(inv, "pvm")
    fs, status = inv.userland.fs, 0
    for name in names:
        path = inv.path(name)
        if fs.stat(path) is not None and "p" in flags:
            continue
        missing = [path]
        while "p" in flags and fs.stat(posixpath.dirname(missing[-1])) is None:
            missing.append(posixpath.dirname(missing[-1]))
        try:
            if fs.stat(path) is not None:
                raise FileExistsError(errno.EEXIST, "File exists")
            fs.mkdir(path, parents="p" in flags)
            for created in missing:
                os.chmod(fs.host_path(created), 0o777)
        except OSError as exc:
            status = inv.error(f"'{name}': {_strerror(exc)}")
    return status


def rm(inv: Invocation) -> int:
    flags, names = _opts(inv, "fiRrv")
    if not names and "f" not in flags:
        return inv.error("Needs 1 argument")
    fs, status = inv.userland.fs, 0
    for name in names:
        path = inv.path(name)
        if fs.stat(path) is None:
            if "f" not in flags:
                status = inv.error(f"{name}: No such file or directory")
            continue
        try:
            fs.remove(path, recursive=bool(flags & {"r", "R"}))
        except OSError as exc:
            status = inv.error(f"{name}: {_strerror(exc)}")
    return status


def rmdir(inv: Invocation) -> int:
    fs, status = inv.userland.fs, 0
    for name in [a for a in inv.args if not a.startswith("-")]:
        path = inv.path(name)
        st = fs.stat(path)
        try:
            if st is None:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory")
            if not st.is_dir:
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
            if fs.listdir(path):
                raise OSError(errno.ENOTEMPTY, "Directory not empty")
            fs.remove(path, recursive=True)
        except OSError as exc:
            status = inv.error(f"'{name}': {_strerror(exc)}")
    return status


def _target(inv: Invocation, src: str, dst: str) -> str:
    st = inv.userland.fs.stat(inv.path(dst))
    return posixpath.join(inv.path(dst), posixpath.basename(src.rstrip("/"))) if (
        st and st.is_dir) else inv.path(dst)


def _copy(inv: Invocation, src: str, dst: str, recursive: bool) -> None:
    fs = inv.userland.fs
    st = fs.stat(src)
    if st is None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")
    if st.is_dir:
        if not recursive:
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        if fs.stat(dst) is None:
            fs.mkdir(dst)
        for name in fs.listdir(src) or []:
            _copy(inv, posixpath.join(src, name), posixpath.join(dst, name), recursive)
        return
    host = fs.host_path(src)
    with fs.open_write(dst, st.mode & 0o777) as out:
        if host is None:
            out.write(fs.read_bytes(src))
        else:
            with open(host, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    inv.sh.check()
                    out.write(chunk)


def cp_mv(inv: Invocation) -> int:
    flags, names = _opts(inv, "rRpfaiv")
    if len(names) < 2:
        return inv.error("Needs 2 arguments")
    fs, status = inv.userland.fs, 0
    *sources, dst = names
    for src in sources:
        target = _target(inv, src, dst)
        try:
            if inv.name == "cp":
                _copy(inv, inv.path(src), target, bool(flags & {"r", "R", "a"}))
                continue
            old, new = fs.host_path(inv.path(src)), fs.host_path(target)
            if fs.stat(inv.path(src)) is None:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory")
            if old is None or new is None:
                raise OSError(errno.EROFS, "Read-only file system")
            if fs.full:
                raise OSError(errno.ENOSPC, "No space left on device")
            os.replace(old, new)
        except OSError as exc:
            status = inv.error(f"'{src}': {_strerror(exc)}")
    return status


def chmod(inv: Invocation) -> int:
    flags, names = _opts(inv, "Rfv")
    if len(names) < 2:
        return inv.error("Needs 2 arguments")
    spec, *files = names
    status = 0
    for name in files:
        fs, path = inv.userland.fs, inv.path(name)
        st = fs.stat(path)
        try:
            if st is None:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory")
            host = fs.host_path(path)
            if host is None:
                raise OSError(errno.EROFS, "Read-only file system")
            os.chmod(host, _mode(spec, st.mode & 0o7777))
        except (OSError, ValueError) as exc:
            status = inv.error(f"{name}: {_strerror(exc) if isinstance(exc, OSError) else exc}")
    return status


def _mode(spec: str, mode: int) -> int:
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    for clause in spec.split(","):
        m = re.fullmatch(r"([ugoa]*)([-+=])([rwx]*)", clause)
        if not m:
            raise ValueError(f"bad mode '{spec}'")
        who = m[1].replace("a", "ugo") or "ugo"
        bits = sum({"r": 4, "w": 2, "x": 1}[c] for c in m[3])
        mask = sum(bits << {"u": 6, "g": 3, "o": 0}[w] for w in set(who))
        full = sum(7 << {"u": 6, "g": 3, "o": 0}[w] for w in set(who))
        mode = (mode | mask if m[2] == "+" else mode & ~mask if m[2] == "-"
                else (mode & ~full) | mask)
    return mode


def touch(inv: Invocation) -> int:
    flags, names = _opts(inv, "acm")
    fs, status = inv.userland.fs, 0
    for name in names:
        path = inv.path(name)
        try:
            if fs.stat(path) is None:
                if "c" in flags:
                    continue
                fs.open_write(path, 0o666).close()
            fs.set_mtime(path, int(inv.userland.epoch_s()))
        except OSError as exc:
            status = inv.error(f"'{name}': {_strerror(exc)}")
    return status


COMMANDS = {
    "cat": cat, "ls": ls, "stat": stat, "sha256sum": checksum, "md5sum": checksum,
    "sha1sum": checksum, "mkdir": mkdir, "rm": rm, "rmdir": rmdir, "mv": cp_mv, "cp": cp_mv,
    "chmod": chmod, "touch": touch,
}
