"""A real ``npubench run`` writes each record into the results store as its job ends; a
store that fails never loses or stops the run; two runs write into one SQLite file at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import npubench
from npubench.reports.store import open_store

RUN = ["run", "--workload", "okay_nabu", "--backend", "tflite:xnnpack", "--backend",
       "tflite:cpu", "--set", "max_seconds=1", "--set", "min_seconds=0.2", "--no-report"]


def _npubench(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "npubench", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})


def _records(run_dir: Path) -> list[dict]:
    return npubench.read_records(run_dir)


def test_two_runs_write_into_one_store_at_once(tmp_path):
    store = tmp_path / "store.sqlite"
    procs = [_npubench(*RUN, "--out", str(tmp_path / name), "--store", str(store))
             for name in ("a", "b")]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all("warning" not in err for _, err in outputs), outputs
    with open_store(store) as opened:
        for name in ("a", "b"):
            folder = _records(tmp_path / name)
            assert len(folder) == 2
            run_id = folder[0]["run_id"]
            view = opened.run_view(run_id)
            assert view.records == folder  # every record, as written to results.jsonl
            assert sorted(view.samples) == sorted(r["job_id"] for r in folder)
            assert all(len(s["latency_ms"]) == r["latency_ms"]["n"]
                       for r in folder for s in [view.samples[r["job_id"]]])
            assert view.info["finished_at"] and view.info["interrupted"] is False
            assert view.info["argv"][-2:] == ["--store", str(store)]  # run.json, as is


def test_a_store_that_fails_does_not_lose_the_run(tmp_path):
    run_dir = tmp_path / "run"
    proc = _npubench(*RUN, "--out", str(run_dir), "--store",
                     "postgresql://postgres:secret@127.0.0.1:1/test")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert len(_records(run_dir)) == 2
    assert err.count("npubench: warning: could not write") == 1, err
    assert f"Add them later with: npubench ingest {run_dir} --store " \
           "'postgresql://postgres:***@127.0.0.1:1/test'" in err
    assert "secret" not in err and "Traceback" not in err
    store = tmp_path / "later.sqlite"
    with open_store(store) as opened:
        assert opened.ingest(run_dir) == (2, 0)


def test_no_store_writes_no_store_and_the_default_is_npubench_store(tmp_path):
    default = tmp_path / "default.sqlite"
    env = {"NPUBENCH_STORE": str(default)}
    proc = _npubench(*RUN[:5], "--out", str(tmp_path / "none"), "--no-store", env=env)
    assert proc.communicate(timeout=300) and proc.returncode == 0
    assert not default.exists()
    result = npubench.run_suite(workloads=["okay_nabu"], backends=["tflite:cpu"],
                                settings={"max_seconds": 1, "min_seconds": 0.2},
                                out=tmp_path / "api", report=False, store=default)
    with open_store(default) as opened:
        assert [r["job_id"] for r in opened.run_view(result.run_id).records] == [
            r["job_id"] for r in result.records]
    frame = npubench.load_results(store=default)
    assert list(frame["run_id"]) == [result.run_id]
    assert json.loads(json.dumps(list(frame["cell"])))[0].startswith("okay_nabu · tflite:cpu")


def test_catch_up_adds_what_results_jsonl_has_and_the_store_lacks(tmp_path):
    """A night cut off between writing results.jsonl and the store, then resumed."""
    from store_helpers import host_run

    from npubench.harness.store_writer import StoreWriter
    from npubench.results import read_records, read_run_info

    run = host_run(tmp_path / "run", "R1", "2026-01-01T00:00:00+00:00")
    db = tmp_path / "s.db"
    records = read_records(run)
    writer = StoreWriter(str(db), run)
    writer.start(read_run_info(run))
    writer.record("R1", records[0], None)  # the store got the first record only
    writer.catch_up()
    writer.catch_up()  # twice adds nothing
    writer.close()
    with open_store(str(db)) as store:
        assert sorted(r["job_id"] for r in store.records(run_id="R1")) == sorted(
            r["job_id"] for r in records)
