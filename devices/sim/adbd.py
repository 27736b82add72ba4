"""The simulated phone's adbd: a TCP server that speaks the real ADB protocol.

One listening socket, one thread per connection reading messages, one thread per running shell
command. Everything a connection sends goes out under its lock in one ``sendall`` per batch,
with checksums always filled in, payloads never above ``min(own, host maxdata)`` and strict
stop-and-wait per stream (one un-acked WRTE). TCP_NODELAY is set, and TCP_QUICKACK is re-armed
after every ``recv`` (adb-shell otherwise stalls ~40 ms per message). See
``reference/ADB_PROTOCOL.md`` for every rule followed here.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from npubench.devices.sim import auth as adb_auth
from npubench.devices.sim import protocol as p
from npubench.devices.sim.connection import Connection
from npubench.devices.sim.faults import Faults
from npubench.devices.sim.services import Userland
from npubench.devices.sim.stream import Stream

__all__ = ["Faults", "SimAdbServer", "SimStats", "Stream"]

log = logging.getLogger(__name__)

EMULATOR_SCAN_PORTS = range(5555, 5586)  # the adb server auto-attaches whatever answers here


@dataclass
class SimStats:
    """Counters for tests and benchmarks (updated under ``lock``)."""
    connections: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    messages_received: int = 0
    messages_sent: int = 0
    signatures_verified: int = 0
    signatures_rejected: int = 0
    keys_accepted: int = 0
    keys_refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


class SimAdbServer:
    """adbd over TCP for a simulated phone.

    ``auth="none"`` answers CNXN with CNXN. ``auth="verify"`` challenges with a 20-byte token;
    a signature by a trusted key connects, anything else gets a new token; a public key
    (``AUTH(3)``) is trusted and connects when ``accept_new_keys`` and not
    ``faults.refuse_auth``, otherwise the device stays silent like an unanswered dialog."""

    def __init__(self, userland: Userland, host: str = "127.0.0.1", port: int = 0,
                 auth: str = "none", trusted_keys: Iterable[bytes | str] = (),
                 accept_new_keys: bool = True, faults: Faults | None = None,
                 maxdata: int = p.MAX_PAYLOAD):
        if auth not in ("none", "verify"):
            raise ValueError(f"auth must be 'none' or 'verify', not {auth!r}")
        if not p.MAX_PAYLOAD_V1 <= maxdata <= p.MAX_PAYLOAD:
            raise ValueError(f"maxdata must be within 4096..{p.MAX_PAYLOAD}")
        self.userland = userland
        self.host = host
        self.port = port
        self.auth = auth
        self.accept_new_keys = accept_new_keys
        self.faults = faults if faults is not None else Faults()
        self.maxdata = maxdata
        self.stats = SimStats()
        self._lock = threading.Lock()
        self._trusted: dict[tuple[int, int], object] = {}
        for key in trusted_keys:
            self.trust_key(key)
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._connections: set[Connection] = set()
        self._running = False

    # --- keys --------------------------------------------------------------------------------

    def trust_key(self, public_key: bytes | str) -> None:
        """Trust an adb public key (``adbkey.pub`` content) or a PEM RSA public key."""
        key = adb_auth.decode_public_key(public_key)
        with self._lock:
            self._trusted[adb_auth.key_id(key)] = key

    def trusted_keys(self) -> list:
        with self._lock:
            return list(self._trusted.values())

    # --- life cycle --------------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        """Bind, listen and serve in background threads; returns ``(host, port)``."""
        if self._running:
            return self.address
        if self.port in EMULATOR_SCAN_PORTS:
            log.warning("port %d is scanned by the adb server (it will auto-attach the sim as "
                        "emulator-%d); prefer a port outside 5555-5585", self.port, self.port - 1)
        listener = socket.create_server((self.host, self.port), reuse_port=False, backlog=16)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._running = True
        self._accept_thread = threading.Thread(target=self._accept_loop,
                                               name=f"adbd-accept:{self.port}", daemon=True)
        self._accept_thread.start()
        log.debug("sim adbd listening on %s", self.serial)
        return self.address

    def stop(self) -> None:
        """Close the listener and every connection, and kill running commands. Idempotent."""
        self._running = False
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=2)
            self._accept_thread = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.drop(reset=False)
        for conn in connections:
            conn.join(timeout=2)

    def __enter__(self) -> SimAdbServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def serial(self) -> str:
        """The serial Google's adb gives this device after ``adb connect``: ``host:port``."""
        return f"{self.host}:{self.port}"

    def connection_count(self) -> int:
        """Connections open right now (``stats.connections`` counts all ever accepted)."""
        with self._lock:
            return len(self._connections)

    def banner(self) -> bytes:
        return p.build_banner(self.userland.banner_props())

    # --- internals ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        while self._running and listener is not None:
            try:
                sock, peer = listener.accept()
            except OSError:
                break
            if not self._running:
                sock.close()
                break
            self.stats.add(connections=1)
            conn = Connection(self, sock, peer)
            with self._lock:
                self._connections.add(conn)
            conn.start()

    def _forget(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)
