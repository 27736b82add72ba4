"""The report's phone columns (delegation, accuracy, temperature), the CPU-fallback banner and
the phone measurement details, from hand-made records of a simulated phone."""

from __future__ import annotations

import re

import pytest
import report_fixtures as demo
from test_report import XSS_NAME, summary_row, tags

from npubench.reports import cells
from npubench.reports.html import write_report

PHONE_HEADERS = ("Delegation", "Accuracy vs CPU", "Max °C")


def headers(html: str) -> list[str]:
    head = html.split('id="summary-table"', 1)[1].split("</thead>", 1)[0]
    return re.findall(r"<th[^>]*>([^<]*)</th>", head)


def details(html: str) -> str:
    return html.split('id="details"', 1)[1].split("</section>", 1)[0]


@pytest.fixture(scope="module")
def phone_html(tmp_path_factory) -> str:
    run_dir = demo.write_run(tmp_path_factory.mktemp("phone"), demo.phone_jobs())
    return write_report(run_dir).read_text(encoding="utf-8")


def test_phone_columns_appear_in_order(phone_html):
    found = headers(phone_html)
    assert found == [
        "Workload", "Backend", "Device", "Median ms", "p90 ms", "CI95 of median ms", "n",
        "Init ms", "First inference ms", "Peak memory MB", "Energy mJ/inference", "Max °C",
        "Speed-up vs CPU", "Delegation", "Accuracy vs CPU", "Validity"]
    for row in re.findall(r"<tr.*?</tr>", phone_html.split('id="summary-table"')[1]
                          .split("</table>")[0].split("<tbody>")[1], re.S):
        assert row.count("<td") == len(found)


def test_delegation_cells(phone_html):
    partial = summary_row(phone_html, ">tflite:nnapi<")
    assert '<span class="nw">partial 42/61</span> <span class="badge warn">CPU fallback</span>' \
        in partial
    assert "NNAPI; 42 of 61 nodes delegated" in partial
    full = summary_row(phone_html, ">tflite:gpu<")
    assert ">full 66/66<" in full and "CPU fallback" not in full
    assert ">none 0/110<" in summary_row(phone_html, ">tflite:neuron<")
    assert ">no delegate<" in summary_row(phone_html, ">48.0<")  # tflite:cpu on the phone
    host = summary_row(phone_html, "AMD EPYC")
    assert 'title="no delegate report (host job or not recorded)"' in host


def test_accuracy_cells(phone_html):
    row = summary_row(phone_html, ">tflite:gpu<")
    assert ">0.999990<" in row and '<div class="sub">max |Δ| 6.3e-5</div>' in row
    assert "compared with host LiteRT CPU (builtin kernels, XNNPACK off); 2 outputs" in row
    ort = summary_row(phone_html, ">ort:nnapi<")
    assert 'title="onnxruntime_perf_test cannot dump outputs" class="num">—<' in ort


def test_temperature_cells(phone_html):
    hot = summary_row(phone_html, ">tflite:nnapi<")
    assert ">47.8 <span class=\"badge warn\">throttled</span>" in hot
    assert "36.5 → 47.3 °C; cpu-0-0" in hot
    assert "throttled" not in summary_row(phone_html, ">tflite:gpu<")
    missing = summary_row(phone_html, ">tflite:qnn-htp<")
    assert 'title="no readable CPU/SoC thermal zone (permission denied)" class="num">—<' \
        in missing


def test_fallback_banner_at_the_top(phone_html):
    start = phone_html.index("2 jobs did not run wholly on their accelerator (CPU fallback):")
    assert start < phone_html.index('id="summary"')
    banner = phone_html[start:].split("</div>", 1)[0]
    assert "<code>face_detection_short_range@tflite:neuron</code> (none 0/110 nodes" in banner
    assert "<code>mobilenet_v2@tflite:nnapi</code> (partial 42/61 nodes" in banner
    assert "tflite:gpu" not in banner and "qnn-htp" not in banner


def test_one_fallback_reads_singular(tmp_path):
    jobs = [demo.phone_ok_record("m", "tflite:nnapi", 5.0, nodes_delegated=10)]
    html = write_report(demo.write_run(tmp_path, jobs)).read_text()
    assert "1 job did not run wholly on its accelerator (CPU fallback):" in html


def test_measurement_details(phone_html):
    text = details(phone_html)
    for header in ("<th>Sampler</th>", "<th>Cooldown</th>", "<th>Accuracy</th>"):
        assert header in text
    assert "benchmark_model 2.16 (simulated); 10 rounds, 201 iterations, 2.80 s in the tool" \
        in text
    assert "24.8 Hz, max gap 61.2 ms" in text
    assert "waited 12.4 s; reached (below 40.0 °C)" in text
    assert ("vs host LiteRT CPU (builtin kernels, XNNPACK off): cosine 0.999990, "
            "max |Δ| 6.3e-5 over 2 outputs") in text
    assert "not compared: onnxruntime_perf_test cannot dump outputs" in text
    assert "NNAPI: 42/61 nodes (partial), CPU fallback" in text


def test_cooldown_not_reached(tmp_path):
    cooldown = {"applied": True, "reason": "thermal precondition not met", "reached": False,
                "waited_s": 300.0, "threshold_c": 40.0, "end_c": 43.1}
    jobs = [demo.phone_ok_record("m", "tflite:gpu", 5.0, preconditions={"cooldown": cooldown})]
    html = write_report(demo.write_run(tmp_path, jobs)).read_text()
    assert "waited 300 s; NOT reached at 43.1 °C (threshold 40.0 °C)" in details(html)


def test_host_only_report_has_no_phone_columns(tmp_path):
    html = write_report(demo.write_run(tmp_path, demo.demo_jobs()[:6])).read_text()
    assert len(headers(html)) == 13
    for name in PHONE_HEADERS:
        assert name not in headers(html)
    assert "CPU fallback" not in html and "did not run wholly" not in html
    text = details(html)
    assert "<th>Sampler</th>" not in text and "<th>Cooldown</th>" not in text
    assert "<th>Accuracy</th>" not in text


def test_absent_blocks_beside_phone_records(tmp_path):
    """A phone record without delegation/accuracy/thermal keys at all shows dashes."""
    bare, samples = demo.ok_record("m", "tflite:gpu", 5.0, device=demo.sim_phone_device())
    for key in ("delegation", "thermal", "thermal_missing_reason"):
        bare.pop(key, None)
    jobs = [(bare, samples), demo.phone_ok_record("m", "tflite:nnapi", 4.0)]
    html = write_report(demo.write_run(tmp_path, jobs)).read_text()
    row = summary_row(html, ">tflite:gpu<")
    assert row.count(">—<") >= 3  # energy aside: temperature, delegation, accuracy
    assert 'title="temperature not measured"' in row
    assert 'title="no accuracy check (host job or not recorded)"' in row


def test_hostile_delegate_and_reasons_are_escaped(tmp_path):
    evil = '"><img src=x onerror=alert(1)>'
    jobs = [
        demo.phone_ok_record(XSS_NAME, "tflite:nnapi", 5.0, delegate=evil, nodes_delegated=3,
                             status="<b>partial</b>"),
        demo.phone_ok_record("m", "ort:nnapi", 6.0, max_c=None,
                             accuracy={"max_abs_error": None, "cosine_similarity": None,
                                       "missing_reason": evil},
                             thermal_missing_reason="<script>alert(3)</script>"),
    ]
    html = write_report(demo.write_run(tmp_path, jobs)).read_text()
    assert "<img" not in html and "<b>partial" not in html and "<script>alert" not in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;partial&lt;/b&gt; 3/61" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@tflite:nnapi</code>" in html  # the banner
    assert 'title="&lt;script&gt;alert(3)&lt;/script&gt;"' in html
    found = tags(html)
    assert [t for t, _ in found].count("script") == 1
    assert not [(t, a) for t, a in found for name in a if name.startswith("on")]
    assert not [t for t, _ in found if t in ("img", "iframe")]


def test_cell_formatting():
    assert cells.fmt_sci(6.3e-05) == "6.3e-5"
    assert cells.fmt_sci(1234.0) == "1.2e+3"
    assert cells.fmt_sci(0.0) == "0" and cells.fmt_sci(None) == "—"
    assert cells.is_true(True) and cells.is_true("CPU") and cells.is_true(1)
    assert not any(cells.is_true(v) for v in (False, None, "false", "", 0, float("nan")))
    assert cells.delegation_text("full", 164, 164) == "full 164/164"
    assert cells.delegation_text("not reported", None, None) == "not reported"
    assert cells.delegation_text(None, None, None) == "—"
