"""onnxruntime_perf_test parser: every fixture with literal values, and the wording variants
of DEVICE_TOOLS.md §2.3."""

from pathlib import Path

import pytest

from npubench.harness.parsers.ort_perf_test import parse_ort_perf_test

FIXTURES = Path(__file__).parent / "fixtures" / "tool-output"
NO_PERCENTILES = {"min": None, "max": None, "p50": None, "p90": None, "p95": None, "p99": None,
                  "p999": None}


def parsed(name: str) -> dict:
    return parse_ort_perf_test((FIXTURES / name).read_text(encoding="utf-8"))


def test_android_arm_issue4647():
    r = parsed("ort_perf_test_android_arm_issue4647.txt")
    assert r["session_creation_ms"] == 127.918
    assert r["total_inference_s"] == 1.44871
    assert r["total_run_time_s"] == 1.44916
    assert r["latency_ms"] == {"n": 10, "mean": 144.871, **NO_PERCENTILES}
    assert r["cpu_usage_percent"] == 68.0
    assert r["peak_memory_mb"] == 158171136 / 2**20
    assert "first_inference_ms" not in r and "inferences_per_s" not in r
    assert r["failed"] is False and "error" not in r


def test_modern_with_stats_percentiles_in_seconds():
    r = parsed("ort_perf_test_modern_with_stats.txt")
    assert r["session_creation_ms"] == 10.2016
    assert r["first_inference_ms"] == 2.0
    assert r["inferences_per_s"] == 538.184
    assert r["latency_ms"] == {"n": 100, "mean": 1.85739, "min": 1.83404, "max": 1.90312,
                               "p50": 1.85674, "p90": 1.87215, "p95": 1.87393, "p99": 1.90312,
                               "p999": 1.90312}
    assert r["peak_memory_mb"] == 36696064 / 2**20
    assert r["cpu_usage_percent"] == 96.0
    assert r["failed"] is False


def test_readme_latest_average_total():
    r = parsed("ort_perf_test_readme_latest.txt")
    assert (r["session_creation_ms"], r["first_inference_ms"]) == (512.0, 12.0)
    assert r["latency_ms"] == {"n": 1000, "mean": 5.88053, **NO_PERCENTILES}
    assert r["total_inference_s"] == 5.88053
    assert r["inferences_per_s"] == 170.04
    assert r["peak_memory_mb"] == 123456789 / 2**20


def test_2020_no_space_after_colon():
    r = parsed("synthetic_ort_2020_no_space.txt")
    assert r["session_creation_ms"] == 1841.49
    assert r["latency_ms"]["n"] == 200 and r["latency_ms"]["mean"] == 18.0127
    assert r["cpu_usage_percent"] == 99.0
    assert r["peak_memory_mb"] == 92.75


def test_oldest_wording():
    r = parsed("synthetic_ort_oldest.txt")
    assert r["total_inference_s"] == 5.59777
    assert r["latency_ms"] == {"n": 100, "mean": 55.9777, "min": 54.1203, "max": 61.2781,
                               "p50": 55.8112, "p90": 57.7465, "p95": 58.3001, "p99": 61.2781,
                               "p999": 61.2781}


def test_preamble_warnings_and_per_run_csv():
    r = parsed("synthetic_ort_preamble_warnings_csv.txt")
    assert r["execution_provider"] == "SpaceMITExecutionProvider"
    assert r["threads"] == 4
    assert len(r["warnings"]) == 2 and "VerifyEachNodeIsAssignedToAnEp" in r["warnings"][0]
    assert r["latency_ms"]["mean"] == 8.00424 and r["latency_ms"]["n"] == 5
    assert r["latency_ms"]["min"] == 7.9533 and r["latency_ms"]["p50"] == 7.9871
    assert r["samples_ms"] == [8.1234, 7.9871, 8.0012, 7.9533, 7.9562]
    assert r["inferences_per_s"] == 124.684
    assert r["peak_memory_mb"] == 50.0
    assert r["failed"] is False and "error" not in r


def test_ep_error_with_cpu_fallback_is_not_a_failed_run():
    r = parsed("synthetic_ort_qnn_error_cpu_fallback.txt")
    assert r["failed"] is False
    assert "QNN SetupBackend failed Failed to create device. Error: 14001" in r["error"]
    assert r["latency_ms"]["mean"] == 39.011
    assert len(r["warnings"]) == 1


def test_run_failed():
    r = parsed("synthetic_ort_run_failed.txt")
    assert r["failed"] is True
    # The first error line is the [E:onnxruntime:...] log line, which says why.
    assert "[E:onnxruntime:, sequential_executor.cc:516 ExecuteKernel]" in r["error"]
    assert r["session_creation_ms"] == 212.0 and "latency_ms" not in r


@pytest.mark.parametrize("line, key, value", [
    ("Average inference time cost total:5.1 ms", "mean", 5.1),
    ("Average inference time cost: 1.5e+01 ms", "mean", 15.0),
    ("P99 Latency: 2e-3 s", "p99", 2.0),
    ("Min Latency is 0.5 sec", "min", 500.0),
    ("Runs:42", "n", 42),
])
def test_single_lines(line, key, value):
    assert parse_ort_perf_test(line)["latency_ms"][key] == value


def test_verbose_iteration_lines_are_samples():
    r = parse_ort_perf_test("iteration:1,time_cost:0.002\niteration:2,time_cost:0.003\n")
    assert r["samples_ms"] == [2.0, 3.0]


def test_usage_error():
    r = parse_ort_perf_test("onnxruntime_perf_test: invalid option -- 'q'\n"
                            "See 'onnxruntime_perf_test --help'.")
    assert r["failed"] is True


def test_empty_and_unrelated_text():
    assert parse_ort_perf_test("") == {}
    assert parse_ort_perf_test("Session creation\nP50\n: s ms\n") == {}
