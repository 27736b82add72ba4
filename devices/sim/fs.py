"""The simulated phone's file system.

Writable storage (``/data/local/tmp``) lives in a private host folder; no device path can ever
reach a host path outside it (``..`` is resolved on the device path, and symlinks that point out
are refused). Read-only virtual files (``/proc/meminfo``, ``/sys/class/...``) come from a
provider callable so that their content can follow the physical model. Everything else does not
exist. A full disk can be injected (writes fail with ENOSPC).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat as statmod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BLOCK = 4096  # the filesystem block: a file takes whole blocks, as df counts them
WRITABLE_ROOTS = ("/data/local/tmp",)


@dataclass(frozen=True)
class Stat:
    mode: int  # st_mode with the file-type bits
    size: int
    mtime: int

    @property
    def is_dir(self) -> bool:
        return statmod.S_ISDIR(self.mode)


VirtualProvider = Callable[[str], "bytes | None"]
"""Content of a virtual read-only file by device path, or None when there is none."""

VirtualLister = Callable[[str], "list[str] | None"]
"""Names inside a virtual directory by device path, or None when it is not one."""


class SimFS:
    def __init__(
        self,
        root: Path,
        capacity_bytes: int = 64 * 2**30,
        virtual_file: VirtualProvider | None = None,
        virtual_dir: VirtualLister | None = None,
    ):
        self.root = Path(root).resolve()
        self.capacity_bytes = capacity_bytes
        self.full = False
        """Fault injection: every write fails with ENOSPC and free space reads as 0."""
        self._virtual_file = virtual_file or (lambda path: None)
        self._virtual_dir = virtual_dir or (lambda path: None)
        for writable in WRITABLE_ROOTS:
            self._host(writable).mkdir(parents=True, exist_ok=True)

    # --- paths -----------------------------------------------------------------------------

    @staticmethod
    def normalize(path: str, cwd: str = "/") -> str:
        """An absolute, ``..``-free device path."""
        if not path.startswith("/"):
            path = posixpath.join(cwd, path)
        normal = posixpath.normpath(path)
        return "/" + normal.lstrip("/") if normal != "/" else "/"

    def _writable_root(self, path: str) -> str | None:
        for root in WRITABLE_ROOTS:
            if path == root or path.startswith(root + "/"):
                return root
        return None

    def _host(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def host_path(self, path: str) -> Path | None:
        """The host file behind a writable device path, or None when ``path`` is not in the
        writable area. The result is always inside ``root`` (symlinks out are refused)."""
        path = self.normalize(path)
        if self._writable_root(path) is None:
            return None
        host = self._host(path)
        real = host.resolve()
        if real != self.root and self.root not in real.parents:
            raise PermissionError(errno.EACCES, "path escapes the device storage", path)
        return host

    # --- queries ---------------------------------------------------------------------------

    def stat(self, path: str) -> Stat | None:
        path = self.normalize(path)
        host = self.host_path(path)
        if host is not None:
            try:
                st = host.stat()
            except OSError:
                return None
            return Stat(st.st_mode, st.st_size, int(st.st_mtime))
        content = self._virtual_file(path)
        if content is not None:
            return Stat(statmod.S_IFREG | 0o444, len(content), 0)
        if self._virtual_dir(path) is not None or self._is_ancestor_of_known(path):
            return Stat(statmod.S_IFDIR | 0o755, 4096, 0)
        return None

    def _is_ancestor_of_known(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(root.startswith(prefix) for root in WRITABLE_ROOTS) or path == "/"

    def listdir(self, path: str) -> list[str] | None:
        """Names in a directory (sorted), or None when ``path`` is not a directory."""
        path = self.normalize(path)
        host = self.host_path(path)
        if host is not None:
            return sorted(os.listdir(host)) if host.is_dir() else None
        names = self._virtual_dir(path)
        if names is not None:
            return sorted(names)
        prefix = path.rstrip("/") + "/"
        children = {root[len(prefix):].split("/")[0] for root in WRITABLE_ROOTS
                    if root.startswith(prefix)}
        return sorted(children) if children or path == "/" else None

    def read_bytes(self, path: str) -> bytes:
        path = self.normalize(path)
        host = self.host_path(path)
        if host is not None:
            if host.is_dir():
                raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
            return host.read_bytes()
        content = self._virtual_file(path)
        if content is None:
            if self.stat(path) is not None:
                raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return content

    def free_bytes(self) -> int:
        """Free space as the phone's filesystem counts it: whole 4 KiB blocks."""
        if self.full:
            return 0
        used = sum(-(-f.stat().st_size // BLOCK) * BLOCK
                   for f in self.root.rglob("*") if f.is_file())
        return max((self.capacity_bytes - used) // BLOCK * BLOCK, 0)

    # --- changes (writable area only) ------------------------------------------------------

    def _writable(self, path: str) -> Path:
        host = self.host_path(path)
        if host is None:
            raise PermissionError(errno.EROFS, "Read-only file system", self.normalize(path))
        return host

    def open_write(self, path: str, mode: int = 0o644) -> BinaryIO:
        """Open a file for writing (truncating). A full disk raises ENOSPC."""
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device", self.normalize(path))
        host = self._writable(path)
        if not host.parent.is_dir():
            raise FileNotFoundError(errno.ENOENT, "No such file or directory",
                                    self.normalize(path))
        # unbuffered: each write reaches the file at once, as a shell's redirection's write(2)
        # does, so that a reader sees a growing file (the sampler's, read while it runs)
        fh = open(host, "wb", buffering=0)
        os.chmod(host, mode & 0o7777 or 0o644)
        return _CappedWriter(fh, self)

    def set_mtime(self, path: str, mtime: int) -> None:
        host = self._writable(path)
        os.utime(host, (mtime, mtime))

    def mkdir(self, path: str, parents: bool = False) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device", self.normalize(path))
        host = self._writable(path)
        host.mkdir(parents=parents, exist_ok=parents)

    def remove(self, path: str, recursive: bool = False) -> None:
        import shutil

        path = self.normalize(path)
        if path in WRITABLE_ROOTS:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        host = self._writable(path)
        if host.is_symlink() or host.is_file():
            host.unlink()
        elif host.is_dir():
            if not recursive:
                raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
            shutil.rmtree(host)
        else:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)


class _CappedWriter:
    """A file writer that fails with ENOSPC once the simulated storage is full."""

    def __init__(self, fh: BinaryIO, fs: SimFS):
        self._fh = fh
        self._fs = fs

    def write(self, data: bytes) -> int:
        if self._fs.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        view, done = memoryview(data), 0
        while done < len(view):
            done += self._fh.write(view[done:]) or 0
        return done

    def close(self) -> None:
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
