"""An Android phone reached through a Transport: DeviceInfo from one batched getprop call,
batched file reads, push and pull (by content: what is already on the phone is not sent
again), free-space checks, and ``clean``. Every path and argument that reaches the phone's
shell is quoted with ``shlex.quote``."""

from __future__ import annotations

import posixpath
import re
import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from npubench.devices import soc as soc_catalogue
from npubench.devices.base import DeviceInfo, SocInfo
from npubench.devices.hashcache import HashCache
from npubench.devices.transport import ProgressCallback, Transport
from npubench.errors import DeviceError

WORK_DIR = "/data/local/tmp/npubench"
"""Everything npubench leaves on a phone lives here (``clean`` removes it)."""
FILES_DIR = f"{WORK_DIR}/files"
FREE_SPACE_MARGIN_BYTES = 16 * 2**20

_PROP_LINE = re.compile(rb"^\[(?P<key>[^\]]+)\]: \[(?P<value>.*)\]$")


def size_text(n: int) -> str:
    """Bytes as a person reads them: ``812 bytes``, ``48.0 KiB``, ``3.2 MiB``, ``4.10 GiB``."""
    if n < 1024:
        return f"{n} bytes"
    if n >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


@dataclass(frozen=True)
class ShellResult:
    stdout: bytes
    exit_code: int
    command: str
    stderr: bytes | None = None
    """Kept apart only when asked for (``split_stderr``); else merged into ``stdout``."""

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


@dataclass(frozen=True)
class PushResult:
    remote: str
    sent_bytes: int  # 0 when the content was already on the phone


def q(arg: str) -> str:
    """Quote one argument for the phone's shell (mksh/toybox sh are POSIX in this)."""
    return shlex.quote(str(arg))


class AndroidDevice:
    """A phone. Receives its transport; opens no sockets and spawns nothing itself."""

    kind = "android"

    def __init__(self, transport: Transport, spec: str, *, timeout_s: float = 30.0,
                 hash_cache: HashCache | None = None, on_close=None):
        self.transport = transport
        self.spec = spec
        self.timeout_s = timeout_s
        self._hashes = hash_cache or HashCache()
        self._on_close = on_close
        self._props: dict[str, str] | None = None
        self._info: DeviceInfo | None = None
        self._meminfo: bytes | None = None
        self._cpu_count: int | None = None
        self.push_memo: dict[str, str] | None = None
        """Set by a phone session (``devices.phone_session``) for its duration: what was pushed
        by content in it, so that pushing the same content again makes no round trip."""

    # --- life cycle ------------------------------------------------------------------------

    def connect(self, timeout_s: float | None = None) -> AndroidDevice:
        self.transport.connect(timeout_s or self.timeout_s)
        return self

    def close(self) -> None:
        try:
            self.transport.close()
        finally:
            if self._on_close is not None:
                self._on_close()
                self._on_close = None

    def __enter__(self) -> AndroidDevice:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- shell -----------------------------------------------------------------------------

    def run(self, command: str, timeout_s: float | None = None, check: bool = True,
            split_stderr: bool = False) -> ShellResult:
        """Run a command line on the phone. adb's ``shell:`` service gives no exit code and
        merges stderr into stdout, so the command runs in a subshell followed by a marker with
        ``$?``; with ``split_stderr`` its stderr goes to a file read back after the marker.
        ``check`` raises on a non-zero exit code."""
        token = secrets.token_hex(4)
        marker = f"__NPB_RC_{token}__"
        if split_stderr:
            err = f"{WORK_DIR}/.stderr-{token}"
            line = (f"mkdir -p {WORK_DIR} 2>/dev/null; (\n{command}\n) 2>{err}; "
                    f"echo {marker}$?; cat {err} 2>/dev/null; rm -f {err}")
        else:
            line = f"(\n{command}\n); echo {marker}$?"
        self._ensure_connected()
        raw = self.transport.shell(line, timeout_s or self.timeout_s, label=command)
        out, found, rest = raw.rpartition(marker.encode())
        if not found:
            raise DeviceError(self.spec, f"no exit status from '{command[:80]}' "
                              f"(output: {raw[-200:]!r})")
        status, _, stderr = rest.partition(b"\n")
        try:
            code = int(status.strip())
        except ValueError:
            raise DeviceError(self.spec, f"unreadable exit status {rest[:40]!r}") from None
        result = ShellResult(out, code, command, stderr if split_stderr else None)
        if check and code != 0:
            raise DeviceError(self.spec, f"'{command[:120]}' exited with {code}: "
                              f"{result.text.strip()[-300:]}")
        return result

    def _ensure_connected(self) -> None:
        """Reconnect after a timeout or a corrupt packet closed the transport (its stream
        state was unknown)."""
        if not getattr(self.transport, "connected", True):
            self.transport.connect(self.timeout_s)

    def getprops(self) -> dict[str, str]:
        if self._props is None:
            self._load_identity()
        return dict(self._props or {})

    def _load_identity(self) -> None:
        """getprop and /proc/meminfo in one shell call."""
        marker = f"__NPB_MEM_{secrets.token_hex(4)}__"
        raw = self.run(f"getprop; echo {marker}; cat /proc/meminfo 2>/dev/null; echo {marker}; "
                       "cat /sys/devices/system/cpu/possible 2>/dev/null").stdout
        props_part, _, rest = raw.partition(marker.encode())
        mem_part, _, cpus = rest.partition(marker.encode())
        self._props = parse_getprop(props_part)
        self._meminfo = mem_part
        self._cpu_count = parse_cpu_list(cpus.decode(errors="replace"))

    def read_files(self, paths: Sequence[str], timeout_s: float | None = None
                   ) -> dict[str, bytes | None]:
        """Many files in one shell call: their bytes, or None for those that cannot be read."""
        if not paths:
            return {}
        mark = f"__NPB_F_{secrets.token_hex(4)}__"
        parts = [f"echo {mark}B; cat {q(p)} 2>/dev/null; r=$?; echo; echo {mark}E$r"
                 for p in paths]
        raw = self.run("; ".join(parts), timeout_s, check=False).stdout
        return dict(zip(paths, parse_batch(raw, mark.encode(), len(paths)), strict=True))

    # --- identity --------------------------------------------------------------------------

    def info(self) -> DeviceInfo:
        if self._info is None:
            props = self.getprops()
            entry = soc_catalogue.lookup(props)
            part = entry.part if entry else (props.get("ro.soc.model")
                                             or props.get("ro.board.platform") or None)
            simulated = props.get("ro.npubench.simulated") == "1"  # the phone says so
            release = props.get("ro.build.version.release")
            sdk = props.get("ro.build.version.sdk")
            self._info = DeviceInfo(
                id=self.spec,
                kind="android",
                model=props.get("ro.product.model") or "unknown phone",
                manufacturer=props.get("ro.product.manufacturer"),
                soc=SocInfo(
                    vendor=entry.vendor if entry else props.get("ro.soc.manufacturer"),
                    part=part,
                    name=entry.name if entry else None,
                ),
                npu=entry.npu if entry else None,
                cpu=props.get("ro.soc.model") or props.get("ro.hardware"),
                cpu_cores=self._cpu_count,
                ram_bytes=parse_meminfo_total(self._meminfo or b""),
                os=f"Android {release} (SDK {sdk})" if release else None,
                build_fingerprint=props.get("ro.build.fingerprint"),
                abi=props.get("ro.product.cpu.abi"),
                accelerators=tuple(f"nnapi:{a}" for a in entry.nnapi_accelerators)
                if entry else (),
                simulated=simulated,
                simulated_timing=(props.get("ro.npubench.timing") or "measured")
                if simulated else None,
            )
        return self._info

    def backends(self) -> dict[str, str | None]:
        """The backends this phone's SoC is worth trying (the SoC catalogue), best first.
        Whether their tools are at hand is the harness's business (``phone_backends``)."""
        entry = soc_catalogue.lookup(self.getprops())
        names = entry.backends if entry else ("tflite:cpu", "tflite:xnnpack", "tflite:gpu",
                                              "tflite:nnapi", "ort:cpu", "ort:nnapi")
        return {name: None for name in names}

    # --- files -----------------------------------------------------------------------------

    def free_bytes(self, path: str = "/data/local/tmp") -> int:
        out = self.run(f"df -k {q(path)}").text.strip().splitlines()
        try:
            return int(out[-1].split()[3]) * 1024
        except (IndexError, ValueError):
            raise DeviceError(self.spec, f"cannot read free space from df: {out!r}") from None

    def push(self, local: Path, remote: str, mode: int = 0o644,
             progress: ProgressCallback | None = None, timeout_s: float | None = None) -> int:
        """Push ``local`` to ``remote`` (via a temporary name, so an interrupted push never
        leaves a half file under the real name). Returns the bytes sent."""
        local = Path(local)
        size = local.stat().st_size
        folder = posixpath.dirname(remote)
        # df on a folder that exists already: making the folder can itself fail on a full disk
        free = self.free_bytes("/data/local/tmp" if folder.startswith("/data/local/tmp")
                               else folder)
        if size + FREE_SPACE_MARGIN_BYTES > free:
            raise DeviceError(self.spec, f"not enough space on the phone for {local.name} "
                              f"({size_text(size)}): {size_text(size + FREE_SPACE_MARGIN_BYTES)}"
                              f" needed with {size_text(FREE_SPACE_MARGIN_BYTES)} kept free, "
                              f"{size_text(free)} free in {folder}",
                              hint="free space on the phone, or run `npubench clean`")
        self.run(f"mkdir -p {q(folder)}")
        partial = f"{remote}.npb-partial"
        timeout = timeout_s or max(self.timeout_s, size / (2 * 2**20))  # at least 2 MB/s
        self.transport.push(local, partial, mode, timeout, progress)
        self.run(f"mv -f {q(partial)} {q(remote)}")
        return size

    def push_by_content(self, local: Path, progress: ProgressCallback | None = None,
                        name: str | None = None, mode: int = 0o644) -> PushResult:
        """Push ``local`` to a path named by its sha256; nothing is sent when that content
        is already on the phone."""
        local = Path(local)
        digest = self._hashes.sha256(local)
        remote = f"{FILES_DIR}/{digest[:24]}/{name or local.name}"
        memo = self.push_memo
        if memo is not None and memo.get(f"{remote}:{mode:o}") == remote:
            return PushResult(remote, 0)
        size = local.stat().st_size
        sent = 0 if self._remote_size(remote) == size else self.push(local, remote, mode=mode,
                                                                      progress=progress)
        if memo is not None:
            memo[f"{remote}:{mode:o}"] = remote
        return PushResult(remote, sent)

    def push_folder_by_content(self, files: Sequence[Path] | dict[str, Path],
                               mode: int = 0o644) -> str:
        """Push files that must sit together in one folder (a delegate and its libraries, a
        model and its test data): ``files`` by name, or a mapping of relative paths to files.
        The folder is named by the content of them all; unchanged files are not sent."""
        import hashlib

        named = files if isinstance(files, dict) else {f.name: f for f in files}
        combined = hashlib.sha256()
        for rel in sorted(named):
            combined.update(f"{rel}:{self._hashes.sha256(named[rel])};".encode())
        folder = f"{FILES_DIR}/{combined.hexdigest()[:24]}"
        memo = self.push_memo
        if memo is not None and memo.get(f"{folder}/:{mode:o}") == folder:
            return folder
        for rel, file in named.items():
            remote = f"{folder}/{rel}"
            if self._remote_size(remote) != file.stat().st_size:
                self.push(file, remote, mode=mode)
        if memo is not None:
            memo[f"{folder}/:{mode:o}"] = folder
        return folder

    def _remote_size(self, remote: str) -> int | None:
        self._ensure_connected()
        try:
            mode, size, _mtime = self.transport.stat(remote, self.timeout_s)
        except DeviceError:
            return None
        return size if mode else None

    def pull(self, remote: str, local: Path, progress: ProgressCallback | None = None,
             timeout_s: float | None = None) -> None:
        self._ensure_connected()
        self.transport.pull(remote, Path(local), timeout_s or self.timeout_s, progress)

    def clean(self) -> None:
        """Remove everything npubench left on the phone; first restore charging if a run that
        suspended it was killed before it could restore it (its marker is in WORK_DIR)."""
        from npubench.devices.charging_guard import restore_stale  # (it imports this module)

        restore_stale(self)
        self.run(f"rm -rf {q(WORK_DIR)}")
        if self.push_memo is not None:
            self.push_memo.clear()


def parse_getprop(raw: bytes) -> dict[str, str]:
    """``[key]: [value]`` lines of ``getprop`` into a dict (values may hold ']' and ': ')."""
    props: dict[str, str] = {}
    for line in raw.splitlines():
        match = _PROP_LINE.match(line.strip())
        if match:
            props[match["key"].decode(errors="replace")] = match["value"].decode(errors="replace")
    return props


def parse_meminfo_total(raw: bytes) -> int | None:
    for line in raw.splitlines():
        if line.startswith(b"MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def parse_cpu_list(text: str) -> int | None:
    """How many CPUs a kernel cpu list names (``0-7``, ``0-3,6``)."""
    count = 0
    try:
        for part in text.strip().split(","):
            if not part:
                continue
            low, _, high = part.partition("-")
            count += int(high or low) - int(low) + 1
    except ValueError:
        return None
    return count or None


def parse_batch(raw: bytes, mark: bytes, count: int) -> list[bytes | None]:
    """Split the output of ``read_files``' batched command: for each file, its bytes when
    ``cat`` exited 0, else None."""
    results: list[bytes | None] = []
    begin = mark + b"B\n"
    rest = raw
    for _ in range(count):
        start = rest.find(begin)
        if start < 0:
            results.append(None)
            continue
        rest = rest[start + len(begin):]
        end = rest.find(b"\n" + mark + b"E")
        if end < 0:
            results.append(None)
            continue
        content = rest[:end]
        line_end = rest.find(b"\n", end + 1 + len(mark) + 1)
        code = rest[end + 1 + len(mark) + 1: line_end if line_end >= 0 else None].strip()
        rest = rest[line_end + 1:] if line_end >= 0 else b""
        results.append(content if code == b"0" else None)
    return results
