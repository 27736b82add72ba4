"""``npubench run --baseline``: resolved before the run, the comparison in the run's report
and exit code; and the compare pages opened in a real headless browser."""

from __future__ import annotations

import json

import pytest

from npubench.harness.cli import main
from npubench.harness.suite_run import RunResult
from npubench.reports.compare.files import BASELINE_FILE, compare_to_baseline
from npubench.reports.html import write_report
from npubench.reports.run_view import read_run_folder
from tests.browser import open_page
from tests.compare_fixtures import BASE_MS, HOSTILE, record, scaled, write_run

QUICK = ["--workload", "okay_nabu", "--backend", "tflite:xnnpack", "--set", "max_seconds=1",
         "--set", "min_seconds=0.2"]


def test_a_bad_baseline_fails_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *QUICK, "--out", str(out), "--baseline", str(tmp_path / "nope")]) == 1
    assert "no run folder" in capsys.readouterr().err
    assert not out.exists()


def test_run_with_a_baseline_compares_reports_and_sets_the_exit_code(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["run", *QUICK, "--out", str(first)]) == 0
    code = main(["run", *QUICK, "--out", str(second), "--baseline", str(first)])
    data = json.loads((second / BASELINE_FILE).read_text())
    # the same host run twice: the cell is compared (never incomparable); noise on a shared
    # machine may move it, and the exit code follows the verdict
    assert [c["verdict"] for c in data["cells"]] != ["incomparable"]
    assert code == (2 if data["regressed"] else 0)
    assert data["base"]["run_id"] == read_run_folder(first).run_id
    assert "against the baseline" in capsys.readouterr().out
    report = (second / "report.html").read_text()
    assert "Against the baseline" in report and "okay_nabu · tflite:xnnpack" in report


@pytest.mark.parametrize("failed, infra, regressed, expected", [
    (False, False, False, 0), (False, False, True, 2), (True, False, True, 4),
    (True, True, True, 3)])
def test_job_failures_win_over_a_regression(failed, infra, regressed, expected, tmp_path):
    records = [{"status": "ok"}]
    if failed:
        records.append({"status": "failed", "error": {"infrastructure": infra}})
    result = RunResult("r", tmp_path, records, comparison={"regressed": regressed})
    assert result.exit_code == expected


def _hostile_runs(tmp_path):
    jobs = lambda f: [(record(n), {"latency_ms": scaled(BASE_MS, f)})  # noqa: E731
                      for n in (*HOSTILE, "steady")]
    base = write_run(tmp_path / "base", jobs(1.0))
    new = write_run(tmp_path / "new", jobs(1.0)[2:] + [
        (record(n), {"latency_ms": scaled(BASE_MS, 1.2)}) for n in HOSTILE])
    return base, new


def test_the_report_lists_regressions_first_and_escapes_names(tmp_path):
    base, new = _hostile_runs(tmp_path)
    data = compare_to_baseline(read_run_folder(base), new)
    assert data["regressed"] and (new / BASELINE_FILE).exists()
    html = write_report(new).read_text()
    section = html[html.index('id="baseline"'):html.index('id="summary"')]
    assert section.index("slower") < section.index(">same<")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in section
    assert "a b;rm -rf x&#39;" in section


def test_compare_page_and_report_open_in_a_browser_without_errors(tmp_path):
    base, new = _hostile_runs(tmp_path)
    page_file = tmp_path / "compare.html"
    assert main(["compare", str(base), str(new), "--html", str(page_file)]) == 2
    page = open_page(page_file, tmp_path)
    assert page.errors == []
    assert page.colours() > 1
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.dom  # text, not an element
    assert "<img" not in page.dom
    compare_to_baseline(read_run_folder(base), new)
    report = open_page(write_report(new), tmp_path / "report")
    assert report.errors == [] and report.colours() > 1
    assert "Against the baseline" in report.dom and "<img" not in report.dom
