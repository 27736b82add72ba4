"""The ADB wire protocol as pure data: message framing, banners, sync and shell-v2 packets.

No sockets here. Everything follows ``reference/ADB_PROTOCOL.md``: little-endian u32 fields,
a byte-sum "checksum" on everything sent (adb-shell checks it), a banner without a NUL, and
sync/shell-v2 packets that are reassembled from a byte stream (their boundaries never line up
with WRTE boundaries).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np


def _word(name: bytes) -> int:
    return int.from_bytes(name, "little")


# --- transport messages --------------------------------------------------------------------

A_CNXN, A_AUTH, A_OPEN = _word(b"CNXN"), _word(b"AUTH"), _word(b"OPEN")
A_OKAY, A_WRTE, A_CLSE = _word(b"OKAY"), _word(b"WRTE"), _word(b"CLSE")
A_SYNC, A_STLS = _word(b"SYNC"), _word(b"STLS")
COMMANDS = {A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_WRTE, A_CLSE, A_SYNC, A_STLS}

A_VERSION_MIN = 0x01000000
A_VERSION = 0x01000001  # the sender may skip checksums; we always send them anyway
MAX_PAYLOAD_V1 = 4096
MAX_PAYLOAD = 1 << 20

AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
TOKEN_SIZE = 20

HEADER = struct.Struct("<6I")
HEADER_SIZE = HEADER.size  # 24

FEATURES = ("shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir")

_NUMPY_CHECKSUM_MIN = 512  # below this, the builtin sum() is faster than a numpy round trip


def command_name(cmd: int) -> str:
    return cmd.to_bytes(4, "little").decode("latin-1")


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The ``data_check`` field: the sum of all payload bytes modulo 2**32 (not a CRC)."""
    if len(data) < _NUMPY_CHECKSUM_MIN:
        return sum(data) & 0xFFFFFFFF
    return int(np.frombuffer(data, np.uint8).sum(dtype=np.uint64)) & 0xFFFFFFFF


def pack_message(cmd: int, arg0: int, arg1: int, data: bytes = b"",
                 corrupt_checksum: bool = False) -> bytes:
    """One message, header and payload, ready for a single ``sendall``."""
    check = checksum(data) if data else 0
    if corrupt_checksum and data:
        check = (check + 1) & 0xFFFFFFFF
    return HEADER.pack(cmd, arg0, arg1, len(data), check, cmd ^ 0xFFFFFFFF) + bytes(data)


@dataclass(frozen=True)
class Header:
    cmd: int
    arg0: int
    arg1: int
    length: int
    check: int
    magic: int

    @property
    def magic_ok(self) -> bool:
        return self.magic == self.cmd ^ 0xFFFFFFFF

    @property
    def name(self) -> str:
        return command_name(self.cmd)


def parse_header(raw: bytes | bytearray | memoryview) -> Header:
    return Header(*HEADER.unpack(raw))


def describe(cmd: int, arg0: int, arg1: int, data: bytes | bytearray | memoryview = b"") -> str:
    """A short, loggable rendering of a message (payload abbreviated)."""
    shown = bytes(data[:48])
    more = "..." if len(data) > 48 else ""
    return f"{command_name(cmd)}({arg0:#x}, {arg1:#x}) {len(data)}B {shown!r}{more}"


# --- banners ---------------------------------------------------------------------------------

def build_banner(props: dict[str, str], features: tuple[str, ...] = FEATURES) -> bytes:
    """``device::ro.product.name=..;...;features=..`` with NO trailing NUL (a NUL would corrupt
    the last feature name for adb 29)."""
    fields = [f"{key}={value}" for key, value in props.items()
              if key in ("ro.product.name", "ro.product.model", "ro.product.device")]
    fields.append("features=" + ",".join(features))
    banner = ("device::" + ";".join(fields)).encode()
    if len(banner) > MAX_PAYLOAD_V1:
        raise ValueError("banner longer than 4096 bytes")
    return banner


@dataclass(frozen=True)
class Banner:
    system_type: str
    serial: str
    props: dict[str, str]
    features: frozenset[str]


def parse_banner(payload: bytes) -> Banner:
    """Parse a CNXN payload (``host::features=...`` or ``host::<hostname>\\0``)."""
    text = bytes(payload).rstrip(b"\0").decode("utf-8", "replace")
    parts = text.split(":", 2)
    while len(parts) < 3:
        parts.append("")
    props: dict[str, str] = {}
    for item in parts[2].split(";"):
        kv = item.split("=")
        if len(kv) == 2:
            props[kv[0]] = kv[1]
    features = frozenset(f for f in props.pop("features", "").split(",") if f)
    return Banner(parts[0], parts[1], props, features)


# --- services --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShellRequest:
    command: str
    v2: bool
    pty: bool
    term: str | None


def parse_shell_service(service: str) -> ShellRequest | None:
    """``shell:CMD`` or ``shell,v2,TERM=xterm,raw:CMD`` (split at the first ``:``, like adbd);
    None when ``service`` is not a shell service."""
    head, sep, command = service.partition(":")
    if not sep or head.split(",")[0] != "shell":
        return None
    options = head.split(",")[1:]
    term = next((o[5:] for o in options if o.startswith("TERM=")), None)
    pty = "pty" in options or ("raw" not in options and not command)
    return ShellRequest(command, "v2" in options, pty, term)


# --- shell protocol v2 -----------------------------------------------------------------------

SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT = 0, 1, 2, 3
SHELL_CLOSE_STDIN, SHELL_WINDOW_SIZE = 4, 5
_SHELL_HEADER = struct.Struct("<BI")


def shell_packet(packet_id: int, data: bytes = b"") -> bytes:
    return _SHELL_HEADER.pack(packet_id, len(data)) + data


def shell_exit_packet(code: int) -> bytes:
    return shell_packet(SHELL_EXIT, bytes([code & 0xFF]))


class PacketReader:
    """Reassembles length-prefixed packets from a byte stream that arrives in arbitrary pieces.

    ``header`` is a struct whose LAST field is the payload length (shell v2: ``<BI``; sync:
    ``<2I``). For sync, ``length_is_payload`` says per id whether the length field announces
    a payload (``DONE`` carries the mtime there instead)."""

    def __init__(self, header: struct.Struct, max_payload: int,
                 no_payload_ids: frozenset[int] = frozenset()):
        self._header = header
        self._max = max_payload
        self._no_payload = no_payload_ids
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, int, memoryview]]:
        """Every complete packet now available, as ``(id, length_field, payload)``.

        Payloads are memoryviews into ``data`` (or into the reassembly buffer): no copy when
        packets line up with the pieces, as adb-shell's do. They stay valid after the call."""
        if self._buf:
            self._buf += data
            source: bytes | bytearray | memoryview = self._buf
        else:
            source = data
        view = memoryview(source)
        packets = []
        pos, end, size = 0, len(view), self._header.size
        while end - pos >= size:
            packet_id, length = self._header.unpack_from(view, pos)
            need = 0 if packet_id in self._no_payload else length
            if need > self._max:
                raise ValueError(f"packet of {need} bytes exceeds {self._max}")
            if end - pos - size < need:
                break
            start = pos + size
            pos = start + need
            packets.append((packet_id, length, view[start:pos]))
        # a fresh buffer: the views handed out keep the old one alive, unchanged
        self._buf = bytearray(view[pos:]) if pos < end else bytearray()
        return packets

    @property
    def pending(self) -> int:
        return len(self._buf)


def shell_v2_reader() -> PacketReader:
    return PacketReader(_SHELL_HEADER, MAX_PAYLOAD)


# --- sync protocol ---------------------------------------------------------------------------

ID_STAT, ID_STA2, ID_LST2 = _word(b"STAT"), _word(b"STA2"), _word(b"LST2")
ID_LIST, ID_LIS2 = _word(b"LIST"), _word(b"LIS2")
ID_DENT, ID_DNT2 = _word(b"DENT"), _word(b"DNT2")
ID_SEND, ID_RECV = _word(b"SEND"), _word(b"RECV")
ID_DATA, ID_DONE = _word(b"DATA"), _word(b"DONE")
ID_OKAY, ID_FAIL, ID_QUIT = _word(b"OKAY"), _word(b"FAIL"), _word(b"QUIT")

SYNC_DATA_MAX = 64 * 1024
SYNC_PATH_MAX = 1024
RECV_CHUNK = SYNC_DATA_MAX - 8  # what real adbd puts in one DATA

_SYNC_HEADER = struct.Struct("<2I")
_STAT_V1 = struct.Struct("<4I")
_STAT_V2 = struct.Struct("<2I2Q4IQ3q")
_DENT_V1 = struct.Struct("<5I")
_DENT_V2 = struct.Struct("<2I2Q4IQ3qI")


def sync_reader() -> PacketReader:
    # a QUIT carries no payload; a DONE's length field is the mtime
    return PacketReader(_SYNC_HEADER, SYNC_DATA_MAX, frozenset({ID_DONE, ID_QUIT}))


def sync_header(sync_id: int, length: int) -> bytes:
    return _SYNC_HEADER.pack(sync_id, length)


def sync_data(chunk: bytes | memoryview) -> bytes:
    return _SYNC_HEADER.pack(ID_DATA, len(chunk)) + chunk


def sync_done() -> bytes:
    return _SYNC_HEADER.pack(ID_DONE, 0)


def sync_okay() -> bytes:
    return _SYNC_HEADER.pack(ID_OKAY, 0)


def sync_fail(message: str) -> bytes:
    raw = message.encode()
    return _SYNC_HEADER.pack(ID_FAIL, len(raw)) + raw


@dataclass(frozen=True)
class StatInfo:
    """What sync reports about one path (all zero with ``error`` set when it is missing)."""
    mode: int = 0
    size: int = 0
    mtime: int = 0
    error: int = 0
    dev: int = 0
    ino: int = 0
    nlink: int = 0
    uid: int = 0
    gid: int = 0


def stat_v1(st: StatInfo) -> bytes:
    return _STAT_V1.pack(ID_STAT, st.mode, st.size & 0xFFFFFFFF, max(st.mtime, 0) & 0xFFFFFFFF)


def stat_v2(request_id: int, st: StatInfo) -> bytes:
    if st.error:
        return _STAT_V2.pack(request_id, st.error, *([0] * 10))
    return _STAT_V2.pack(request_id, 0, st.dev, st.ino, st.mode, st.nlink, st.uid, st.gid,
                         st.size, st.mtime, st.mtime, st.mtime)


def dent_v1(name: bytes, st: StatInfo) -> bytes:
    return _DENT_V1.pack(ID_DENT, st.mode, st.size & 0xFFFFFFFF,
                         max(st.mtime, 0) & 0xFFFFFFFF, len(name)) + name


def dent_v2(name: bytes, st: StatInfo) -> bytes:
    return _DENT_V2.pack(ID_DNT2, st.error, st.dev, st.ino, st.mode, st.nlink, st.uid, st.gid,
                         st.size, st.mtime, st.mtime, st.mtime, len(name)) + name


def list_done(v2: bool) -> bytes:
    """The end of a listing: a FULL record of zeros (20 bytes v1, 76 bytes v2)."""
    size = _DENT_V2.size if v2 else _DENT_V1.size
    return _SYNC_HEADER.pack(ID_DONE, 0) + bytes(size - _SYNC_HEADER.size)


def parse_send_target(payload: bytes) -> tuple[str, int]:
    """``"<path>,<mode>"`` split at the LAST comma; the mode is parsed like C's
    ``strtoul(s, 0)`` (decimal, ``0x`` hex or leading-0 octal). No comma: mode 0."""
    text = payload.decode("utf-8", "surrogateescape")
    path, sep, mode_text = text.rpartition(",")
    if not sep:
        return text, 0
    return path, _strtoul0(mode_text)


def _strtoul0(text: str) -> int:
    text = text.strip()
    try:
        if text[:2].lower() == "0x":
            return int(text[2:], 16)
        if text.startswith("0") and len(text) > 1:
            return int(text[1:], 8)
        return int(text or "0", 10)
    except ValueError:
        return 0
