"""Concurrent writers lose nothing: two processes into one SQLite file, eight into
PostgreSQL, each starting on a store that does not exist yet (they race on its creation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from store_helpers import postgres_schema

from npubench.reports.store import open_store

WRITER = Path(__file__).with_name("store_writer_process.py")
RECORDS, SHARED = 40, 5


def _race(target: str, writers: int, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(WRITER), target, str(go), str(n),
                               str(RECORDS), str(SHARED)], stderr=subprocess.PIPE, text=True)
             for n in range(writers)]
    go.touch()
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * writers, errors
    with open_store(target) as store:
        runs = store.run_summaries()
        assert sorted(r["run_id"] for r in runs) == sorted(
            [f"run-{n}" for n in range(writers)] + ["shared"])
        assert len(store.records()) == writers * RECORDS + SHARED
        for n in range(writers):
            view = store.run_view(f"run-{n}")
            assert [r["job_id"] for r in view.records] == [f"job-{i}" for i in range(RECORDS)]
            assert len(view.samples) == RECORDS
            assert view.info["finished_at"] == "2026-11-20T09:00:00.000+00:00"
        assert len(store.run_view("shared").records) == SHARED


def test_two_writers_into_one_sqlite_file(tmp_path):
    _race(str(tmp_path / "new" / "results.sqlite"), 2, tmp_path)


def test_eight_writers_into_postgresql(tmp_path):
    with postgres_schema() as url:
        _race(url, 8, tmp_path)
