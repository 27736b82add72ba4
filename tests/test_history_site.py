"""The history site built from synthetic RunViews: the injected step on the front page, a page
per cell with its figure, environment changes marked, simulated runs labelled, names escaped,
nothing loaded from the network."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from npubench.reports.history import cell_histories, select_runs, write_history
from npubench.reports.history.series import parse_time
from tests.history_fixtures import HOSTILE_BACKEND, HOSTILE_WORKLOAD, runs_from_series

FLAT = [10.0, 10.1, 9.9, 10.05, 9.95, 10.1, 9.9, 10.0, 10.08, 9.92, 10.02, 9.97]
STEPPED = FLAT[:6] + [v * 1.10 for v in FLAT[:6]]  # medians 10.025 -> 11.0275: +10.0%
EXTERNAL = re.compile(r"""(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?"""
                      r"""\s*(?:https?:)?//|@import""", re.I)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    views = runs_from_series({
        ("mobilenet", "tflite:xnnpack"): STEPPED,
        (HOSTILE_WORKLOAD, HOSTILE_BACKEND): FLAT[:5] + [None] + FLAT[6:],
    }, runtime_change_at=6)
    views += runs_from_series({("mobilenet", "tflite:gpu"): FLAT[:4]}, simulated=True,
                              model="SM-S928B")
    out = tmp_path_factory.mktemp("history")
    summary = write_history(views, out, source="synthetic <runs>")
    assert summary.runs == len(views) and summary.cells == 3 and summary.steps == 1
    return out


def _pages(site: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(site.iterdir())}


def _cell_page(site: Path, needle: str) -> str:
    pages = [t for n, t in _pages(site).items() if n.startswith("cell-") and needle in t]
    assert len(pages) == 1, needle
    return pages[0]


def test_front_page_lists_the_injected_step_first(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    recent = index[index.index('id="recent-changes"'):index.index("</table>")]
    assert "mobilenet · tflite:xnnpack" in recent
    assert "+10.0%" in recent and "worse" in recent
    assert "environment changed: a possible cause" in recent
    assert "runtime" in recent and "2.17.0" in recent and "2.18.0" in recent
    # The link goes to the cell's page, which exists.
    href = re.search(r'<a href="(cell-[0-9a-f]{16}\.html)">mobilenet · tflite:xnnpack', recent)
    assert href and (site / href.group(1)).is_file()
    # Per device model: a table of its cells with the latest median.
    assert "<h2>Pixel 8</h2>" in index and "<h2>SM-S928B</h2>" in index
    assert "+10.0% since 2026-11-07" in index


def test_a_page_per_cell_with_its_figure_steps_and_environment_marks(site):
    names = [n for n in _pages(site) if n.startswith("cell-")]
    assert len(names) == 3
    page = _cell_page(site, "mobilenet · tflite:xnnpack")
    assert "<svg" in page and "</svg>" in page
    assert "+10.0%" in page
    # The environment change is drawn on the time axis and listed in the runs table.
    assert "env: runtime, tool" in page or "env: runtime" in page
    assert 'class="badge env">changed</span>' in page
    assert page.count("run0") >= 12  # the runs table has every run


def test_a_failed_run_is_listed_with_its_reason(site):
    page = _cell_page(site, "onerror")
    assert "not measured: failed: delegate crashed" in page


def test_the_front_page_says_when_the_latest_run_measured_nothing(tmp_path):
    views = runs_from_series({("mobilenet", "tflite:gpu"): FLAT[:5] + [None]})
    write_history(views, tmp_path)
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "run run004; the latest run measured nothing: failed: delegate crashed" in index


def test_simulated_runs_are_labelled_where_their_numbers_appear(site):
    page = _cell_page(site, "tflite:gpu")
    assert "simulated phone" in page
    assert page.count('class="badge sim"') >= 4  # one per run row
    index = (site / "index.html").read_text(encoding="utf-8")
    model = index[index.index("<h2>SM-S928B</h2>"):]
    assert 'class="badge sim"' in model
    assert 'class="badge sim"' not in index[index.index("<h2>Pixel 8</h2>"):
                                            index.index("<h2>SM-S928B</h2>")]


def test_hostile_names_are_escaped_everywhere(site):
    pages = _pages(site)
    for name, text in pages.items():
        assert "<img" not in text, name
        assert "rm -rf x'" not in text, name
    index = pages["index.html"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in index
    assert "a b;rm -rf x&#39;" in index
    assert "synthetic &lt;runs&gt;" in index
    page = _cell_page(site, "onerror")
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    # File names never come from a name.
    assert all(re.fullmatch(r"index\.html|cell-[0-9a-f]{16}\.html", n) for n in pages)


def test_nothing_is_loaded_from_the_network(site):
    for name, text in _pages(site).items():
        assert not EXTERNAL.search(text), name
        assert "<script" not in text, name
        assert "default-src 'none'" in text, name


def test_filters_select_runs_and_device_models():
    views = runs_from_series({("m", "b"): FLAT})
    assert [v.run_id for v in select_runs(views, limit_runs=3)] == ["run009", "run010", "run011"]
    since = parse_time("2026-11-10")
    assert [v.run_id for v in select_runs(views, since=since)] == ["run009", "run010", "run011"]
    assert cell_histories(views, device_model="Pixel 8")
    assert cell_histories(views, device_model="pixel 8") == []


def test_decode_tokens_per_second_is_followed_for_llm_cells():
    views = runs_from_series({("llama", "llama:cpu"): FLAT})
    for i, view in enumerate(views):
        tps = 50.0 if i < 6 else 40.0
        view.records[0]["llm"] = {"decode_tokens_per_s": {
            "n": 8, "median": tps + FLAT[i] / 10, "ci95_low": tps - 1, "ci95_high": tps + 1}}
    (cell,) = cell_histories(views)
    assert [m.metric.name for m in cell.metrics] == ["latency_ms", "decode_tokens_per_s"]
    (step,) = cell.steps
    assert step.metric.name == "decode_tokens_per_s" and step.index == 6 and step.worse


def test_the_benchmark_generator_builds_a_site_with_its_steps_found(tmp_path):
    path = Path(__file__).parents[1] / "benchmarks" / "history_speed.py"
    spec = importlib.util.spec_from_file_location("history_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    views = module.synthetic_runs(nights=16, cells=12, steps={3: (8, 1.15)})
    summary = write_history(views, tmp_path)
    cells = cell_histories(views)
    found = [(c.key.backend, s.index) for c in cells for s in c.steps]
    assert found == [("tflite:qnn-htp", 8)]
    assert summary.cells == 12 and len(list(tmp_path.glob("cell-*.html"))) == 12


def test_hostile_environment_names_and_values_are_escaped_in_figures_and_tables(tmp_path):
    views = runs_from_series({("mobilenet", "tflite:gpu"): FLAT})
    for i, view in enumerate(views):
        view.info["versions"] = {HOSTILE_WORKLOAD: "1" if i < 6 else HOSTILE_BACKEND}
    write_history(views, tmp_path)
    (page,) = tmp_path.glob("cell-*.html")
    text = page.read_text(encoding="utf-8")
    assert "<img" not in text and "rm -rf x'" not in text
    assert "env: library.&lt;img src=x onerror=alert(1)&gt;" in text  # the figure's label
    assert "a b;rm -rf x&#39;" in text  # the runs table


def test_time_axis_tells_runs_of_one_day_apart():
    from npubench.reports.history.figure import _tick_labels

    assert _tick_labels(["2026-12-05T01:00:00+00:00", "2026-12-06T01:00:00+00:00"]) == [
        "2026-12-05", "2026-12-06"]
    assert _tick_labels(["2026-12-06T02:54:12.200+00:00", "2026-12-06T02:55:40+00:00"]) == [
        "12-06 02:54", "12-06 02:55"]
