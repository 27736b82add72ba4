"""Tests that run against the device given with ``--device`` (``pytest --device host``); without
it they are skipped, so the default test run needs no phone."""

from __future__ import annotations

import pytest

from npubench.devices.registry import resolve_device
from npubench.harness.plan import make_plan
from npubench.harness.run import execute, new_run_id, start_run
from npubench.harness.settings import MeasureSettings
from npubench.workloads.registry import resolve

pytestmark = [pytest.mark.device, pytest.mark.network]


def test_device_reports_what_it_is(device_spec):
    info = resolve_device(device_spec).info()
    assert info.id and info.model and info.kind in ("host", "android")


def test_benchmark_runs_on_the_device(device_spec, backend_specs, tmp_path):
    device = resolve_device(device_spec)
    workloads = [resolve("okay_nabu"), resolve("ocr_cls_ppocr_mobile")]
    settings = MeasureSettings(min_seconds=0.2, max_seconds=1.0, warmup_iterations=3)
    jobs = make_plan([device], workloads, backend_specs, threads=settings.threads)
    run_id = new_run_id()
    store = start_run(tmp_path / "run", run_id, device.info().to_dict(), None)
    outcome = execute(jobs, store, run_id, settings)
    assert outcome.records
    for record in outcome.records:
        assert record["status"] in ("ok", "skipped"), record["error"]
        if record["status"] == "ok":
            assert record["latency_ms"]["median"] > 0
            assert record["device"]["simulated"] == device.info().simulated
