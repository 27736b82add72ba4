"""SIGTERM handled as Ctrl-C: a CI runner cancelling a job, systemd stopping a unit or a farm
worker stopping its phone processes gets the same orderly stop as a user's Ctrl-C (what was
measured kept, phones restored, storage removed)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (in the main thread only: elsewhere
    nothing changes)."""
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
