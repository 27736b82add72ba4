"""npubench's pytest plugin (harness/pytest_plugin.py, entry point pytest11), run the way a user
runs it: a temporary project with its own test, pytest in a subprocess (``pytester``).

On the host: the ``npubench`` fixture runs a tiny real model, ``--benchmark-json`` holds the
device-measured samples (the record's samples file, value for value); a failed job fails the
test with the record's error; ``npu`` on the host skips with the reason. On a simulated phone:
a saved run, then the sim slowed with the ground-truth knob makes
``--benchmark-compare-fail=median:5%`` fail, and without the knob the comparison passes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tflite_models import add_model

pytest_plugins = ["pytester"]

HOSTILE = "<img src=x onerror=alert(1)>"

TEST_ON_HOST = '''
import json, pathlib

def test_add_is_measured(npubench):
    result = npubench.run("add.tflite", backend="cpu", min_seconds=0.1, max_seconds=0.4)
    assert result.status == "ok" and result.median_ms > 0
    assert result.device == "host" and result.simulated is False
    pathlib.Path("seen.json").write_text(json.dumps({
        "samples_ms": result.samples_ms, "median_ms": result.median_ms,
        "samples_file": str(result.run_dir / result.record["samples_path"])}))
'''

TEST_ON_PHONE = '''
def test_detector_on_the_phone(npubench):
    result = npubench.run("face_detection_short_range", backend="cpu", min_seconds=0.1,
                          max_seconds=1, device_rounds_min=7, device_rounds_max=7, threads=1,
                          cooldown_c=95.0, measure_power=False)
    assert result.status == "ok" and result.simulated is True
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "add.tflite").write_bytes(add_model(width=2048, dynamic=False))
    return pytester


def run(pytester: pytest.Pytester, *args: str, store: str = "none") -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--npubench-store", store,
                                         *args, timeout=600)


def test_the_fixture_measures_on_the_host_and_benchmark_json_holds_the_samples(project):
    project.makepyfile(test_model=TEST_ON_HOST)
    store = project.path / "store.sqlite"
    result = run(project, "--benchmark-json", "bench.json", store=str(store))
    result.assert_outcomes(passed=1)
    seen = json.loads((project.path / "seen.json").read_text())
    samples_file = json.loads(Path(seen["samples_file"]).read_text())["latency_ms"]
    assert seen["samples_ms"] == samples_file and len(samples_file) > 5
    (bench,) = json.loads((project.path / "bench.json").read_text())["benchmarks"]
    assert bench["name"] == "test_add_is_measured"
    assert bench["stats"]["data"] == pytest.approx([ms / 1000 for ms in samples_file],
                                                   rel=1e-12)
    assert bench["stats"]["rounds"] == len(samples_file) and bench["stats"]["iterations"] == 1
    assert bench["stats"]["median"] == pytest.approx(seen["median_ms"] / 1000, rel=1e-9)
    info = bench["extra_info"]
    assert info["npubench_device"] == "host" and info["simulated"] is False
    assert info["backend"].startswith("tflite:xnnpack") and info["workload"] == "add"
    from npubench.reports.store import open_store  # the run also went to --npubench-store

    opened = open_store(str(store))
    try:
        (view,) = opened.run_views()
        assert view.run_id == info["run_id"]
        assert [r["workload"]["name"] for r in view.records] == ["add"]
    finally:
        opened.close()


def test_a_failed_job_fails_the_test_with_the_records_error_and_npu_on_host_skips(project):
    (project.path / "broken.tflite").write_bytes(b"not a model at all")
    project.makepyfile(test_model='''
def test_broken(npubench):
    npubench.run("broken.tflite", backend="cpu", min_seconds=0.1, max_seconds=0.3)

def test_npu(npubench):
    npubench.run("add.tflite", backend="npu")

def test_bad_setting(npubench):
    npubench.run("add.tflite", backend="cpu", max_secondz=1)
''')
    result = run(project, "-rs")
    result.assert_outcomes(failed=2, skipped=1)
    result.stdout.fnmatch_lines([
        "*broken@tflite:xnnpack failed: *broken.tflite is not a valid TFLite model*",
        "*npubench could not run add.tflite on host: settings: unknown field 'max_secondz'*",
        "*backend npu: this host has no NPU*--npubench-device*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_without_pytest_benchmark_or_with_it_disabled_the_fixture_still_runs(project):
    project.makepyfile(test_model=TEST_ON_HOST)
    run(project, "-p", "no:benchmark").assert_outcomes(passed=1)
    disabled = run(project, "--benchmark-disable")
    disabled.assert_outcomes(passed=1)
    assert "not used at all" not in disabled.stdout.str()  # pytest-benchmark's warning


def test_a_hostile_test_name_and_model_name_are_only_file_names(project):
    name = f"{HOSTILE}a b;rm -rf x'.tflite"
    (project.path / name).write_bytes(add_model(width=64, dynamic=False))
    project.makepyfile(test_model=f'''
import pytest

@pytest.mark.parametrize("x", [{HOSTILE!r}])
def test_hostile(npubench, x):
    result = npubench.run({name!r}, backend="cpu", min_seconds=0.05, max_seconds=0.2)
    assert result.status == "ok"
''')
    out = project.path / "runs"
    run(project, "--npubench-out", str(out)).assert_outcomes(passed=1)
    (folder,) = out.iterdir()  # one run folder, its name made safe
    assert folder.name.startswith("test_hostile") and "<" not in folder.name
    assert " " not in folder.name and ";" not in folder.name


def test_compare_fail_catches_a_slowed_simulated_phone(project):
    project.makepyfile(test_model=TEST_ON_PHONE)
    saved = run(project, "--npubench-device", "sim:sm8650", "--benchmark-autosave")
    saved.assert_outcomes(passed=1)
    assert list((project.path / ".benchmarks").rglob("*.json"))

    slowed = run(project, "--npubench-device",
                 "sim:sm8650?slowdown=face_detection_short_range=10",
                 "--benchmark-compare", "--benchmark-compare-fail=median:5%")
    assert slowed.ret != 0
    said = slowed.stdout.str() + slowed.stderr.str()
    assert re.search(r"test_detector_on_the_phone \(0001_\w+\) - Field 'median' has failed "
                     r"PercentageRegressionCheck: [\d.]+ > 5\.0+", said), said[-3000:]

    # the same phone unslowed passes a threshold that host noise cannot reach: the sim's
    # latencies are the host's, and on a loaded 2-core machine two unslowed runs' medians
    # differed by up to 2.2x (a x10 slowdown is far beyond it either way)
    same = run(project, "--npubench-device", "sim:sm8650", "--benchmark-compare",
               "--benchmark-compare-fail=median:300%")
    assert same.ret == 0, same.stdout.str()[-3000:]
    assert "Performance has regressed" not in same.stdout.str() + same.stderr.str()


def test_the_plugin_is_registered_and_imports_nothing_heavy():
    import subprocess
    import sys
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="pytest11") if e.name == "npubench"]
    assert entry.value == "npubench.harness.pytest_plugin"
    heavy = ["numpy", "pandas", "scipy", "sqlalchemy", "npubench.harness.suite_run",
             "npubench.devices.registry", "pytest_benchmark"]
    done = subprocess.run(
        [sys.executable, "-c", "import sys, npubench.harness.pytest_plugin; "
         f"print([m for m in {heavy!r} if m in sys.modules])"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
