"""pytest-benchmark JSON export, checked with pytest-benchmark's own ``compare`` command."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
import report_fixtures as demo

from npubench.reports.pytest_benchmark import (
    _stats_without_pytest_benchmark,
    write_pytest_benchmark_json,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    run_dir = demo.write_run(root / "run", demo.demo_jobs())
    out = write_pytest_benchmark_json(run_dir, root / "0001_npubench.json")
    return out, json.loads(out.read_text())


def test_one_benchmark_per_ok_record_in_seconds(exported):
    _, data = exported
    assert set(data) >= {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    benchmarks = {b["name"]: b for b in data["benchmarks"]}
    assert len(benchmarks) == 8  # the demo run's ok records
    cpu = benchmarks["face_detection_short_range@tflite:cpu[host]"]
    assert cpu["group"] == "face_detection_short_range"
    assert cpu["fullname"] == "host::face_detection_short_range@tflite:cpu"
    assert cpu["stats"]["median"] == pytest.approx(0.010)
    assert cpu["stats"]["rounds"] == 201 == len(cpu["stats"]["data"])
    assert cpu["stats"]["iterations"] == 1
    assert cpu["stats"]["ops"] == pytest.approx(1 / cpu["stats"]["mean"])
    assert cpu["extra_info"]["simulated"] is False
    assert cpu["extra_info"]["validity"] == "valid"
    assert cpu["extra_info"]["backend"] == "tflite:cpu"
    phone = benchmarks["mobilenet_v2@tflite:qnn-htp[127.0.0.1:5555]"]
    assert phone["extra_info"]["simulated"] is True
    assert phone["extra_info"]["energy_mj_per_inference"] == 4.1
    semivalid = benchmarks["mobilenet_v2@ort:cpu?threads=1[host]"]
    assert semivalid["extra_info"]["validity"] == "semivalid"
    left_out = {j["job_id"]: j["reason"] for j in data["npubench"]["left_out"]}
    assert left_out == {
        "mobilenet_v2@ort:cuda": "status skipped",
        "face_detection_short_range@tflite:gpu": "status failed",
        "mobilenet_v2@tflite:nnapi": "status failed",
    }


def test_names_are_job_ids_when_the_run_has_one_device(tmp_path):
    run_dir = demo.write_run(tmp_path / "run", demo.demo_jobs()[:2])
    data = json.loads(write_pytest_benchmark_json(run_dir, tmp_path / "b.json").read_text())
    assert [b["name"] for b in data["benchmarks"]] == [
        "face_detection_short_range@tflite:cpu",
        "face_detection_short_range@tflite:xnnpack?threads=2",
    ]


def test_pytest_benchmark_compare_reads_it(exported, tmp_path):
    out, data = exported
    result = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Failed to load" not in result.stdout + result.stderr
    for bench in data["benchmarks"]:
        assert bench["name"] in result.stdout
    assert "benchmark 'mobilenet_v2': 6 tests" in result.stdout


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 201])
def test_stats_without_pytest_benchmark_match_its_stats(n):
    from pytest_benchmark.stats import Stats

    rng = random.Random(n)
    data = [rng.lognormvariate(0, 0.3) / 1000 for _ in range(n)]
    stats = Stats()
    for value in data:
        stats.update(value)
    expected = stats.as_dict()
    ours = _stats_without_pytest_benchmark(data)
    assert set(ours) == set(expected)
    for key, value in expected.items():
        assert ours[key] == (pytest.approx(value) if isinstance(value, float) else value), key
