"""``npubench compare`` on small run folders: exit codes, incomparable cells and their
reasons, JUnit, Markdown, HTML, JSON and the terminal, hostile names escaped everywhere."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from npubench.harness.cli import main
from tests.compare_fixtures import BASE_MS, HOSTILE, record, scaled, write_run

SLOW = scaled(BASE_MS, 1.10)


def _jobs(names, factor=1.0, **extra):
    return [(record(n, **extra), {"latency_ms": scaled(BASE_MS, factor)}) for n in names]


@pytest.fixture
def runs(tmp_path):
    """BASE; SAME (as BASE); SLOW (the second workload 10% slower)."""
    base = write_run(tmp_path / "base", _jobs(["alpha", "beta"]))
    same = write_run(tmp_path / "same", _jobs(["alpha", "beta"]))
    slow = write_run(tmp_path / "slow", _jobs(["alpha"]) + _jobs(["beta"], 1.10))
    return base, same, slow


def test_exit_0_when_nothing_regressed(runs, capsys):
    base, same, _ = runs
    assert main(["compare", str(base), str(same)]) == 0
    out = capsys.readouterr().out
    assert "0 slower" in out and "2 same" in out


def test_exit_2_when_a_cell_regressed_and_regressions_come_first(runs, capsys):
    base, _, slow = runs
    assert main(["compare", str(base), str(slow)]) == 2
    out = capsys.readouterr().out
    assert "1 slower" in out
    assert out.index("beta") < out.index("alpha")  # the regression's row first
    assert "+10.0%" in out


def test_a_wide_threshold_turns_the_regression_into_same(runs):
    base, _, slow = runs
    assert main(["compare", str(base), str(slow), "--threshold", "15%"]) == 0
    assert main(["compare", str(base), str(slow), "--threshold", "0.05"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["BASE", "nowhere/run"], "no run folder nowhere/run"),
    (["BASE", "EMPTY"], "not a run folder"),
    (["BASE", "BASE", "--threshold", "3"], "ambiguous"),
    (["BASE", "BASE", "--threshold=-1%"], "at least 0%"),
    (["BASE", "BASE", "--threshold", "lots"], "not a number"),
    (["BASE", "no-such-run-id"], "no run 'no-such-run-id'"),
])
def test_exit_1_on_bad_input_with_a_message(runs, tmp_path, capsys, argv, message):
    base = runs[0]
    (tmp_path / "empty").mkdir()
    argv = [str(base) if a == "BASE" else str(tmp_path / "empty") if a == "EMPTY" else a
            for a in argv]
    store = tmp_path / "store.sqlite"
    assert main(["compare", *argv, "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_incomparable_cells_say_why(tmp_path, capsys):
    base = write_run(tmp_path / "base", [
        (record("gone"), {"latency_ms": BASE_MS}),
        (record("broken"), {"latency_ms": BASE_MS}),
        (record("skipper"), {"latency_ms": BASE_MS}),
        (record("retrained", sha256="1" * 64), {"latency_ms": BASE_MS}),
        (record("short"), {"latency_ms": BASE_MS[:2]}),
    ])
    new = write_run(tmp_path / "new", [
        (record("broken", status="failed", message="delegate crashed: SIGSEGV"), None),
        (record("skipper", status="skipped", message="no NPU on this phone"), None),
        (record("retrained", sha256="2" * 64), {"latency_ms": BASE_MS}),
        (record("short"), {"latency_ms": BASE_MS}),
        (record("fresh"), {"latency_ms": BASE_MS}),
    ])
    out = tmp_path / "c.json"
    assert main(["compare", str(base), str(new), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    reasons = {c["cell"]["workload"]: (c["verdict"], c["reason"]) for c in data["cells"]}
    assert reasons["gone"] == ("incomparable", "only in BASE")
    assert reasons["fresh"] == ("incomparable", "only in NEW")
    assert reasons["broken"] == ("incomparable", "failed in NEW: delegate crashed: SIGSEGV")
    assert reasons["skipper"] == ("incomparable", "skipped in NEW: no NPU on this phone")
    assert reasons["retrained"] == ("incomparable",
                                    "model changed: sha256 111111111111… -> 222222222222…")
    assert reasons["short"][0] == "incomparable"
    assert "too few samples" in reasons["short"][1]
    assert data["counts"] == {"slower": 0, "faster": 0, "same": 0, "incomparable": 6}
    assert "model changed" in capsys.readouterr().out


def test_json_holds_every_figure_ratio_interval_and_verdict(runs, tmp_path, capsys):
    base, _, slow = runs
    assert main(["compare", str(base), str(slow), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)  # JSON alone on stdout
    assert data["format"] == "npubench-compare/1" and data["regressed"] is True
    beta = next(c for c in data["cells"] if c["cell"]["workload"] == "beta")
    median = next(f for f in beta["figures"] if f["name"] == "latency_median")
    assert median["ratio"] == pytest.approx(1.10)
    assert median["ci95_low"] > 1.03 and median["verdict"] == "slower"
    assert median["n_base"] == median["n_new"] == len(BASE_MS)
    init = next(f for f in beta["figures"] if f["name"] == "init")
    assert init["interval"] is False and init["verdict"] is None


def test_junit_has_one_case_per_cell_and_one_failure_per_regression(tmp_path):
    base = write_run(tmp_path / "base", _jobs(["a", "b", "c", "gone"]))
    new = write_run(tmp_path / "new", _jobs(["a"], 1.10) + _jobs(["b"], 1.2) + _jobs(["c"]))
    junit = tmp_path / "junit.xml"
    assert main(["compare", str(base), str(new), "--junit", str(junit)]) == 2
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 4 and suite.get("tests") == "4"
    failures = [c for c in cases if c.find("failure") is not None]
    assert sorted(c.get("name").split(" ·")[0] for c in failures) == ["a", "b"]
    assert suite.get("failures") == "2"
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert [c.get("name").split(" ·")[0] for c in skipped] == ["gone"]
    assert "only in BASE" in skipped[0].find("skipped").get("message")


def test_environment_changes_are_shown_as_possible_causes_in_every_output(tmp_path, capsys):
    base = write_run(tmp_path / "base", _jobs(["a"]), versions={"onnxruntime": "1.20.0"})
    new = write_run(tmp_path / "new", _jobs(["a"], 1.1), versions={"onnxruntime": "1.21.0"})
    files = {k: tmp_path / f"c.{k}" for k in ("md", "xml", "html", "json")}
    assert main(["compare", str(base), str(new), "--markdown", str(files["md"]), "--junit",
                 str(files["xml"]), "--html", str(files["html"]), "--json",
                 str(files["json"])]) == 2
    out = capsys.readouterr().out
    assert "library.onnxruntime: 1.20.0 → 1.21.0" in out
    assert "library\\.onnxruntime: 1\\.20\\.0 → 1\\.21\\.0" in files["md"].read_text()
    assert "library.onnxruntime: 1.20.0 → 1.21.0" in files["html"].read_text()
    props = {p.get("name"): p.get("value") for p in ET.parse(files["xml"]).iter("property")}
    assert props["environment.library.onnxruntime"] == "1.20.0 -> 1.21.0"
    data = json.loads(files["json"].read_text())
    assert {"name": "library.onnxruntime", "base": "1.20.0", "new": "1.21.0"} in \
        data["environment_changes"]


def test_a_simulated_run_against_a_real_one_is_flagged(tmp_path, capsys):
    base = write_run(tmp_path / "base", _jobs(["a"], simulated=True))
    new = write_run(tmp_path / "new", _jobs(["a"]))
    assert main(["compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "BASE ran on a simulated phone and NEW did not" in out
    assert "simulated: yes → no" in out


def test_same_phone_compares_each_unit(tmp_path, capsys):
    jobs = lambda f2: [(record("a", serial="unit-1"), {"latency_ms": BASE_MS}),  # noqa: E731
                       (record("a", serial="unit-2"), {"latency_ms": scaled(BASE_MS, f2)})]
    base = write_run(tmp_path / "base", jobs(1.0))
    new = write_run(tmp_path / "new", jobs(1.2))
    out = tmp_path / "c.json"
    assert main(["compare", str(base), str(new), "--same-phone", "--json", str(out)]) == 2
    cells = json.loads(out.read_text())["cells"]
    assert [(c["cell"]["unit"], c["verdict"]) for c in cells] == [("unit-2", "slower"),
                                                                   ("unit-1", "same")]
    assert main(["compare", str(base), str(new), "--json", str(out)]) == 2
    cells = json.loads(out.read_text())["cells"]
    assert len(cells) == 1 and "2 records of this cell in BASE" in cells[0]["notes"][0]


def test_latest_and_previous_from_the_results_store(tmp_path, capsys):
    from npubench.reports.store import open_store

    base = write_run(tmp_path / "20261201-000000-aaaa", _jobs(["a"]),
                     started_at="2026-12-01T00:00:00+00:00")
    new = write_run(tmp_path / "20261202-000000-bbbb", _jobs(["a"], 1.1),
                    started_at="2026-12-02T00:00:00+00:00")
    store_path = tmp_path / "store.sqlite"
    store = open_store(store_path)
    try:
        store.ingest(base)
        store.ingest(new)
    finally:
        store.close()
    assert main(["compare", "previous", "latest", "--store", str(store_path)]) == 2
    assert main(["compare", "20261201", "20261202-000000-bbbb", "--store",
                 str(store_path)]) == 2
    assert main(["compare", "latest", "latest", "--store", str(store_path)]) == 0
    assert "20261202-000000-bbbb" in capsys.readouterr().out


@pytest.mark.parametrize("name", HOSTILE + ("[bold red]markup[/]",))
def test_hostile_names_are_escaped_in_every_output(tmp_path, capsys, monkeypatch, name):
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    base = write_run(tmp_path / "base", _jobs([name]))
    new = write_run(tmp_path / "new", _jobs([name], 1.2) + _jobs(["only " + name]))
    files = {k: tmp_path / f"c.{k}" for k in ("md", "xml", "html")}
    assert main(["compare", str(base), str(new), "--markdown", str(files["md"]), "--junit",
                 str(files["xml"]), "--html", str(files["html"])]) == 2
    out = capsys.readouterr().out
    assert name in out  # rich printed it as text, markup and all
    markdown = files["md"].read_text()
    html = files["html"].read_text()
    for text in (markdown, html):
        assert "<img" not in text and "onerror=alert(1)>" not in text
    if name.startswith("<img"):
        assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in markdown
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
    if name.startswith("a b"):
        assert "a b;rm \\-rf x'" in markdown
        assert "a b;rm -rf x&#39;" in html
    names = [c.get("name") for c in ET.parse(files["xml"]).iter("testcase")]
    assert any(n.startswith(name + " ·") for n in names)  # XML-escaped, read back intact
