"""Helpers for the results store's tests: a store on SQLite or on the real PostgreSQL (each
test in its own schema, dropped afterwards), and small run folders with hand-made records."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from report_fixtures import (
    failed_record,
    host_device,
    ok_record,
    sim_phone_device,
    skipped_record,
    write_run,
)

POSTGRES_ENV = "NPUBENCH_TEST_POSTGRES_URL"
POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
HOSTILE = ("<img src=x onerror=alert(1)>", "a b;rm -rf x'")


def postgres_base_url() -> str:
    """The server the PostgreSQL tests use. Never skipped silently: unreachable fails the
    test, unless NPUBENCH_TEST_POSTGRES_URL is the word ``skip``."""
    url = os.environ.get(POSTGRES_ENV) or POSTGRES_DEFAULT
    if url.strip() == "skip":
        pytest.skip(f"{POSTGRES_ENV}=skip")
    return url


@contextmanager
def postgres_schema():
    """A fresh schema on the test server: yields a store URL whose connections use it."""
    import psycopg

    base = postgres_base_url()
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {base} cannot be reached ({exc}); start it "
                    f"(pg_ctlcluster VERSION main start) or set {POSTGRES_ENV}=skip")
    schema = "npubench_test_" + secrets.token_hex(4)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def with_ids(run_id: str, started: str, jobs):
    out = []
    for job in jobs:
        record, samples = job if isinstance(job, tuple) else (job, None)
        record = {**record, "run_id": run_id, "started_at": started}
        out.append((record, samples) if samples is not None else record)
    return out


def host_run(run_dir: Path, run_id: str, started: str, *, workload: str = "mobilenet_v2",
             seed: int = 0) -> Path:
    """A host run of four jobs: two ok (one with options), one failed, one skipped."""
    jobs = [
        ok_record(workload, "tflite:xnnpack?threads=2", 7.5, seed=seed,
                  job_id=f"{workload}@tflite:xnnpack?threads=2@host"),
        ok_record(workload, "ort:cpu", 12.0, seed=seed + 1, job_id=f"{workload}@ort:cpu@host"),
        failed_record(workload, "tflite:gpu", "runtime", "no OpenCL",
                      job_id=f"{workload}@tflite:gpu@host"),
        skipped_record(workload, "ort:cuda", "no CUDA", job_id=f"{workload}@ort:cuda@host"),
    ]
    return write_run(run_dir, with_ids(run_id, started, jobs), run_id=run_id,
                     started_at=started, host=host_device())


def phone_run(run_dir: Path, run_id: str, started: str) -> Path:
    """A simulated-phone run of two ok jobs."""
    phone = sim_phone_device()
    jobs = [
        ok_record("mobilenet_v2", "tflite:qnn-htp", 1.9, device=phone, seed=8,
                  job_id="mobilenet_v2@tflite:qnn-htp@sim"),
        ok_record("face_detection_short_range", "tflite:gpu", 3.0, device=phone, seed=9,
                  job_id="face_detection_short_range@tflite:gpu@sim"),
    ]
    return write_run(run_dir, with_ids(run_id, started, jobs), run_id=run_id,
                     started_at=started, suite="quick")
