"""The ``sync:`` service of the simulated phone: stat, list, push and pull over SimFS.

Requests and replies follow ``reference/ADB_PROTOCOL.md`` §6 and real adbd's wording for
errors ("couldn't create file: Read-only file system", "open failed: No such file or
directory", "write failed: No space left on device"). A push is written to a hidden temporary
name in the target folder and renamed on DONE, so a dropped push never leaves a half file
under the final name. Its failure is reported after DONE (adb-shell reads nothing before it and
would lose an earlier reply); as in adbd, the stream closes after a FAIL.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import stat as statmod
import uuid
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from npubench.devices.sim import protocol as p
from npubench.devices.sim.fs import SimFS

if TYPE_CHECKING:
    from npubench.devices.sim.stream import Stream

log = logging.getLogger(__name__)

SHELL_UID = 2000  # files in /data/local/tmp belong to the shell user on a phone
_READ_CHUNK = p.RECV_CHUNK * 16  # one host read fills one 1 MiB WRTE with 16 DATA messages
_PATH_REQUESTS = {p.ID_STAT, p.ID_STA2, p.ID_LST2, p.ID_LIST, p.ID_LIS2, p.ID_SEND, p.ID_RECV}


def _strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


class _Push:
    """One SEND in progress: the device path, its mode, and the temporary file."""

    def __init__(self, path: str, mode: int):
        self.path = path
        self.mode = mode
        self.tmp_path: str | None = None
        self.file: BinaryIO | None = None
        self.error: str | None = None


class SyncService:
    def __init__(self, stream: Stream, fs: SimFS):
        self._stream = stream
        self._fs = fs
        self._reader = p.sync_reader()
        self._push: _Push | None = None
        self._ended = False

    def start(self) -> None:
        pass

    def on_close(self) -> None:
        self._ended = True
        self._abort_push()

    def on_data(self, data: bytes | bytearray) -> None:
        if self._ended:
            return
        try:
            for sync_id, length, payload in self._reader.feed(data):
                if self._push is not None:
                    self._push_packet(sync_id, length, payload)
                else:
                    self._request(sync_id, bytes(payload))
                if self._ended:
                    break
        except ValueError:  # a packet larger than SYNC_DATA_MAX
            self._fail_and_end("oversize data message")

    # --- requests ------------------------------------------------------------------------------

    def _request(self, sync_id: int, payload: bytes) -> None:
        if sync_id in _PATH_REQUESTS and len(payload) > p.SYNC_PATH_MAX:
            self._fail_and_end("path too long")
            return
        path = payload.decode("utf-8", "surrogateescape")
        log.debug("sync %s %r", p.command_name(sync_id), path[:200])
        if sync_id == p.ID_STAT:
            self._stream.write(p.stat_v1(self._stat(path)))
        elif sync_id in (p.ID_STA2, p.ID_LST2):
            self._stream.write(p.stat_v2(sync_id, self._stat(path)))
        elif sync_id in (p.ID_LIST, p.ID_LIS2):
            self._stream.write(self._listing(path, v2=sync_id == p.ID_LIS2))
        elif sync_id == p.ID_SEND:
            self._begin_push(payload)
        elif sync_id == p.ID_RECV:
            self._begin_pull(path)
        elif sync_id == p.ID_QUIT:
            self._end()
        else:
            self._fail_and_end(f"unknown command {sync_id:08x}")

    def _stat(self, path: str) -> p.StatInfo:
        try:
            st = self._fs.stat(path)
        except OSError as exc:
            return p.StatInfo(error=exc.errno or errno.EACCES)
        if st is None:
            return p.StatInfo(error=errno.ENOENT)
        normal = SimFS.normalize(path)
        owner = SHELL_UID if self._fs.host_path(normal) is not None else 0
        return p.StatInfo(mode=st.mode, size=st.size, mtime=st.mtime, dev=0xFD00,
                          ino=zlib.crc32(normal.encode()) or 1,
                          nlink=2 if st.is_dir else 1, uid=owner, gid=owner)

    def _listing(self, path: str, v2: bool) -> bytes:
        dent = p.dent_v2 if v2 else p.dent_v1
        try:
            names = self._fs.listdir(path)
        except OSError:
            names = None
        if names is None:  # a missing or unreadable folder gives just DONE, as in adbd
            return p.list_done(v2)
        normal = SimFS.normalize(path)
        entries = [(".", normal), ("..", posixpath.dirname(normal) or "/")]
        entries += [(name, posixpath.join(normal, name)) for name in names]
        parts = []
        for name, full in entries:
            st = self._stat(full)
            if not st.error:
                parts.append(dent(name.encode("utf-8", "surrogateescape"), st))
        parts.append(p.list_done(v2))
        return b"".join(parts)

    # --- pull ----------------------------------------------------------------------------------

    def _begin_pull(self, path: str) -> None:
        try:
            source = self._open_source(path)
        except OSError as exc:
            self._fail_and_end(f"open failed: {_strerror(exc)}")
            return
        self._stream.write_lazy(source)

    def _open_source(self, path: str) -> Iterator[bytes]:
        st = self._fs.stat(path)
        if st is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if st.is_dir:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        host = self._fs.host_path(path)
        if host is None:
            return _data_messages(self._fs.read_bytes(path))
        return _file_messages(open(host, "rb"))  # opened now: errors are reported at RECV

    # --- push ----------------------------------------------------------------------------------

    def _begin_push(self, payload: bytes) -> None:
        path, mode = p.parse_send_target(payload)
        push = self._push = _Push(SimFS.normalize(path), mode)
        if path.endswith("/"):  # open(O_CREAT) of "dir/" fails like this in adbd
            push.error = "couldn't create file: Is a directory"
        elif statmod.S_ISLNK(mode):
            push.error = "couldn't create symlink: Operation not supported"
            return
        try:
            self._open_push(push)
        except OSError as exc:
            push.error = f"couldn't create file: {_strerror(exc)}"
            self._abort_push(keep_state=True)

    def _open_push(self, push: _Push) -> None:
        fs = self._fs
        host = fs.host_path(push.path)
        if host is None:
            raise PermissionError(errno.EROFS, "Read-only file system", push.path)
        if host.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", push.path)
        parent, name = posixpath.split(push.path)
        if fs.stat(parent) is None:
            fs.mkdir(parent, parents=True)  # adbd creates missing parents (fixed_push_mkdir)
        push.tmp_path = posixpath.join(parent, f".{name}.sim-push-{uuid.uuid4().hex[:12]}")
        push.file = fs.open_write(push.tmp_path, push.mode & 0o7777 or 0o644)

    def _push_packet(self, sync_id: int, length: int, payload: memoryview) -> None:
        push = self._push
        assert push is not None
        if sync_id == p.ID_DATA:
            if push.error is None and push.file is not None:
                try:
                    push.file.write(payload)
                except OSError as exc:
                    push.error = f"write failed: {_strerror(exc)}"
                    self._abort_push(keep_state=True)
        elif sync_id == p.ID_DONE:
            self._finish_push(push, mtime=length)
        else:
            push.error = push.error or f"unexpected {p.command_name(sync_id)!r}"
            self._finish_push(push, mtime=0)

    def _finish_push(self, push: _Push, mtime: int) -> None:
        if push.error is None:
            try:
                self._commit_push(push, mtime)
            except OSError as exc:
                push.error = f"couldn't finish file: {_strerror(exc)}"
        if push.error is not None:
            self._abort_push()
            log.debug("push to %s failed: %s", push.path, push.error)
            self._fail_and_end(push.error)
            return
        self._push = None
        self._stream.write(p.sync_okay())

    def _commit_push(self, push: _Push, mtime: int) -> None:
        assert push.file is not None and push.tmp_path is not None
        push.file.close()
        push.file = None
        tmp_host, final_host = self._fs.host_path(push.tmp_path), self._fs.host_path(push.path)
        assert tmp_host is not None and final_host is not None
        os.replace(tmp_host, final_host)
        push.tmp_path = None
        self._fs.set_mtime(push.path, mtime)

    def _abort_push(self, keep_state: bool = False) -> None:
        """Close and delete the temporary file of a push that will not complete."""
        push = self._push
        if push is None:
            return
        if push.file is not None:
            try:
                push.file.close()
            except OSError:
                pass
            push.file = None
        if push.tmp_path is not None:
            host = self._fs.host_path(push.tmp_path)
            if host is not None:
                host.unlink(missing_ok=True)
            push.tmp_path = None
        if not keep_state:
            self._push = None

    # --- endings -------------------------------------------------------------------------------

    def _fail_and_end(self, message: str) -> None:
        self._abort_push()
        self._stream.write(p.sync_fail(message))
        self._end()

    def _end(self) -> None:
        self._ended = True
        self._stream.finish()


def _data_messages(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), p.RECV_CHUNK):
        yield p.sync_data(view[start:start + p.RECV_CHUNK])
    yield p.sync_done()


def _file_messages(fh: BinaryIO) -> Iterator[bytes]:
    try:
        while True:
            try:
                block = fh.read(_READ_CHUNK)
            except OSError as exc:
                yield p.sync_fail(f"read failed: {_strerror(exc)}")
                return
            if not block:
                break
            view = memoryview(block)
            yield b"".join(p.sync_data(view[i:i + p.RECV_CHUNK])
                           for i in range(0, len(block), p.RECV_CHUNK))
        yield p.sync_done()
    finally:
        fh.close()
