"""The report's language-model section: its table (tokens/s per backend and precision, latency
per token, memory against model size, energy per token or why not), its two figures, and the
frame columns of the ``llm`` block, from hand-made records that follow the LLM contract."""

from __future__ import annotations

import re

import pytest
import report_fixtures as demo
from test_report import XSS_NAME, tags

from npubench.reports import cells
from npubench.reports.frame import has_llm_fields, records_frame, rows
from npubench.reports.html import write_report

HEADERS = [
    "Workload", "Precision", "Device", "Backend", "Prompt / gen tokens", "Load ms", "TTFT ms",
    "Prefill tok/s", "Decode tok/s", "ms/token p50", "Peak memory MB", "Weights + KV MB",
    "Peak ÷ model", "Energy mJ/token"]
COL = {name: i for i, name in enumerate(HEADERS)}
NO_POWER = "no power sensor on this host (no RAPL powercap, no NVIDIA GPU with NVML)"


def section(html: str) -> str:
    return html.split('<section id="llm">', 1)[1].split("</section>", 1)[0]


def table_rows(html: str) -> list[list[str]]:
    """The LLM table's rows, each a list of its ``<td>`` elements (opening tag included)."""
    body = section(html).split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r"<td.*?</td>", row, re.S) for row in re.findall(r"<tr.*?</tr>", body,
                                                                          re.S)]


def row_of(html: str, workload: str, backend: str) -> list[str]:
    found = [r for r in table_rows(html)
             if f">{workload}<" in r[COL["Workload"]] and f">{backend}<" in r[COL["Backend"]]]
    assert len(found) == 1, f"{len(found)} rows for {workload} on {backend}"
    return found[0]


def text(td: str) -> str:
    """The value shown in a cell (before any sub line, footnote or badge)."""
    return re.match(r"<td[^>]*>([^<]*)", td).group(1)


def subs(td: str) -> list[str]:
    return re.findall(r'<div class="sub">([^<]*)</div>', td)


def figure(html: str, figure_id: str) -> str:
    return section(html).split(f'id="{figure_id}"', 1)[1].split("</div>", 1)[0]


def svg_texts(fragment: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", fragment)


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory):
    jobs = demo.llm_jobs()
    run_dir = demo.write_run(tmp_path_factory.mktemp("llm"), jobs)
    records = {f"{r['workload']['name']}@{r['backend']['spec']}": r
               for r in (job[0] if isinstance(job, tuple) else job for job in jobs)}
    return write_report(run_dir).read_text(encoding="utf-8"), records


def test_table_headers_and_one_row_per_finished_llm_job(llm_run):
    html, _ = llm_run
    head = section(html).split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert re.findall(r"<th[^>]*>([^<]*)</th>", head) == HEADERS
    found = table_rows(html)
    assert len(found) == 6  # the failed and the skipped LLM jobs are not in it
    assert all(len(r) == len(HEADERS) for r in found)


@pytest.mark.parametrize("workload", ["llama_1b_int4", "llama_1b_fp16"])
@pytest.mark.parametrize("backend", ["ort:cpu", "ort:cuda"])
def test_numbers_of_two_backends_and_two_precisions(llm_run, workload, backend):
    html, records = llm_run
    record = records[f"{workload}@{backend}"]
    llm = record["llm"]
    row = row_of(html, workload, backend)
    assert text(row[COL["Precision"]]) == record["workload"]["precision"]
    assert subs(row[COL["Workload"]]) == ["1.10 B params"]
    assert "1,100,048,384 parameters" in row[COL["Workload"]]
    assert text(row[COL["Prompt / gen tokens"]]) == "512 / 128"
    assert 'title="5 repetitions"' in row[COL["Prompt / gen tokens"]]
    assert text(row[COL["Load ms"]]) == "850"
    for column, name in (("TTFT ms", "ttft_ms"), ("Prefill tok/s", "prefill_tokens_per_s"),
                         ("Decode tok/s", "decode_tokens_per_s")):
        summary = llm[name]
        assert text(row[COL[column]]) == cells.fmt_num(record[name]), column
        assert subs(row[COL[column]]) == [
            f"CI95 {cells.fmt_num(summary['ci95_low'])}–{cells.fmt_num(summary['ci95_high'])}"]
        assert "median of 5 repetitions" in row[COL[column]]
    tokens = llm["token_latency_ms"]
    cell = row[COL["ms/token p50"]]
    assert text(cell) == cells.fmt_num(tokens["median"])
    assert subs(cell) == [f"p90 {cells.fmt_num(tokens['p90'])}",
                          f"p99 {cells.fmt_num(tokens['p99'])}"]
    weights_mb, kv_mb = llm["weight_bytes"] / 2**20, llm["kv_cache_bytes"] / 2**20
    assert text(row[COL["Peak memory MB"]]) == cells.fmt_num(record["memory_peak_mb"])
    assert text(row[COL["Weights + KV MB"]]) == cells.fmt_num(weights_mb + kv_mb)
    assert subs(row[COL["Weights + KV MB"]]) == [
        f"{cells.fmt_num(weights_mb)} + {cells.fmt_num(kv_mb)}"]
    ratio = record["memory_peak_mb"] / (weights_mb + kv_mb)
    assert text(row[COL["Peak ÷ model"]]) == f"{ratio:.2f}×"


def test_decode_rates_shown_as_recorded(llm_run):
    html, _ = llm_run
    decode = {(text(r[COL["Workload"]]), text(r[COL["Backend"]])): text(r[COL["Decode tok/s"]])
              for r in table_rows(html)}
    assert decode[("llama_1b_int4", "ort:cpu")] == "11.8"
    assert decode[("llama_1b_fp16", "ort:cpu")] == "6.10"
    assert decode[("llama_1b_int4", "ort:cuda")] == "96.0"
    assert decode[("llama_1b_fp16", "ort:cuda")] == "142"
    assert decode[("llama_15m_int4", "ort:cpu")] == "420"


def test_energy_reason_instead_of_zero(llm_run):
    html, _ = llm_run
    measured = row_of(html, "llama_1b_int4", "ort:cuda")[COL["Energy mJ/token"]]
    assert text(measured) == "310"
    missing = row_of(html, "llama_1b_int4", "ort:cpu")[COL["Energy mJ/token"]]
    assert text(missing) == "—" and f'title="{NO_POWER}"' in missing
    assert '<a href="#llm-note-1">1</a>' in missing
    phone = row_of(html, "tinyllama-1.1b-q4_0.gguf", "llama:htp")[COL["Energy mJ/token"]]
    assert text(phone) == "—" and '<a href="#llm-note-2">2</a>' in phone
    notes = section(html).split('<ol class="notes">', 1)[1].split("</ol>", 1)[0]
    assert f'<li id="llm-note-1">No energy per token: {NO_POWER}</li>' in notes
    assert ("<li id=\"llm-note-2\">No energy per token: charging over USB could not be "
            "suspended (no root)</li>") in notes
    energy = [text(r[COL["Energy mJ/token"]]) for r in table_rows(html)]
    assert "0" not in energy and "0.000" not in energy


def test_simulated_phone_row_is_marked(llm_run):
    html, _ = llm_run
    (phone,) = [r for r in re.findall(r"<tr.*?</tr>", section(html), re.S)
                if "llama:htp" in r]
    assert phone.startswith('<tr class="simulated">')
    assert '<span class="badge sim">simulated</span>' in phone
    assert "figures from llama-bench" in phone
    assert '<h2>Language models <span class="badge sim"' in section(html)


def test_failed_and_skipped_llm_jobs_are_listed_as_problems(llm_run):
    html, _ = llm_run
    problems = html.split('<section id="problems">', 1)[1].split("</section>", 1)[0]
    assert ">llama_1b_fp32<" in problems and "needs about 4.6 GB" in problems
    assert ">llama:gpu<" in problems and "no OpenCL on this phone" in problems
    assert "llama_1b_fp32" not in section(html)


def test_decode_figure_groups_by_model_backend_and_precision(llm_run):
    html, _ = llm_run
    fig = figure(html, "llm-decode")
    assert fig.count("<svg") == 1
    labels = [t for t in svg_texts(fig) if " · " in t]
    assert labels == [
        "llama_15m · int4 · ort:cpu", "llama_1b · fp16 · ort:cpu", "llama_1b · int4 · ort:cpu",
        "llama_1b · fp16 · ort:cuda", "llama_1b · int4 · ort:cuda",
        "tinyllama-1.1b-q4_0.gguf · int4 · llama:htp",
        "samsung SM-S928B · Snapdragon 8 Gen 3  [simulated]"]
    texts = svg_texts(fig)
    for value in ("420", "6.10", "11.8", "142", "96.0", "21.5"):
        assert value in texts
    assert {"ort:cpu", "ort:cuda", "llama:htp"} <= set(texts)  # the legend
    assert "decode tokens/s (median), log scale" in texts


def test_memory_figure_shows_the_ratio(llm_run):
    html, records = llm_run
    fig = figure(html, "llm-memory")
    assert fig.count("<svg") == 1
    texts = svg_texts(fig)
    assert {"weights", "KV cache", "peak memory"} <= set(texts)
    record = records["llama_1b_int4@ort:cpu"]
    llm = record["llm"]
    ratio = record["memory_peak_mb"] / ((llm["weight_bytes"] + llm["kv_cache_bytes"]) / 2**20)
    assert f"{ratio:.2f}×" in texts
    assert "llama_1b_int4 · ort:cpu" in texts


def test_latency_figure_of_an_llm_workload_is_per_token(llm_run):
    html, _ = llm_run
    distributions = html.split('id="distributions"', 1)[1].split("</section>", 1)[0]
    assert "latency per generated token (ms)" in distributions
    assert "latency per inference" not in distributions
    summary = html.split('id="summary"', 1)[1].split("</section>", 1)[0]
    assert "For language models (text-generation) the times are per generated token" in summary


def test_no_llm_section_without_llm_records(tmp_path):
    html = write_report(demo.write_run(tmp_path, demo.demo_jobs())).read_text()
    assert 'id="llm"' not in html and "Language models" not in html
    assert "llm-decode" not in html and "per generated token" not in html


def test_only_failed_llm_jobs_make_no_section(tmp_path):
    failed = [j for j in demo.llm_jobs() if not isinstance(j, tuple)]
    html = write_report(demo.write_run(tmp_path, failed)).read_text()
    assert 'id="llm"' not in html and "llama_1b_fp32" in html


def test_hostile_names_and_reasons_are_escaped(tmp_path):
    evil = '"><img src=x onerror=alert(2)> $x$'
    jobs = [
        demo.llm_record(XSS_NAME, "ort:cpu", 10.0, energy_missing_reason=evil, source=evil),
        demo.llm_record(XSS_NAME, "ort:cuda", 50.0, precision="<b>int4</b>"),
    ]
    html = write_report(demo.write_run(tmp_path, jobs)).read_text()
    llm = section(html)
    assert "<img" not in html and "<b>int4" not in html and "<script>alert" not in html
    assert ">&lt;script&gt;alert(1)&lt;/script&gt;<" in llm
    assert 'title="&#34;&gt;&lt;img src=x onerror=alert(2)&gt; $x$"' in llm
    assert ">&lt;b&gt;int4&lt;/b&gt;<" in llm
    decode = svg_texts(figure(html, "llm-decode"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; · int4 · ort:cpu" in decode
    assert "&lt;script&gt;alert(1)&lt;/script&gt; · &lt;b&gt;int4&lt;/b&gt; · ort:cuda" in decode
    found = tags(html)
    assert [t for t, _ in found].count("script") == 1
    assert not [(t, a) for t, a in found for name in a if name.startswith("on")]


def test_records_without_the_llm_block_show_dashes_not_zeros(tmp_path):
    """An older LLM record: top-level medians only, no ``llm`` block."""
    record, samples = demo.llm_record("old_decoder", "ort:cpu", 30.0)
    del record["llm"]
    html = write_report(demo.write_run(tmp_path, [(record, samples)])).read_text()
    (row,) = table_rows(html)
    assert text(row[COL["Decode tok/s"]]) == "30.0" and subs(row[COL["Decode tok/s"]]) == []
    for column in ("Prompt / gen tokens", "Weights + KV MB", "Peak ÷ model"):
        assert text(row[COL[column]]) == "—", column
    assert "weight or KV-cache bytes not recorded" in row[COL["Weights + KV MB"]]
    assert subs(row[COL["Workload"]]) == [] and "parameter count not recorded" in row[0]
    # per-token latency falls back on the record's latency_ms (per generated token)
    assert text(row[COL["ms/token p50"]]) == cells.fmt_num(record["latency_ms"]["median"])
    assert text(row[COL["Load ms"]]) == "850"  # init_ms: the load time
    memory = figure(html, "llm-memory")
    assert "<svg" not in memory
    assert "Not in this figure (not recorded): <code>old_decoder@ort:cpu</code>" in memory
    assert "<svg" in figure(html, "llm-decode")


def test_llama_bench_record_without_token_latencies(tmp_path):
    record, samples = demo.llm_record("t.gguf", "llama:cpu", 20.0, source="llama-bench")
    record["llm"]["token_latency_ms"] = None
    record["llm"]["ttft_ms"] = None
    html = write_report(demo.write_run(tmp_path, [(record, samples)])).read_text()
    (row,) = table_rows(html)
    assert text(row[COL["ms/token p50"]]) == cells.fmt_num(record["latency_ms"]["median"])
    assert "latency_ms over" in row[COL["ms/token p50"]]
    assert text(row[COL["TTFT ms"]]) == cells.fmt_num(record["ttft_ms"])  # top-level median
    assert subs(row[COL["TTFT ms"]]) == []


def test_frame_reads_the_llm_block_and_leaves_older_records_na():
    record, _ = demo.llm_record("m", "ort:cpu", 12.0, energy_mj_per_token=4.5)
    older, _ = demo.ok_record("cnn", "tflite:cpu", 10.0)
    frame = records_frame([record, older])
    assert has_llm_fields(frame) and not has_llm_fields(records_frame([older]))
    new, old = rows(frame)
    llm = record["llm"]
    assert new["has_llm"] and not old["has_llm"]
    assert new["llm_prompt_tokens"] == 512 and new["llm_gen_tokens"] == 128
    assert new["llm_params"] == llm["params"] and new["llm_weight_bytes"] == llm["weight_bytes"]
    assert new["llm_kv_cache_bytes"] == llm["kv_cache_bytes"] and new["llm_load_ms"] == 850.0
    assert new["llm_decode_tokens_per_s_median"] == 12.0
    assert new["llm_decode_tokens_per_s_ci95_low"] == llm["decode_tokens_per_s"]["ci95_low"]
    assert new["llm_token_latency_ms_p99"] == llm["token_latency_ms"]["p99"]
    assert new["llm_source"] == demo.LLM_SOURCE
    assert new["energy_mj_per_token"] == 4.5 and new["energy_missing_reason"] is None
    llm_columns = [c for c in frame.columns if c.startswith("llm_")]
    assert len(llm_columns) > 20 and all(old[c] is None for c in llm_columns)
    assert old["energy_missing_reason"] is None and old["ttft_ms"] is None
    only_block = rows(records_frame([{"job_id": "x", "status": "ok", "llm": {}}]))[0]
    assert only_block["has_llm"] and only_block["llm_params"] is None


def test_count_and_median_cells():
    assert [cells.fmt_count(v) for v in (1_100_048_384, 124_439_808, 15_191_040, 850_000, 512)] \
        == ["1.10 B", "124 M", "15.2 M", "850 K", "512"]
    assert cells.fmt_count(None) == "—"
    cell = cells.median_cell(24.5, 23.9, 25.1, 5)
    assert cell.text == "24.5" and cell.lines == ["CI95 23.9–25.1"]
    assert cell.title.startswith("median of 5 repetitions")
    assert cells.median_cell(None).text == "—" and cells.median_cell(3.0).lines == []
