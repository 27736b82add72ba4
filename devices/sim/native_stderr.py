"""The host runtimes' own log lines, kept out of the terminal of whoever runs a simulated phone.

LiteRT writes ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` straight to file
descriptor 2 (its minimal logger, once per process, with no Python switch to silence it). On
a phone that line belongs to the tool's own log, where the emulated tool already writes it; in
the process that hosts a simulated phone it would land in the middle of ``npubench run``'s
progress. ``runtime_lines_held`` holds fd 2 in a file while the runtime sets up, drops the
lines the runtime is known to print there and writes everything else back, so nothing another
thread wrote meanwhile is lost.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

RUNTIME_LINE = re.compile(r"INFO: (Created TensorFlow Lite \w+ delegate for \w+\."
                          r"|Initialized TensorFlow Lite runtime\.)")
_LOCK = threading.Lock()  # fd 2 is one per process: one holder at a time


@contextlib.contextmanager
def runtime_lines_held() -> Iterator[None]:
    with _LOCK, tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            rest = [line for line in held.read().splitlines(keepends=True)
                    if not RUNTIME_LINE.fullmatch(line.decode(errors="replace").strip())]
            if rest:
                os.write(2, b"".join(rest))
