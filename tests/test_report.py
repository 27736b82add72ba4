"""The HTML report, made from run folders written with the real RunStore."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import report_fixtures as demo

from npubench.errors import ResultsError
from npubench.reports.html import write_report

XSS_NAME = "<script>alert(1)</script>"
XSS_MESSAGE = "bad model <img src=x onerror=alert(1)> & more"


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def summary_row(html: str, text: str) -> str:
    """The summary-table row that contains ``text``."""
    body = html.split('id="summary-table"', 1)[1].split("</table>", 1)[0]
    found = [row for row in re.findall(r"<tr.*?</tr>", body, re.S) if text in row]
    assert len(found) == 1, f"{len(found)} rows contain {text!r}"
    return found[0]


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> tuple[Path, str]:
    run_dir = demo.write_run(tmp_path_factory.mktemp("demo"), demo.demo_jobs())
    out = write_report(run_dir)
    return out, out.read_text(encoding="utf-8")


def test_one_file_in_the_run_folder(demo_report):
    out, html = demo_report
    assert out == out.parent / "report.html"
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "logs", "report.html", "results.jsonl", "run.json", "samples"]
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 2  # one figure per workload


def test_out_path_is_honoured(tmp_path):
    run_dir = demo.write_run(tmp_path / "run", demo.demo_jobs()[:2])
    out = write_report(run_dir, tmp_path / "elsewhere" / "r.html")
    assert out == tmp_path / "elsewhere" / "r.html" and out.exists()
    assert not (run_dir / "report.html").exists()


def test_nothing_is_loaded_from_outside(demo_report):
    _, html = demo_report
    for tag, attrs in tags(html):
        for name in ("src", "href", "xlink:href", "action", "data"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//")), (tag, name, value)
    assert "<link" not in html and "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "default-src 'none'" in html  # the CSP forbids it anyway


def test_data_from_records_is_escaped(tmp_path):
    phone = demo.sim_phone_device(model='<b onmouseover="x()">phone</b>')
    jobs = [
        demo.ok_record(XSS_NAME, "tflite:cpu", 10.0),
        demo.ok_record(XSS_NAME, "tflite:xnnpack", 2.0, device=phone,
                       validity="semivalid", validity_reasons=["<i>few</i> & short"]),
        demo.failed_record(XSS_NAME, "tflite:gpu", "runtime", XSS_MESSAGE),
    ]
    html = write_report(demo.write_run(tmp_path, jobs)).read_text()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    assert "bad model &lt;img src=x onerror=alert(1)&gt; &amp; more" in html
    assert "&lt;i&gt;few&lt;/i&gt; &amp; short" in html
    found = tags(html)
    assert [t for t, _ in found].count("script") == 1  # ours, at the end
    assert not [(t, a) for t, a in found for name in a if name.startswith("on")]
    assert not [t for t, _ in found if t in ("img", "i", "iframe", "object")]
    assert "&lt;b onmouseover=&#34;x()&#34;&gt;phone&lt;/b&gt;" in html


def test_speedup_against_the_cpu_backend_of_the_same_runtime(tmp_path):
    jobs = [
        demo.ok_record("model", "tflite:cpu", 10.0),
        demo.ok_record("model", "tflite:xnnpack", 2.0),
        demo.ok_record("model", "ort:cuda", 4.0),  # no ort:cpu in this run
    ]
    html = write_report(demo.write_run(tmp_path, jobs)).read_text()
    assert "5.00×" in summary_row(html, ">tflite:xnnpack<")
    assert 'data-n="5.0"' in summary_row(html, ">tflite:xnnpack<")
    assert "1.00× (CPU)" in summary_row(html, ">tflite:cpu<")
    ort = summary_row(html, ">ort:cuda<")
    assert "×" not in ort and "no CPU job of this runtime" in ort


def test_failed_and_skipped_jobs_are_listed(demo_report):
    _, html = demo_report
    problems = html.split('id="problems"', 1)[1].split("</section>", 1)[0]
    assert "CUDAExecutionProvider is not installed" in problems
    assert "OpenCL library not found &amp; no GL context &lt;libOpenCL.so&gt;" in problems
    assert problems.count(">failed<") == 2 and problems.count(">skipped<") == 1
    assert "infrastructure" in problems  # the lost phone is flagged
    assert '<span class="c-ok">8 ok</span>' in html
    assert '<span class="c-failed">2 failed</span>' in html
    assert '<span class="c-skipped">1 skipped</span>' in html


def test_energy_shown_when_measured_and_a_dash_with_the_reason_when_not(tmp_path):
    power = {"source": "RAPL package (intel-rapl:0)", "sample_rate_hz": 20, "idle_mw": 4000,
             "active_mw": 9000, "energy_mj_per_inference": 6.5}
    jobs = [
        demo.ok_record("model", "tflite:cpu", 10.0, power=power),
        demo.ok_record("model", "tflite:xnnpack", 2.0),  # power null, with its reason
    ]
    html = write_report(demo.write_run(tmp_path, jobs)).read_text()
    measured = summary_row(html, ">tflite:cpu<")
    assert ">6.50<" in measured and 'title="RAPL package (intel-rapl:0)"' in measured
    missing = summary_row(html, ">tflite:xnnpack<")
    reason = "no power sensor on this host (no RAPL powercap, no NVIDIA GPU)"
    assert f'title="{reason}" class="num">—<sup><a href="#note-1">1</a>' in missing
    assert f'<li id="note-1">No energy figure: {reason}</li>' in html
    assert ">0.00<" not in missing and ">0<" not in missing


def test_semivalid_is_shown_with_its_reasons(demo_report):
    _, html = demo_report
    row = summary_row(html, ">ort:cpu?threads=1<")
    assert 'class="warn">semivalid' in row
    assert "before min_iterations (50)" in row


def test_simulated_numbers_are_marked(demo_report, tmp_path):
    _, html = demo_report
    assert "Simulated phone — not a phone measurement." in html
    assert "3 of 11 jobs ran on a simulated phone" in html
    assert "simulated" in summary_row(html, ">tflite:qnn-htp<")
    assert "[simulated]" in html  # in the figure's labels
    host_only = write_report(demo.write_run(tmp_path, demo.demo_jobs()[:2])).read_text()
    assert "Simulated phone" not in host_only and "[simulated]" not in host_only


def test_interrupted_run_with_a_cut_last_line(tmp_path):
    run_dir = demo.write_run(tmp_path, demo.demo_jobs()[:3], finished=False)
    with open(run_dir / "results.jsonl", "a") as fh:
        fh.write('{"schema_version": 1, "run_id": "x", "job_id": "half-writ')
    html = write_report(run_dir).read_text()
    assert "Interrupted run." in html
    assert "of 3 jobs" in html
    assert html.count("<svg") == 2


def test_run_with_only_failed_records(tmp_path):
    jobs = [demo.failed_record("m", "tflite:gpu", "runtime", "no OpenCL"),
            demo.skipped_record("m", "ort:cuda", "no CUDA")]
    html = write_report(demo.write_run(tmp_path, jobs)).read_text()
    assert "No job finished with status ok" in html
    assert 'id="summary-table"' not in html and "<svg" not in html
    assert "no OpenCL" in html and "no CUDA" in html


def test_run_stopped_before_its_first_record(tmp_path):
    demo.write_run(tmp_path, [], finished=False)
    assert not (tmp_path / "results.jsonl").exists()
    html = write_report(tmp_path).read_text()
    assert "Interrupted run." in html and "No job was recorded at all." in html


def test_not_a_run_folder(tmp_path):
    with pytest.raises(ResultsError):
        write_report(tmp_path)


def test_missing_samples_are_noted_and_paths_stay_inside_the_run(tmp_path):
    jobs = [demo.ok_record("m", "tflite:cpu", 10.0), demo.ok_record("m", "tflite:xnnpack", 2.0)]
    run_dir = demo.write_run(tmp_path / "run", jobs)
    # Point the second record at a file outside the run folder.
    (tmp_path / "secret.json").write_text('{"latency_ms": [1, 2, 3]}')
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    lines[1] = re.sub(r'"samples_path": "[^"]*"', '"samples_path": "../secret.json"', lines[1])
    (run_dir / "results.jsonl").write_text("\n".join(lines) + "\n")
    html = write_report(run_dir).read_text()
    assert "No per-iteration samples for: <code>m@tflite:xnnpack</code>" in html
    assert html.count("<svg") == 1


def test_llm_section_only_with_llm_fields(tmp_path, demo_report):
    assert 'id="llm"' not in demo_report[1]
    record, samples = demo.ok_record("gemma3-1b", "llama:cpu", 40.0, ttft_ms=180.0,
                                     prefill_tokens_per_s=310.0, decode_tokens_per_s=24.5)
    html = write_report(demo.write_run(tmp_path, [(record, samples)])).read_text()
    llm = html.split('id="llm"', 1)[1].split("</section>", 1)[0]
    assert ">180<" in llm and ">310<" in llm and ">24.5<" in llm


def test_records_with_unknown_and_missing_fields(tmp_path):
    record, samples = demo.ok_record("m", "tflite:cpu", 10.0, future_field={"x": 1})
    for key in ("init_ms", "memory_peak_mb", "warmup", "thermal", "power_missing_reason"):
        del record[key]
    bare = {"job_id": "bare@ort:cpu", "status": "failed"}
    html = write_report(demo.write_run(tmp_path, [(record, samples), bare])).read_text()
    assert "energy was not measured for this job" in html
    assert "bare@ort:cpu" in html


def test_importing_reports_stays_light():
    code = (
        "import sys, npubench.reports, npubench.reports.html, npubench.reports.pytest_benchmark, "
        "npubench.reports.frame, npubench.reports.figures, npubench.reports.context\n"
        "heavy = [m for m in ('pandas', 'matplotlib', 'jinja2', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
