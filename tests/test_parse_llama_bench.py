"""llama-bench parser: JSON, JSONL, CSV and Markdown, read by field name (DEVICE_TOOLS.md §3.2)."""

import json
from pathlib import Path

import pytest

from npubench.harness.parsers.llama_bench import (
    KEYS,
    devices_in_use,
    format_test_name,
    parse_llama_bench,
)

FIXTURES = Path(__file__).parent / "fixtures" / "tool-output"


def parsed(name: str) -> dict:
    return parse_llama_bench((FIXTURES / name).read_text(encoding="utf-8"))


def test_json_readme():
    r = parsed("llama_bench_json_readme.json")
    assert r["format"] == "json" and r["failed"] is False
    (t,) = r["tests"]
    assert t == {"test": "pp512", "n_prompt": 512, "n_gen": 0, "n_depth": 0,
                 "tokens_per_s": 7100.002165, "tokens_per_s_std": 140.34152, "backend": "CUDA",
                 "devices": "auto",
                 "model_size_bytes": 4677120000, "model_params": 7615616512,
                 "samples_ns": [74601900, 71632900, 71745200, 71952700, 70745500],
                 "samples_ts": [6863.1, 7147.55, 7136.37, 7115.79, 7237.21], "n_threads": 8,
                 "n_gpu_layers": -1, "model_type": "qwen2 7B Q4_K - Medium",
                 "build_commit": "8cf427ff", "build_number": 5163}


def test_snapdragon_htp_markdown():
    r = parsed("llama_bench_snapdragon_htp_md.txt")
    assert r["format"] == "md"
    pp, tg = r["tests"]
    assert (pp["test"], pp["n_prompt"], pp["n_gen"]) == ("pp128", 128, 0)
    assert (pp["tokens_per_s"], pp["tokens_per_s_std"]) == (169.42, 1.75)
    assert (tg["test"], tg["n_prompt"], tg["n_gen"]) == ("tg64", 0, 64)
    assert (tg["tokens_per_s"], tg["tokens_per_s_std"]) == (51.54, 1.13)
    for t in (pp, tg):
        assert t["backend"] == "HTP" and t["model_type"] == "llama 1B Q4_0"
        assert t["model_size_bytes"] == round(729.75 * 2**20)
        assert t["model_params"] == 1_240_000_000
        assert (t["n_gpu_layers"], t["n_threads"]) == (99, 4)
        assert (t["build_commit"], t["build_number"]) == ("6a8cf8914", 6733)
        assert t["samples_ns"] is None and t["samples_ts"] is None
        assert set(t) == set(KEYS)


def test_jsonl_with_a_log_line_mixed_in():
    r = parsed("synthetic_llama_bench.jsonl")
    assert r["format"] == "jsonl"
    assert [t["test"] for t in r["tests"]] == ["pp128", "tg64", "pp128+tg64 @ d512"]
    assert r["tests"][1]["samples_ts"] == [52.03, 52.37, 50.27]
    assert r["tests"][2]["n_depth"] == 512
    assert r["tests"][0]["samples_ns"] == [748000000, 752000000, 766000000]


def test_csv_quoted_values():
    r = parsed("synthetic_llama_bench.csv")
    assert r["format"] == "csv"
    pp, tg = r["tests"]
    assert (pp["test"], pp["tokens_per_s"], pp["tokens_per_s_std"]) == ("pp512", 7285.676949,
                                                                        100.064434)
    assert (tg["test"], tg["tokens_per_s"], tg["n_gen"]) == ("tg128", 119.915244, 128)
    assert (pp["model_size_bytes"], pp["model_params"], pp["n_gpu_layers"]) == (
        4677120000, 7615616512, -1)
    assert pp["build_number"] == 5163 and pp["samples_ns"] is None


def test_old_markdown_pp_space_512():
    r = parsed("synthetic_llama_bench_old_md.txt")
    assert [(t["test"], t["tokens_per_s"], t["tokens_per_s_std"]) for t in r["tests"]] == [
        ("pp512", 2368.8, 93.24), ("tg128", 131.42, 0.59)]
    assert r["tests"][0]["model_size_bytes"] == round(3.56 * 2**30)
    assert r["tests"][0]["model_params"] == 6_740_000_000
    assert r["tests"][0]["build_commit"] == "8e672efe"


def test_markdown_pg_and_depth():
    r = parsed("synthetic_llama_bench_depth_md.txt")
    got = [(t["test"], t["n_prompt"], t["n_gen"], t["n_depth"]) for t in r["tests"]]
    assert got == [("pp512", 512, 0, 0), ("pp512+tg128", 512, 128, 0),
                   ("tg128 @ d512", 0, 128, 512)]


def test_load_failure():
    r = parsed("synthetic_llama_bench_failed.txt")
    assert r["failed"] is True and "failed to load model" in r["error"]
    assert "tests" not in r


def test_json_array_after_log_lines_and_old_backend_flags():
    record = {"build_commit": "abc", "cuda": False, "metal": True, "n_prompt": 0, "n_gen": 16,
              "avg_ts": 12.5, "stddev_ts": 0.1}
    text = "load_backend: loaded CPU backend\n[build] ok\n" + json.dumps([record], indent=2)
    (t,) = parse_llama_bench(text)["tests"]
    assert (t["test"], t["backend"], t["tokens_per_s"]) == ("tg16", "METAL", 12.5)


@pytest.mark.parametrize("cell, mean, std", [
    ("169.42 ± 1.75", 169.42, 1.75),
    ("169.42 Â± 1.75", 169.42, 1.75),
    ("169.42 +/- 1.75", 169.42, 1.75),
    ("169.42", 169.42, None),
])
def test_markdown_ts_cell(cell, mean, std):
    text = f"| model | test | t/s |\n| --- | ---: | ---: |\n| m | tg128 | {cell} |\n"
    (t,) = parse_llama_bench(text)["tests"]
    assert (t["tokens_per_s"], t["tokens_per_s_std"]) == (mean, std)


def test_format_test_name():
    assert format_test_name(512, 0) == "pp512"
    assert format_test_name(0, 128) == "tg128"
    assert format_test_name(512, 128) == "pp512+tg128"
    assert format_test_name(512, 0, 1024) == "pp512 @ d1024"
    assert format_test_name(0, 0) is None


def test_empty_and_unrelated_text():
    assert parse_llama_bench("") == {}
    assert parse_llama_bench("[1, 2, 3]\n{\"a\": 1}\n| a | b |\n") == {}


# --- the devices a test ran on (llama-bench's ``devices`` field) -------------------------------

def snapdragon_jsonl(**fields) -> str:
    """The first line of the JSONL fixture, as a Snapdragon build (OpenCL and Hexagon
    backends) prints it, with ``fields`` changed."""
    line = (FIXTURES / "synthetic_llama_bench.jsonl").read_text().splitlines()[1]
    return json.dumps({**json.loads(line), "backends": "OpenCL,HTP", **fields}) + "\n"


@pytest.mark.parametrize("fields, devices, source", [
    ({"devices": "HTP0"}, ["HTP0"], "devices"),
    ({"devices": "HTP0/GPUOpenCL"}, ["HTP0", "GPUOpenCL"], "devices"),
    ({"devices": "none", "n_gpu_layers": 0}, [], "devices"),
    ({"devices": "HTP0", "n_gpu_layers": 0}, [], "devices"),  # -ngl 0 offloads nothing
    ({"devices": "auto"}, None, "backends"),  # llama.cpp chose: only `backends` is left
    ({}, None, "backends"),  # a build older than the field
])
def test_devices_in_use(fields, devices, source):
    (t,) = parse_llama_bench(snapdragon_jsonl(**fields))["tests"]
    assert t["backend"] == "OpenCL,HTP"  # the build's list, whatever ran
    assert t["devices"] == fields.get("devices")
    assert devices_in_use(t) == (devices, source)


def test_devices_from_the_markdown_dev_column():
    text = ("| model | size | params | backend | ngl | dev | test | t/s |\n"
            "| --- | ---: | ---: | --- | --: | --- | ---: | ---: |\n"
            "| llama 1B Q4_0 | 729.75 MiB | 1.24 B | OpenCL,HTP | 99 | HTP0 | tg64 | "
            "51.54 ± 1.13 |\n")
    (t,) = parse_llama_bench(text)["tests"]
    assert (t["devices"], t["n_gpu_layers"]) == ("HTP0", 99)
    assert devices_in_use(t) == (["HTP0"], "devices")
    (old,) = parsed("llama_bench_snapdragon_htp_md.txt")["tests"][:1]
    assert old["devices"] is None and devices_in_use(old) == (None, "backends")


# --- a Markdown table pasted without its header row ---------------------------------------------

def without_header(name: str) -> str:
    """A fixture's Markdown table with its header and separator lines removed."""
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines(keepends=True)
    table = [i for i, line in enumerate(lines) if line.startswith("|")]
    return "".join(line for i, line in enumerate(lines) if i not in table[:2])


def test_headerless_default_table_of_a_gpu_build():
    text = without_header("synthetic_llama_bench_old_md.txt")  # the README's sample table
    assert "t/s" not in text
    r = parse_llama_bench(text)
    assert r["columns_assumed"] == ["model", "size", "params", "backend", "ngl", "test", "t/s"]
    assert [(t["test"], t["tokens_per_s"], t["tokens_per_s_std"], t["n_gpu_layers"])
            for t in r["tests"]] == [("pp512", 2368.8, 93.24, 99), ("tg128", 131.42, 0.59, 99)]
    (with_header,) = [parsed("synthetic_llama_bench_old_md.txt")]
    assert r["tests"] == with_header["tests"] and "columns_assumed" not in with_header


def test_headerless_default_table_of_a_cpu_build():
    r = parse_llama_bench(without_header("llama_bench_readme_threads_md.txt"))
    assert r["columns_assumed"][4] == "threads"
    assert [(t["test"], t["n_threads"], t["n_gpu_layers"]) for t in r["tests"][:3]] == [
        ("pp64", 1, None), ("tg16", 1, None), ("pp64", 2, None)]
    assert r["tests"][-1]["tokens_per_s"] == 16.41
    assert r["tests"] == parsed("llama_bench_readme_threads_md.txt")["tests"]


def test_headerless_table_after_log_lines_with_depth_tests():
    r = parse_llama_bench(without_header("synthetic_llama_bench_depth_md.txt"))
    assert [t["test"] for t in r["tests"]] == ["pp512", "pp512+tg128", "tg128 @ d512"]
    assert r["tests"][0]["build_commit"] == "8cf427ff"


def test_headerless_table_with_other_columns_is_not_read():
    """The Snapdragon table has ngl, threads, n_batch and mmap between backend and test: ten
    columns, not a default set, so nothing says which number is which."""
    text = without_header("llama_bench_snapdragon_htp_md.txt")
    assert text.count("|") == 2 * 11 and parse_llama_bench(text) == {}


@pytest.mark.parametrize("row", [
    "| a | b | c | d | e | f | g |",  # seven columns, but not llama-bench's cells
    "| llama 7B | 3.56 GiB | 6.74 B | CUDA | 99 | warmup | 131.42 ± 0.59 |",  # no such test
    "| llama 7B | big | 6.74 B | CUDA | 99 | tg128 | 131.42 ± 0.59 |",
])
def test_headerless_rows_that_do_not_read_as_llama_bench(row):
    assert parse_llama_bench(row + "\n") == {}
