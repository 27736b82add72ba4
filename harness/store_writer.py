"""Writes a run into the results store as it goes (run info at start, each record as its job
ends, ``finished_at`` at the end), and never lets the store lose or stop the run: the first
failure is reported once on stderr with what to do, and the run goes on without the store.
``results.jsonl`` in the run folder stays the truth."""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

StoreTarget = str | os.PathLike | bool | None
"""``None`` or ``True``: the default store (``NPUBENCH_STORE`` or the user's SQLite file);
a path or URL: that store; ``False``: no store."""


class StoreWriter:
    def __init__(self, target: StoreTarget, run_dir: Path, stream=None):
        self.target = None if target is True else target
        self.enabled = target is not False
        self.run_dir = Path(run_dir)
        self.stream = stream
        self._store = None
        self.failed: str | None = None

    def _open(self):
        if self._store is None:
            from npubench.reports.store import open_store

            self._store = open_store(self.target)
        return self._store

    def _try(self, what: str, action) -> None:
        if not self.enabled or self.failed:
            return
        try:
            action(self._open())
        except Exception as exc:  # a store fault must never stop the run
            self.failed = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
            where = _masked(str(self.target)) if self.target else "(the default store)"
            again = f"npubench ingest {shlex.quote(str(self.run_dir))}" + (
                f" --store {shlex.quote(where)}" if self.target else "")
            print(f"npubench: warning: could not write {what} to the results store {where} "
                  f"({self.failed}). The run goes on without the store; its records are in "
                  f"{self.run_dir / 'results.jsonl'}. Add them later with: {again}",
                  file=self.stream or sys.stderr, flush=True)
            self.close()

    def start(self, info: dict[str, Any]) -> None:
        self._try("the run", lambda store: store.add_run(info))

    def catch_up(self) -> None:
        """Add the records of the run folder that the store lacks (a run cut off between
        writing results.jsonl and the store, now resumed); adding twice adds nothing."""
        self._try("the records measured before", lambda store: store.ingest(self.run_dir))

    def record(self, run_id: str, record: dict[str, Any],
               samples: dict[str, list[float]] | None) -> None:
        self._try(f"the record of {record.get('job_id')}",
                  lambda store: store.add_record(run_id, record, samples))

    def finish(self, run_id: str, **fields: Any) -> None:
        self._try("the end of the run", lambda store: store.finish_run(run_id, **fields))
        self.close()

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except Exception:  # closing a broken store: nothing more to report
                pass


def _masked(target: str) -> str:
    """A store URL with its password hidden (``user:***@host``)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", target)
