"""Each job runs in its own worker process (as pyperf does).

A runtime that crashes (a segfaulting delegate) or hangs then becomes a ``failed`` record
instead of a dead harness, and the peak memory read at the end belongs to that job alone.
Workers are forked from a fork server that has already imported the runtimes, so starting
one costs milliseconds, not the seconds of a fresh interpreter.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

PRELOAD = ["npubench.harness.worker_preload"]

_context: multiprocessing.context.BaseContext | None = None


def context() -> multiprocessing.context.BaseContext:
    global _context
    if _context is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            _context = multiprocessing.get_context("forkserver")
            _context.set_forkserver_preload(PRELOAD)
        else:
            _context = multiprocessing.get_context("spawn")
    return _context


def run_isolated(
    target: Callable[[dict[str, Any]], dict[str, Any]],
    job: dict[str, Any],
    timeout_s: float,
    log_path: Path | None = None,
) -> dict[str, Any]:
    """Run ``target(job)`` in a worker process and return its dict.

    A worker that dies, hangs past ``timeout_s`` or raises gives ``{"status": "failed",
    "error": {...}}``; the caller turns either into a record."""
    ctx = context()
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_child, args=(target, job, sender, str(log_path) if log_path else None)
    )
    process.start()
    sender.close()
    try:
        if receiver.poll(timeout_s):
            try:
                return receiver.recv()
            except EOFError:
                pass  # the worker died before it could answer: see its exit code below
            process.join(5)
            return _died(process.exitcode, log_path)
        _stop(process)
        return _failure(
            "timeout",
            f"the job did not finish within {timeout_s:.0f} s and its worker was killed "
            "(a hung runtime or delegate?)",
        )
    finally:
        if process.is_alive():
            _stop(process)
        process.join()
        receiver.close()


def _stop(process: multiprocessing.process.BaseProcess) -> None:
    process.terminate()
    process.join(2)
    if process.is_alive():
        process.kill()
        process.join()


def _died(exitcode: int | None, log_path: Path | None) -> dict[str, Any]:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        what = f"the worker process crashed with {name}"
    else:
        what = f"the worker process exited with code {exitcode} without a result"
    tail = _log_tail(log_path)
    return _failure("crash", what + (f"; last output: {tail}" if tail else ""))


def _log_tail(log_path: Path | None, lines: int = 3) -> str:
    if not log_path or not Path(log_path).exists():
        return ""
    text = Path(log_path).read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])[:500]


def _failure(kind: str, message: str, infrastructure: bool = False) -> dict[str, Any]:
    return {
        "status": "failed",
        "error": {"kind": kind, "message": message, "infrastructure": infrastructure},
    }


def _child(target, job, sender, log_path: str | None) -> None:
    # The parent decides what Ctrl-C means; a worker must not die half-way through a reply.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    from npubench.errors import NpubenchError

    try:
        result = target(job)
    except NpubenchError as exc:
        result = {"status": "failed", "error": exc.as_record()}
        if exc.kind == "unavailable":
            result["status"] = "skipped"
    except Exception as exc:  # a bug or a runtime's own exception: keep it as data
        traceback.print_exc()
        result = _failure("internal", f"{type(exc).__name__}: {exc}")
    sys.stdout.flush()
    sys.stderr.flush()
    sender.send(result)
    sender.close()
