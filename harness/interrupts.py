"""SIGTERM and SIGHUP handled as Ctrl-C: a CI runner cancelling a job, systemd stopping a unit,
a closed terminal or a farm worker stopping its phone processes gets the same orderly stop as a
user's Ctrl-C (what was measured kept, phones restored, storage removed). And the restoring
itself is not cut short by a second Ctrl-C (``signals_deferred``)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))
"""The signals that stop a run as Ctrl-C does (SIGHUP does not exist on Windows)."""


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _swap(signums, handler) -> dict | None:
    """Install ``handler`` for ``signums``; the previous handlers, or None outside the main
    thread (where nothing changes)."""
    previous: dict = {}
    try:
        for signum in signums:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        _put_back(previous)
        return None
    return previous


def _put_back(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt as Ctrl-C does, once: the
    signals after the first (a second Ctrl-C, a CI runner's SIGTERM after its Ctrl-C) do not
    cut the orderly stop short (phones restored, records and report written) while the block
    lasts. In the main thread only: elsewhere nothing changes. A SIGINT that was ignored (a
    process started in the background) stays ignored."""
    stopping: list[int] = []

    def stop(signum, frame) -> None:
        if not stopping:
            stopping.append(signum)
            raise KeyboardInterrupt

    signums = STOP_SIGNALS
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signums = (signal.SIGINT, *signums)
    previous = _swap(signums, stop)
    try:
        yield
    finally:
        if previous is not None:
            _put_back(previous)


@contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Within the block (a phone's restore), Ctrl-C, SIGTERM and SIGHUP do not interrupt: each
    is noted in the yielded list and the previous handlers come back after the block (in the
    main thread only: elsewhere nothing changes). The block must bound its own time (the
    restore's commands have timeouts)."""
    caught: list[int] = []
    previous = _swap((signal.SIGINT, *STOP_SIGNALS), lambda signum, frame: caught.append(signum))
    try:
        yield caught
    finally:
        if previous is not None:
            _put_back(previous)
