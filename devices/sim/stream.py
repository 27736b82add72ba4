"""One ADB stream as a service sees it: ordered output with stop-and-wait delivery.

Output is a queue of bytes and lazy iterators (a pull reads its file on demand), taken in order.
The connection sends at most one WRTE of up to ``max_payload`` bytes until the host's OKAY
comes back, then the next; ``finish()`` closes the stream once the queue is empty.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from npubench.devices.sim import protocol as p

if TYPE_CHECKING:
    from npubench.devices.sim.connection import Connection
    from npubench.devices.sim.services import Service


class Stream:
    """One ADB stream as a service sees it: ordered output with stop-and-wait delivery."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int):
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.service: Service | None = None
        self.closed = False
        self._items: deque[bytes | Iterator[bytes]] = deque()
        self._queued = 0  # bytes waiting in _items (iterators not counted)
        self._awaiting_ack = False
        self._finishing = False

    @property
    def max_payload(self) -> int:
        return self.conn.max_payload

    def write(self, data: bytes) -> None:
        with self.conn.lock:
            if self.closed or not data:
                return
            self._items.append(data)
            self._queued += len(data)
            self.conn.pump(self)

    def write_lazy(self, source: Iterator[bytes]) -> None:
        """Queue output produced on demand (a pull), in order with the rest."""
        with self.conn.lock:
            if not self.closed:
                self._items.append(source)
                self.conn.pump(self)

    def finish(self) -> None:
        """Close the stream once everything queued has been sent."""
        with self.conn.lock:
            self._finishing = True
            self.conn.pump(self)

    def wait_drained(self, limit_bytes: int) -> None:
        """Block a producer while more than ``limit_bytes`` wait to be sent (back-pressure)."""
        with self.conn.cond:
            while self._queued > limit_bytes and not self.closed:
                self.conn.cond.wait(0.5)

    def drop_connection_soon(self, delay_s: float) -> None:
        timer = threading.Timer(delay_s, self.conn.drop)
        timer.daemon = True
        timer.start()

    # --- for the connection (lock held) -------------------------------------------------------

    def acked(self) -> None:
        """The host's OKAY for our last WRTE arrived: the next one may go."""
        self._awaiting_ack = False

    def outgoing(self, corrupt_checksums: bool = False) -> list[bytes]:
        """The messages to send now: the next WRTE if the last one was acked, and the CLSE
        once finished and drained (real adbd closes without waiting for the last OKAY)."""
        if self.closed:
            return []
        out = []
        limit = self.conn.max_payload
        if not self._awaiting_ack:
            chunk = self._take(limit)
            if chunk:
                out.append(p.pack_message(p.A_WRTE, self.local_id, self.remote_id, chunk,
                                          corrupt_checksums))
                self._awaiting_ack = True
        if self._finishing and not self._items:
            out.append(p.pack_message(p.A_CLSE, self.local_id, self.remote_id))
            self.discard()
        elif self._awaiting_ack:
            self._prefetch(limit)
        return out

    def discard(self) -> None:
        """Mark the stream closed and drop what it still had to send."""
        self.closed = True
        for item in self._items:
            close = getattr(item, "close", None)
            if close is not None and not isinstance(item, (bytes, bytearray)):
                close()
        self._items.clear()
        self._queued = 0

    def _take(self, limit: int) -> bytes:
        if self._items:  # fast path: one ready chunk that fits (a prefetched pull block)
            item = self._items[0]
            if isinstance(item, bytes) and (len(item) == limit or
                                            len(item) < limit and len(self._items) == 1):
                self._items.popleft()
                self._queued -= len(item)
                return item
        out = bytearray()
        while self._items and len(out) < limit:
            item = self._items[0]
            if isinstance(item, (bytes, bytearray, memoryview)):
                room = limit - len(out)
                if len(item) <= room:
                    out += item
                    self._items.popleft()
                    self._queued -= len(item)
                else:
                    out += item[:room]
                    self._items[0] = item[room:]
                    self._queued -= room
                continue
            chunk = next(item, None)
            if chunk is None:
                self._items.popleft()
            else:  # put it in front of the iterator, then loop to split it as needed
                self._items.appendleft(chunk)
                self._queued += len(chunk)
        return bytes(out)

    def _prefetch(self, limit: int) -> None:
        """Produce the next chunk of a lazy source now, while the host handles the last WRTE."""
        if self._queued < limit and self._items and not isinstance(self._items[0], bytes):
            chunk = self._take(limit)
            if chunk:
                self._items.appendleft(chunk)
                self._queued += len(chunk)
