"""One host connection to the simulated adbd: handshake, AUTH, stream dispatch, sending.

The connection's thread reads messages and handles them under ``lock``; service threads (a
running shell command) write to their stream under the same lock (see
:mod:`devices.sim.stream` for the per-stream stop-and-wait flow control).
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING

from npubench.devices.sim import auth as adb_auth
from npubench.devices.sim import protocol as p
from npubench.devices.sim.services import open_service
from npubench.devices.sim.stream import Stream

if TYPE_CHECKING:
    from npubench.devices.sim.adbd import SimAdbServer

log = logging.getLogger("npubench.devices.sim.adbd")

_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only
_RECV_BUFFER = 256 * 1024


class ConnectionDropped(ConnectionError):
    """A fault closed the connection (or the host went away)."""


class Connection:
    """Reads and dispatches the messages of one TCP connection, on its own thread."""

    def __init__(self, server: SimAdbServer, sock: socket.socket, peer: tuple):
        self.server = server
        self.sock = sock
        self.peer = peer
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.streams: dict[int, Stream] = {}
        self.max_payload = p.MAX_PAYLOAD_V1
        self.online = False
        self._token: bytes | None = None
        self._next_id = 1
        self._bytes_in = 0
        self._buf = bytearray(_RECV_BUFFER)
        self._view = memoryview(self._buf)
        self._start = self._end = 0
        self._send_ready_at = 0.0  # slow-link pacing
        self._dropped = False
        self._drop_timer: threading.Timer | None = None
        self._thread = threading.Thread(target=self._run, name=f"adbd-conn:{peer}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # --- reading -------------------------------------------------------------------------------

    def _run(self) -> None:
        sock = self.sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._quickack()
            while True:
                header = p.parse_header(self._read(p.HEADER_SIZE))
                if not header.magic_ok:
                    log.warning("bad magic from %s: %s; dropping", self.peer, header)
                    break
                if header.length > max(self.server.maxdata, p.MAX_PAYLOAD_V1):
                    log.warning("payload of %d bytes from %s exceeds maxdata; dropping",
                                header.length, self.peer)
                    break
                payload = self._read(header.length) if header.length else b""
                self.server.stats.add(messages_received=1)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("<- %s", p.describe(header.cmd, header.arg0, header.arg1, payload))
                with self.lock:
                    self._handle(header, payload)
        except (OSError, ValueError, struct.error) as exc:
            log.debug("connection %s ends: %s", self.peer, exc)
        except Exception:  # a bug in a service: log it, drop this connection, keep serving
            log.exception("connection %s failed", self.peer)
        finally:
            self._teardown()

    def _quickack(self) -> None:
        if _TCP_QUICKACK is not None:
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            except OSError:
                pass

    def _recv_into(self, view: memoryview) -> int:
        n = self.sock.recv_into(view)
        if n == 0:
            raise ConnectionDropped("closed by the host")
        self._quickack()  # Linux clears it after every ACK: re-arm on every recv
        self._bytes_in += n
        self.server.stats.add(bytes_received=n)
        limit = self.server.faults.drop_after_bytes
        if limit is not None and self._bytes_in >= limit:
            log.debug("fault: dropping %s after %d bytes received", self.peer, self._bytes_in)
            self.drop()
            raise ConnectionDropped("fault: drop_after_bytes")
        return n

    def _read(self, n: int) -> bytes | bytearray:
        """Exactly ``n`` bytes: small reads come from a buffer, large ones straight into place."""
        have = self._end - self._start
        if have >= n:
            out = bytes(self._view[self._start:self._start + n])
            self._start += n
            return out
        out = bytearray(n)
        target = memoryview(out)
        target[:have] = self._view[self._start:self._end]
        got = have
        self._start = self._end = 0
        while got < n:
            if n - got >= 65536:
                got += self._recv_into(target[got:])
                continue
            k = self._recv_into(self._view)
            take = min(k, n - got)
            target[got:got + take] = self._view[:take]
            got += take
            self._start, self._end = take, k
        return out

    # --- dispatch (lock held) -----------------------------------------------------------------

    def _handle(self, h: p.Header, payload: bytes | bytearray) -> None:
        if h.cmd == p.A_CNXN:
            self._on_cnxn(h, payload)
        elif not self.online:
            if h.cmd == p.A_AUTH and self._token is not None:
                self._on_auth(h, payload)
        elif h.cmd == p.A_OPEN:
            self._on_open(h, payload)
        elif h.cmd == p.A_OKAY:
            stream = self.streams.get(h.arg1)
            if stream is not None and stream.remote_id == h.arg0:
                stream.acked()
                self.pump(stream)
        elif h.cmd == p.A_WRTE:
            stream = self.streams.get(h.arg1)
            if stream is not None and stream.remote_id == h.arg0:
                # ack first: adb-shell drops a reply WRTE that arrives while it waits for OKAY
                self._send([p.pack_message(p.A_OKAY, stream.local_id, stream.remote_id)])
                if stream.service is not None:
                    stream.service.on_data(payload)  # never a view of the reused buffer
        elif h.cmd == p.A_CLSE:
            stream = self.streams.get(h.arg1)
            if stream is not None and stream.remote_id == h.arg0:
                self._close_stream(stream, notify_host=True)
        # anything else (SYNC, STLS, unknown) is ignored

    def _on_cnxn(self, h: p.Header, payload: bytes | bytearray) -> None:
        banner = p.parse_banner(bytes(payload))
        log.debug("CNXN from %s: version %#x maxdata %d features %s", self.peer, h.arg0,
                  h.arg1, sorted(banner.features))
        for stream in list(self.streams.values()):  # a new CNXN resets the connection
            self._close_stream(stream, notify_host=False)
        self.online = False
        # never send more than either side accepts (adb 29 drops the transport otherwise)
        self.max_payload = min(self.server.maxdata, h.arg1 or p.MAX_PAYLOAD_V1)
        if self.server.auth == "none":
            self._go_online()
        else:
            self._challenge()

    def _challenge(self) -> None:
        self._token = adb_auth.new_token()
        self._send([p.pack_message(p.A_AUTH, p.AUTH_TOKEN, 0, self._token)])

    def _on_auth(self, h: p.Header, payload: bytes | bytearray) -> None:
        faults, stats = self.server.faults, self.server.stats
        if h.arg0 == p.AUTH_SIGNATURE:
            token = self._token or b""
            if not faults.refuse_auth and any(
                    adb_auth.verify_signature(key, token, bytes(payload))
                    for key in self.server.trusted_keys()):
                stats.add(signatures_verified=1)
                self._go_online()
            else:
                stats.add(signatures_rejected=1)
                self._challenge()
        elif h.arg0 == p.AUTH_RSAPUBLICKEY:
            if faults.refuse_auth or not self.server.accept_new_keys:
                stats.add(keys_refused=1)
                log.debug("public key from %s not accepted (no answer)", self.peer)
                return
            try:
                self.server.trust_key(bytes(payload))
            except ValueError as exc:
                log.warning("unreadable public key from %s: %s", self.peer, exc)
                stats.add(keys_refused=1)
                return
            stats.add(keys_accepted=1)
            self._go_online()

    def _go_online(self) -> None:
        self.online = True
        self._token = None
        self._send([p.pack_message(p.A_CNXN, p.A_VERSION, self.server.maxdata,
                                   self.server.banner())])
        delay = self.server.faults.drop_after_s
        if delay is not None:
            if self._drop_timer is not None:
                self._drop_timer.cancel()
            self._drop_timer = threading.Timer(delay, self.drop)
            self._drop_timer.daemon = True
            self._drop_timer.start()

    def _on_open(self, h: p.Header, payload: bytes | bytearray) -> None:
        if h.arg0 == 0:
            return
        name = bytes(payload).rstrip(b"\0").decode("utf-8", "surrogateescape")
        stream = Stream(self, self._next_id, h.arg0)
        refused = any(name.startswith(prefix) for prefix in self.server.faults.refuse_services)
        service = None if refused else open_service(name, stream, self.server.userland)
        if service is None:
            log.debug("refusing service %r", name)
            self._send([p.pack_message(p.A_CLSE, 0, h.arg0)])
            return
        self._next_id = self._next_id % 0xFFFFFFFF + 1
        stream.service = service
        self.streams[stream.local_id] = stream
        self._send([p.pack_message(p.A_OKAY, stream.local_id, stream.remote_id)])
        service.start()

    def _close_stream(self, stream: Stream, notify_host: bool) -> None:
        self.streams.pop(stream.local_id, None)
        if stream.closed:
            return
        stream.discard()
        if notify_host:
            self._send([p.pack_message(p.A_CLSE, stream.local_id, stream.remote_id)])
        if stream.service is not None:
            try:
                stream.service.on_close()
            except Exception:
                log.exception("service close failed")
        self.cond.notify_all()

    # --- writing -------------------------------------------------------------------------------

    def pump(self, stream: Stream) -> None:
        """Send whatever the stream may send now (see ``Stream.outgoing``)."""
        with self.lock:
            out = stream.outgoing(self.server.faults.corrupt_checksums)
            if stream.closed:
                self.streams.pop(stream.local_id, None)
            if out:
                self._send(out)
            self.cond.notify_all()

    def _send(self, messages: list[bytes]) -> None:
        if self._dropped:
            return
        data = messages[0] if len(messages) == 1 else b"".join(messages)
        faults = self.server.faults
        if faults.latency_s:
            time.sleep(faults.latency_s)
        if faults.slow_link_bytes_per_s:
            now = time.monotonic()
            start = max(now, self._send_ready_at)
            self._send_ready_at = start + len(data) / faults.slow_link_bytes_per_s
            time.sleep(max(0.0, self._send_ready_at - now))
        if log.isEnabledFor(logging.DEBUG):
            for msg in messages:
                h = p.parse_header(msg[:p.HEADER_SIZE])
                log.debug("-> %s", p.describe(h.cmd, h.arg0, h.arg1, msg[p.HEADER_SIZE:]))
        try:
            self.sock.sendall(data)
        except OSError as exc:
            log.debug("send to %s failed: %s", self.peer, exc)
            self.drop()
            return
        self.server.stats.add(bytes_sent=len(data), messages_sent=len(messages))

    # --- ending --------------------------------------------------------------------------------

    def drop(self, reset: bool = True) -> None:
        """Close the TCP connection now; ``reset`` sends an RST (like a cable pulled), so the
        host sees a connection error at once instead of a quiet end of stream."""
        if self._dropped:
            return
        self._dropped = True
        try:
            if reset:  # RST at close(); SHUT_RD wakes the reader without sending a FIN
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
                self.sock.shutdown(socket.SHUT_RD)
            else:
                self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _teardown(self) -> None:
        if self._drop_timer is not None:
            self._drop_timer.cancel()
        with self.lock:
            for stream in list(self.streams.values()):
                self._close_stream(stream, notify_host=False)
            self._dropped = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.server._forget(self)
        log.debug("connection %s closed", self.peer)
