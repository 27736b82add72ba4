"""Faults the simulated phone's ADB server can inject, to test how the harness copes.

The server reads these fields live, so a test may change them on a running server (for
example set ``drop_after_bytes`` right before a push). Per-connection limits count from the
start of each TCP connection (``drop_after_bytes``) or from its handshake (``drop_after_s``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    drop_after_s: float | None = None
    """Close the TCP connection this long after the handshake (CNXN) completed."""
    drop_after_bytes: int | None = None
    """Close the TCP connection once this many bytes were received from the host
    (e.g. in the middle of a push)."""
    refuse_auth: bool = False
    """Never accept a signature nor a public key: the phone's "Allow USB debugging?" dialog is
    never answered (only matters with ``auth="verify"``)."""
    slow_link_bytes_per_s: float | None = None
    """Throttle what the device sends to this rate."""
    latency_s: float = 0.0
    """Delay added before every message the device sends."""
    corrupt_checksums: bool = False
    """Send wrong ``data_check`` fields (adb-shell raises InvalidChecksumError; adb 29 ignores)."""
    refuse_services: tuple[str, ...] = ()
    """Service prefixes (e.g. ``"shell"``, ``"sync:"``) answered with CLSE as if unknown."""
