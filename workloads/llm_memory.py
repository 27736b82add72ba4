"""The memory of a decoder's process: /proc readings, and handing back mapped weight pages.

Measured on llama_1b_int4 with ONNX Runtime 1.32 (2-core host): ORT maps each external
initializer of the model's data file (MAP_PRIVATE). MatMulNBits pre-packs its 4-bit weights
*and scales* into buffers of its own (with a float of block sum per 32 weights for its int8
kernel), and drops the mapping of the weights, but the mapped pages of the original scales it
read stay resident: clean file pages, 1/5 of the int4 weights, held to the end (123 MiB of
1.0 GiB peak). ``releasing_while_loading`` and ``release_mapped_weights`` hand them back with
``madvise(MADV_PAGEOUT)``: a page that is used again is read back from the file (the fp16
embedding rows the prompt uses are); a page the process wrote to is never discarded (PAGEOUT
keeps its data), so doing it while ORT loads is safe. Linux 5.4 or later; elsewhere nothing is
released (None).
"""

from __future__ import annotations

import ctypes
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MADV_PAGEOUT = 21  # linux/mman-common.h
RELEASE_PERIOD_S = 0.25
_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


def proc_status() -> dict[str, float]:
    """This process's memory (MiB) from /proc/self/status: VmHWM (peak resident), VmRSS and
    its parts RssAnon (the heap, ORT's packed weights, arena) and RssFile (mapped files: the
    model's data file, libraries); {} where /proc is missing."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def mapped_mb(folder: Path) -> float | None:
    """Resident MiB of this process's mappings of files in ``folder`` (from smaps: it walks
    the pages, so not for a loop)."""
    if not sys.platform.startswith("linux"):
        return None
    prefix, total, inside = str(Path(folder).resolve()) + "/", 0, False
    try:
        with open("/proc/self/smaps") as fh:
            for line in fh:
                m = _MAPPING.match(line)
                if m:
                    inside = m.group(3).startswith(prefix)
                elif inside and line.startswith("Rss:"):
                    total += int(line.split()[1])
    except OSError:
        return None
    return total / 1024


def release_mapped_weights(folder: Path) -> float | None:
    """``madvise(MADV_PAGEOUT)`` over this process's mappings of the files in ``folder``; the
    MiB of mapped-file memory that went (RssFile before - after), None where it cannot."""
    ranges = _ranges(folder)
    if ranges is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    before = proc_status().get("RssFile", 0.0)
    for low, high in ranges:
        if libc.madvise(low, high - low, MADV_PAGEOUT) != 0:
            return None  # a kernel without MADV_PAGEOUT (EINVAL): nothing released
    return max(0.0, before - proc_status().get("RssFile", 0.0))


class _Released:
    released_mb: float | None = None


@contextmanager
def releasing_while_loading(folder: Path, enabled: bool = True,
                            period_s: float = RELEASE_PERIOD_S) -> Iterator[_Released]:
    """Release the mapped weights every ``period_s`` while the body runs (ORT making its
    session): the scales it has pre-packed go before it reads the next layer's, so the load's
    peak holds them once, not all of them; ``released_mb`` sums what went."""
    done, out = threading.Event(), _Released()
    if not enabled or _ranges(folder) is None:
        yield out
        return
    out.released_mb = 0.0

    def loop() -> None:
        while not done.wait(period_s):
            out.released_mb += release_mapped_weights(folder) or 0.0

    thread = threading.Thread(target=loop, name="npubench-release-weights", daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()


def _ranges(folder: Path) -> list[tuple[int, int]] | None:
    """(start, end) of this process's mappings of files in ``folder`` (from /proc/self/maps,
    which is cheap); None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    prefix = str(Path(folder).resolve()) + "/"
    out = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                m = _MAPPING.match(line)
                if m and m.group(3).startswith(prefix):
                    out.append((int(m.group(1), 16), int(m.group(2), 16)))
    except OSError:
        return None
    return out
