"""Records -> DataFrame, speed-up, cell formatting and the SVG figures (pure parts)."""

from __future__ import annotations

import math

import report_fixtures as demo

from npubench.reports import cells
from npubench.reports.figures import LatencySeries, latency_svg, use_log_scale
from npubench.reports.frame import COLUMNS, flatten_record, has_llm_fields, records_frame, rows


def _ok(workload, spec, median, **kw):
    return demo.ok_record(workload, spec, median, n=11, **kw)[0]


def _speedups(records):
    return {r["job_id"]: r["speedup_vs_cpu"] for r in rows(records_frame(records))}


def test_speedup_is_cpu_median_over_this_median():
    found = _speedups([_ok("m", "tflite:cpu", 10.0), _ok("m", "tflite:xnnpack", 2.0)])
    assert found == {"m@tflite:cpu": 1.0, "m@tflite:xnnpack": 5.0}


def test_speedup_stays_within_runtime_device_and_workload():
    phone = demo.sim_phone_device()
    found = _speedups([
        _ok("m", "ort:cpu", 10.0),
        _ok("m", "tflite:xnnpack", 2.0),  # no tflite:cpu: not compared with ort:cpu
        _ok("m", "ort:qnn-htp", 1.0, device=phone),  # ort:cpu ran on another device
        _ok("other", "ort:cuda", 1.0),  # ort:cpu ran another workload
    ])
    assert found["m@ort:cpu"] == 1.0
    assert found["m@tflite:xnnpack"] is None
    assert found["m@ort:qnn-htp"] is None
    assert found["other@ort:cuda"] is None


def test_speedup_prefers_the_cpu_job_with_the_same_options():
    found = _speedups([
        _ok("m", "tflite:cpu?threads=1", 8.0),
        _ok("m", "tflite:cpu?threads=4", 4.0),
        _ok("m", "tflite:xnnpack?threads=4", 2.0),
        _ok("m", "tflite:gpu", 1.0),  # no cpu job with its options: the first one
    ])
    assert found["m@tflite:xnnpack?threads=4"] == 2.0
    assert found["m@tflite:gpu"] == 8.0


def test_failed_cpu_job_is_no_baseline():
    failed = demo.failed_record("m", "tflite:cpu", "runtime", "crash")
    found = _speedups([failed, _ok("m", "tflite:xnnpack", 2.0)])
    assert found == {"m@tflite:cpu": None, "m@tflite:xnnpack": None}


def test_flatten_tolerates_missing_and_unknown_fields():
    row = flatten_record({"job_id": "x@ort:cpu", "status": "failed", "new": {"a": 1}}, 7)
    assert set(row) == set(COLUMNS)
    assert row["index"] == 7 and row["median_ms"] is None and row["simulated"] is False
    frame = records_frame([{"job_id": "x", "status": "ok", "latency_ms": None}])
    assert list(frame.columns) == list(COLUMNS) and not has_llm_fields(frame)
    assert list(records_frame([]).columns) == list(COLUMNS)


def test_rows_turn_na_into_none():
    (row,) = rows(records_frame([_ok("m", "tflite:cpu", 10.0)]))
    assert row["energy_mj_per_inference"] is None and row["ttft_ms"] is None
    assert row["median_ms"] == 10.0 and row["validity_reasons"] == []


def test_number_formatting():
    assert [cells.fmt_num(v) for v in (1234.5, 12.34, 1.234, 0.1234, 0.001234, 0)] == [
        "1,234", "12.3", "1.23", "0.123", "0.0012", "0.000"]
    assert cells.fmt_num(None) == cells.fmt_num(math.nan) == "—"
    assert cells.num_cell(None).text == "—"
    assert cells.fmt_time("2026-11-24T13:20:01.123+00:00") == "2026-11-24 13:20:01 UTC"
    assert cells.fmt_time("2026-11-24T13:20:01+05:30") == "2026-11-24 13:20:01 UTC+05:30"
    assert cells.fmt_time("yesterday") == "yesterday"
    assert cells.fmt_duration(65) == "1 min 05 s"
    assert cells.fmt_bytes(25_000_000_000) == "23.3 GiB"


def test_svg_text_from_data_is_escaped_and_not_mathtext():
    svg = latency_svg(
        [LatencySeries("<script>alert(1)</script> & $x$", [1.0, 2.0, 3.0]),
         LatencySeries("a-->b", [2.0, 2.5], simulated=True)],
        title="</svg><img src=x onerror=alert(1)>",
    )
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; $x$" in svg
    assert "&lt;/svg&gt;&lt;img src=x onerror=alert(1)&gt;" in svg
    assert "a--&gt;b  [simulated]" in svg
    assert "<metadata>" not in svg and "<?xml" not in svg


def test_log_scale_only_for_a_wide_spread():
    narrow = [LatencySeries("a", [1.0, 2.0]), LatencySeries("b", [5.0, 9.0])]
    wide = [LatencySeries("a", [1.0, 2.0]), LatencySeries("b", [50.0])]
    assert not use_log_scale(narrow) and use_log_scale(wide)
    assert "log scale" in latency_svg(wide) and "log scale" not in latency_svg(narrow)
    assert latency_svg([LatencySeries("empty", [])]) == ""
