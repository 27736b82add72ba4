"""``npubench history`` end to end: real host runs (run folders, a SQLite store and the real
PostgreSQL), the exit codes, and the pages opened in headless Chromium.

Exit codes: 0 when the site is written; 1 when there is nothing to show (an empty store, a
filter that matches no run) or an option is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from store_helpers import postgres_schema

from npubench.harness.cli import main
from tests.browser import open_page
from tests.history_fixtures import HOSTILE_BACKEND, HOSTILE_WORKLOAD, runs_from_series


@pytest.fixture(scope="module")
def host_runs(tmp_path_factory) -> list[Path]:
    """Three short real host runs (okay_nabu, a TFLite model, on LiteRT's XNNPACK)."""
    import npubench

    base = tmp_path_factory.mktemp("host-runs")
    dirs = []
    for i in range(3):
        result = npubench.run_suite(None, workloads=["okay_nabu"],
                                    backends=["tflite:xnnpack"],
                                    settings={"max_seconds": 0.5, "min_seconds": 0.1},
                                    out=base / f"run{i}", report=False, store=False)
        assert [r["status"] for r in result.records] == ["ok"]
        dirs.append(result.run_dir)
    return dirs


def test_history_of_run_folders(host_runs, tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["history", *map(str, host_runs), "--out", str(out)]) == 0
    assert "3 runs" in capsys.readouterr().out
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "okay_nabu · tflite:xnnpack" in index
    pages = list(out.glob("cell-*.html"))
    assert pages and all("<svg" in p.read_text(encoding="utf-8") for p in pages)
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", index)


def test_history_from_a_sqlite_store_with_filters(host_runs, tmp_path, capsys):
    store = str(tmp_path / "results.sqlite")
    assert main(["ingest", *map(str, host_runs), "--store", store]) == 0
    out = tmp_path / "site"
    assert main(["history", "--store", store, "--out", str(out), "--limit-runs", "2"]) == 0
    assert "2 runs" in capsys.readouterr().out
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "okay_nabu" in index and "2 runs" in index
    assert main(["history", "--store", store, "--out", str(tmp_path / "none"),
                 "--device-model", "no such phone"]) == 1
    err = capsys.readouterr().err
    assert "no runs to show" in err and "device models there:" in err
    assert "Traceback" not in err
    assert main(["history", "--store", store, "--out", str(tmp_path / "none"),
                 "--since", "2099-01-01"]) == 1
    assert "with --since 2099-01-01" in capsys.readouterr().err
    assert main(["history", "--store", store, "--out", str(tmp_path / "recent"),
                 "--since", "2000-01-01"]) == 0


def test_history_from_postgresql(host_runs, tmp_path, capsys):
    with postgres_schema() as url:
        assert main(["ingest", *map(str, host_runs), "--store", url]) == 0
        out = tmp_path / "site"
        assert main(["history", "--store", url, "--out", str(out)]) == 0
        assert "3 runs" in capsys.readouterr().out
        assert "okay_nabu · tflite:xnnpack" in (out / "index.html").read_text(encoding="utf-8")


def test_an_empty_store_is_a_clear_error_exit_1(tmp_path, capsys):
    code = main(["history", "--store", str(tmp_path / "empty.sqlite"), "--out",
                 str(tmp_path / "site")])
    assert code == 1
    err = capsys.readouterr().err
    assert "no runs to show" in err and "npubench ingest" in err
    assert not (tmp_path / "site" / "index.html").exists()


@pytest.mark.parametrize("argv, message", [
    (["--since", "last tuesday"], "is not a date or time"),
    (["--since", "2099-01-01"], "no runs to show"),
    (["--limit-runs", "0"], "give 1 or more"),
])
def test_bad_options_exit_1(tmp_path, capsys, argv, message):
    store = str(tmp_path / "empty.sqlite")
    assert main(["history", "--store", store, "--out", str(tmp_path / "s"), *argv]) == 1
    assert message in capsys.readouterr().err


def test_a_store_that_cannot_be_opened_exits_1(tmp_path, capsys):
    code = main(["history", "--store", "postgresql://nobody@127.0.0.1:1/none", "--out",
                 str(tmp_path / "site")])
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot open the results store" in err and "Traceback" not in err


def test_a_folder_that_is_not_a_run_exits_1(tmp_path, capsys):
    assert main(["history", str(tmp_path), "--out", str(tmp_path / "s")]) == 1
    assert "results.jsonl" in capsys.readouterr().err


def test_the_pages_open_in_chromium_without_errors(tmp_path):
    from npubench.reports.history import write_history

    flat = [10.0, 10.1, 9.9, 10.05, 9.95, 10.1]
    views = runs_from_series({
        ("mobilenet", "tflite:xnnpack"): flat + [v * 1.2 for v in flat],
        (HOSTILE_WORKLOAD, HOSTILE_BACKEND): flat * 2,
    }, runtime_change_at=6)
    summary = write_history(views, tmp_path / "site")
    front = open_page(summary.index, tmp_path)
    assert front.errors == []
    assert front.colours() > 10  # not blank: text, links, badges, sparklines
    assert "mobilenet · tflite:xnnpack" in front.dom
    assert "<img" not in front.dom  # the hostile name stayed text
    cell = next(p for p in (tmp_path / "site").glob("cell-*.html")
                if "xnnpack" in p.read_text(encoding="utf-8"))
    (tmp_path / "cell").mkdir()
    page = open_page(cell, tmp_path / "cell")
    assert page.errors == []
    assert page.colours() > 10
    assert "<svg" in page.dom and "+20.0%" in page.dom
