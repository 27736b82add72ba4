"""devices/sim/tools/llama_bench.py: the simulated phone's llama-bench, run on generated GGUF
files through ``Userland.run`` (and once through the real ADB path): its flags, its four output
formats as the harness parses them, its statistics, the devices of each SoC profile, the errors
llama.cpp prints, /proc/<pid>/status, faults and the physics."""

from __future__ import annotations

import csv
import json
import math
import re
import shlex
from pathlib import Path

import pytest
from sim_tool_process import running_pid, wait_for

from npubench.devices.sim.tools import llama_bench as lb
from npubench.devices.sim.tools import stub_binary
from npubench.devices.sim.userland import Userland
from npubench.harness.parsers.llama_bench import parse_llama_bench
from npubench.workloads.llm_config import DecoderConfig

T = "/data/local/tmp/npubench"
CONFIG = DecoderConfig(layers=2, hidden=64, heads=4, kv_heads=2, intermediate=128, vocab=300,
                       context=1024)
FIXTURE = Path("/work/shared/fixtures/tool-output/llama_bench_json_readme.json")
FIXTURE_KEYS = list(lb.FIELDS) + ["samples_ns", "samples_ts"]  # checked against the file below


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """GGUF files (int4 and int8) and a cache for the generated decoders, for the module."""
    from npubench.workloads.gguf_files import write_gguf

    folder = tmp_path_factory.mktemp("llama-bench")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NPUBENCH_CACHE", str(folder / "cache"))
        mp.delenv("NPUBENCH_MEMORY_AVAILABLE_MB", raising=False)
        files = {}
        for precision in ("int4", "int8"):
            files[precision] = folder / f"tiny-{precision}.gguf"
            write_gguf(files[precision], CONFIG, precision, seed=0)
        yield files


def put(phone: Userland, path: str, data: bytes, mode: int = 0o644) -> None:
    with phone.fs.open_write(path, mode) as fh:
        fh.write(data)


def make_phone(profile: str, models: dict[str, Path]) -> Userland:
    phone = Userland(profile)
    phone.run(f"mkdir -p {T}")
    put(phone, f"{T}/llama-bench", stub_binary("llama-bench"), 0o755)
    put(phone, f"{T}/tiny.gguf", models["int4"].read_bytes())
    put(phone, f"{T}/tiny-q8.gguf", models["int8"].read_bytes())
    put(phone, f"{T}/not-a-model.gguf", b"TFL3" + bytes(60))
    return phone


@pytest.fixture(scope="module")
def sm8650(models):
    phone = make_phone("sm8650", models)
    yield phone
    phone.close()


@pytest.fixture(scope="module")
def mt6989(models):
    phone = make_phone("mt6989", models)
    yield phone
    phone.close()


def line(*args: str) -> str:
    """How the harness starts a tool: its pid goes to a file, exec keeps it."""
    inner = "echo $$ > tool.pid; exec ./llama-bench " + " ".join(shlex.quote(a) for a in args)
    return f"cd {T} && sh -c {shlex.quote(inner)}"


def bench(phone: Userland, *args: str) -> tuple[str, str, int]:
    out, err, code = phone.run(line(*args), timeout_s=60)
    return out.decode(), err.decode(), code


QUICK = ("-m", "tiny.gguf", "-p", "32", "-n", "8", "-r", "3", "-ngl", "0")


# --- the JSON answer ---------------------------------------------------------------------------

def test_fields_are_those_of_the_readme_sample_in_order():
    sample = json.loads(FIXTURE.read_text())[0]
    assert list(sample) == FIXTURE_KEYS


def test_json_parses_into_pp_and_tg_with_consistent_statistics(sm8650, models):
    from npubench.workloads.gguf_files import read_gguf

    out, err, code = bench(sm8650, *QUICK, "-t", "2", "-o", "json")
    assert code == 0, err
    assert err == ""  # llama.cpp's log is silent without -v
    raw = json.loads(out)
    assert [list(r) for r in raw] == [FIXTURE_KEYS, FIXTURE_KEYS]
    parsed = parse_llama_bench(out)
    assert parsed["format"] == "json" and parsed["failed"] is False
    pp, tg = parsed["tests"]
    assert (pp["test"], pp["n_prompt"], pp["n_gen"]) == ("pp32", 32, 0)
    assert (tg["test"], tg["n_prompt"], tg["n_gen"]) == ("tg8", 0, 8)
    info = read_gguf(models["int4"])
    for test, rec in zip((pp, tg), raw, strict=True):
        n = test["n_prompt"] + test["n_gen"]
        assert len(test["samples_ns"]) == len(test["samples_ts"]) == 3
        assert all(t > 0 for t in test["samples_ns"])
        rates = [1e9 * n / t for t in test["samples_ns"]]
        assert test["samples_ts"] == pytest.approx(rates, rel=1e-5)  # printed with %g
        assert test["tokens_per_s"] == pytest.approx(sum(rates) / 3, rel=1e-6)
        mean = sum(rates) / 3
        std = math.sqrt(sum((r - mean) ** 2 for r in rates) / 2)
        assert test["tokens_per_s_std"] == pytest.approx(std, rel=1e-4, abs=1e-3)
        assert rec["avg_ns"] == sum(test["samples_ns"]) // 3
        assert (test["backend"], test["n_threads"], test["n_gpu_layers"]) == ("CPU", 2, 0)
        assert test["model_size_bytes"] == models["int4"].stat().st_size
        assert test["model_params"] == info.params > 0
        assert test["model_type"] == f"llama {round(info.params / 1e3)}K Q4_0"
        assert rec["model_filename"] == "tiny.gguf" and rec["devices"] == "auto"
        assert rec["use_mmap"] is True and rec["cpu_strict"] is False
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["test_time"])
        assert rec["cpu_info"].startswith("Qualcomm Snapdragon 8 Gen 3")
        assert rec["gpu_info"] == "QUALCOMM Adreno(TM) 750, Hexagon"
    assert out.startswith("[\n  {\n    \"build_commit\": \"6a8cf8914\",\n")
    assert out.endswith("  }\n]\n")


def test_default_tests_are_pp512_and_tg128(sm8650):
    out, err, code = bench(sm8650, "-m", "tiny.gguf", "-r", "1", "-o", "jsonl", "--no-warmup")
    assert code == 0, err
    tests = parse_llama_bench(out)["tests"]
    assert [t["test"] for t in tests] == ["pp512", "tg128"]
    assert out.count("\n") == 2 and all(json.loads(row) for row in out.splitlines())


@pytest.mark.parametrize("args, names", [
    (("-p", "0", "-n", "8"), ["tg8"]),
    (("-p", "16", "-n", "0"), ["pp16"]),
    (("-p", "16,24", "-n", "0", "-pg", "8,4"), ["pp16", "pp24", "pp8+tg4"]),
    (("-p", "8-24+8", "-n", "4", "-d", "0,16"),
     ["pp8", "pp16", "pp24", "tg4", "pp8 @ d16", "pp16 @ d16", "pp24 @ d16", "tg4 @ d16"]),
])
def test_each_combination_is_one_test(sm8650, args, names):
    out, err, code = bench(sm8650, "-m", "tiny.gguf", "-r", "2", *args, "-o", "json")
    assert code == 0, err
    tests = parse_llama_bench(out)["tests"]
    assert [t["test"] for t in tests] == names
    assert all(len(t["samples_ns"]) == 2 and t["tokens_per_s"] > 0 for t in tests)


def test_formats_md_csv_jsonl_parse(sm8650):
    expected = [("pp32", 32, 0), ("tg8", 0, 8)]
    for fmt in ("md", "csv", "jsonl"):
        out, err, code = bench(sm8650, *QUICK, "-o", fmt)
        assert code == 0, (fmt, err)
        parsed = parse_llama_bench(out)
        assert parsed["format"] == fmt
        assert [(t["test"], t["n_prompt"], t["n_gen"]) for t in parsed["tests"]] == expected
        assert all(t["tokens_per_s"] > 0 and t["backend"] == "CPU" for t in parsed["tests"])
    md = bench(sm8650, *QUICK)[0]  # md is the default
    rows = md.splitlines()
    assert rows[0].startswith("| model ") and rows[0].endswith(" test |                  t/s |")
    assert re.search(r"\| +\d+\.\d\d ± \d+\.\d\d \|$", rows[2])
    assert md.endswith("\n\nbuild: 6a8cf8914 (6733)\n")
    rows = bench(sm8650, *QUICK, "-o", "csv")[0].splitlines()
    assert rows[0].split(",") == list(lb.FIELDS)
    cells = next(csv.reader([rows[1]]))
    assert len(cells) == len(lb.FIELDS) and rows[1] == ",".join(f'"{c}"' for c in cells)
    values = dict(zip(lb.FIELDS, cells, strict=True))
    assert [values[f] for f in ("use_mmap", "use_direct_io", "cpu_strict", "repack")] == \
        ["1", "0", "0", "1"]  # booleans as 0/1


def test_output_err_prints_a_second_format_on_stderr(sm8650):
    out, err, code = bench(sm8650, *QUICK, "-o", "none", "-oe", "jsonl")
    assert code == 0 and out == ""
    assert [t["test"] for t in parse_llama_bench(err)["tests"]] == ["pp32", "tg8"]


def test_verbose_and_progress_logs_go_to_stderr(sm8650):
    out, err, code = bench(sm8650, *QUICK, "-v", "--progress")
    assert code == 0
    assert "llama_model_loader: loaded meta data with " in err
    assert "print_info: n_ctx_train      = 1024" in err
    assert "llama-bench: benchmark 1/2: warmup prompt run" in err
    assert "llama-bench: benchmark 2/2: generation run 3/3" in err
    assert "llama_model_loader" not in out


# --- devices and backends ----------------------------------------------------------------------

def test_htp_on_snapdragon_is_the_npu(sm8650, monkeypatch):
    loads = []
    real = sm8650.physics.load
    monkeypatch.setattr(sm8650.physics, "load",
                        lambda **kw: loads.append(kw) or real(**kw))
    out, err, code = bench(sm8650, "-m", "tiny.gguf", "-p", "16", "-n", "4", "-r", "2",
                           "-dev", "HTP0", "-ngl", "99", "-o", "json")
    assert code == 0, err
    raw = json.loads(out)
    assert {(r["backends"], r["devices"], r["n_gpu_layers"]) for r in raw} == {("HTP", "HTP0", 99)}
    assert loads and all(kw["npu"] == 1.0 and kw["gpu"] == 0.0 for kw in loads)
    md = bench(sm8650, "-m", "tiny.gguf", "-p", "16", "-n", "0", "-r", "1", "-dev", "HTP0")[0]
    assert parse_llama_bench(md)["tests"][0]["backend"] == "HTP"
    assert "| ngl |" in md and "| dev " in md


def test_gpu_is_opencl_on_adreno_and_absent_on_mali(sm8650, mt6989):
    for phone, backend in ((sm8650, "OpenCL"), (mt6989, "CPU")):
        out, err, code = bench(phone, "-m", "tiny.gguf", "-p", "16", "-n", "0", "-r", "1",
                               "-ngl", "99", "-o", "json")
        assert code == 0, err
        assert json.loads(out)[0]["backends"] == backend
    out = bench(sm8650, "-m", "tiny.gguf", "-p", "16", "-n", "0", "-r", "1", "-dev", "none",
                "-o", "json")[0]
    assert json.loads(out)[0]["backends"] == "CPU"
    assert bench(sm8650, "--list-devices") == (
        "Available devices:\n  GPUOpenCL: QUALCOMM Adreno(TM) 750 (10958 MiB, 10958 MiB free)\n"
        "  HTP0: Hexagon (2048 MiB, 2048 MiB free)\n", "", 0)
    assert bench(mt6989, "--list-devices") == ("Available devices:\n  (none)\n", "", 0)


def test_htp_does_not_exist_on_mediatek(mt6989):
    out, err, code = bench(mt6989, "-m", "tiny.gguf", "-dev", "HTP0")
    assert code == 1
    assert err == "error: invalid device: HTP0\nerror: invalid parameter for argument: -dev\n"
    assert out.startswith("usage: ./llama-bench [options]\n")


# --- errors ------------------------------------------------------------------------------------

def test_unknown_flag_and_bad_values(sm8650):
    out, err, code = bench(sm8650, "-m", "tiny.gguf", "--bogus")
    assert code == 1
    assert err == "error: invalid parameter for argument: --bogus\n"
    assert "  -p, --n-prompt <n>" in out and "'first-last+step'" in out
    out, err, code = bench(sm8650, "-p", "many")
    assert (code, err) == (1, "error: invalid range format\n"
                              "error: invalid parameter for argument: -p\n")
    assert bench(sm8650, "-o", "xml")[1:] == ("error: invalid parameter for argument: -o\n", 1)
    assert bench(sm8650, "-r")[1:] == ("error: invalid parameter for argument: -r\n", 1)
    assert bench(sm8650, "-h")[0].startswith("usage: ")


def test_a_file_that_is_not_gguf_fails_to_load(sm8650):
    out, err, code = bench(sm8650, "-m", "not-a-model.gguf", "-p", "16", "-n", "0", "-o", "json")
    assert code == 1
    assert err == ("gguf_init_from_file_impl: invalid magic characters: 'TFL3', expected 'GGUF'\n"
                   "llama_model_load: error loading model: llama_model_loader: failed to load "
                   "model from not-a-model.gguf\n"
                   "llama_model_load_from_file_impl: failed to load model\n"
                   "main: error: failed to load model 'not-a-model.gguf'\n")
    assert out == "[\n"  # the header, then llama-bench returns at once: no closing bracket
    assert parse_llama_bench(out + err)["failed"] is True
    err = bench(sm8650, "-m", "missing.gguf", "-p", "16", "-n", "0")[1]
    assert err.startswith("gguf_init_from_file: failed to open GGUF file 'missing.gguf'\n")


def test_a_prompt_longer_than_the_context_stops_the_tool(sm8650):
    """The simulation cannot run past the decoder's context (llama.cpp would only warn): the
    context fails to be created and llama-bench returns at once, as it does for any test."""
    out, err, code = bench(sm8650, "-m", "tiny.gguf", "-p", "2000", "-n", "8", "-r", "1",
                           "-o", "json")
    assert code == 1
    assert "n_ctx = 2000" in err and "n_ctx_train = 1024" in err
    assert "main: error: failed to create context with model 'tiny.gguf'\n" in err
    assert "tests" not in parse_llama_bench(out + err) and out == "[\n"


def test_a_model_too_large_for_memory_fails_to_allocate(sm8650, monkeypatch):
    monkeypatch.setenv("NPUBENCH_MEMORY_AVAILABLE_MB", "1")
    out, err, code = bench(sm8650, "-m", "tiny-q8.gguf", "-p", "16", "-n", "0", "-r", "1")
    assert code == 1
    assert "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer" in err
    assert "more than the 0.0 GiB this device allows" in err
    assert err.endswith("main: error: failed to load model 'tiny-q8.gguf'\n")


# --- the process: /proc, faults, physics --------------------------------------------------------

def finish(proc) -> int:
    while (event := proc.next_event(30)) is not None and event[0] != "exit":
        pass
    return event[1]


def test_proc_status_holds_weights_and_kv_cache_and_the_physics_sees_it(sm8650, models):
    phone = sm8650
    phone.run(f"rm -f {T}/tool.pid")
    idle = phone.physics.snapshot().current_a
    # long enough (300 decode steps) that the physics sees the load however busy this host is
    proc = phone.start(line("-m", "tiny.gguf", "-p", "0", "-n", "300", "-d", "700", "-r", "1",
                            "-t", "4", "-ngl", "0", "--delay", "1"), stdin=b"")
    pid = running_pid(phone)
    status = wait_for(lambda: phone.processes.get(pid) and
                      phone.processes[pid].threads == 5 and
                      phone.run(f"cat /proc/{pid}/status")[0].decode())
    assert re.search(r"^Name:\tllama-bench\n", status)
    hwm = int(re.search(r"^VmHWM:\t +(\d+) kB$", status, re.M).group(1))
    kv = CONFIG.layers * CONFIG.kv_dim * 1024 * 2 * 2  # f16 K and V, 1000 cells padded to 1024
    assert hwm >= lb.BASE_KB + (models["int4"].stat().st_size + kv) // 1024
    file_kb = int(re.search(r"^RssFile:\t +(\d+) kB$", status, re.M).group(1))
    assert file_kb == lb.BASE_FILE_KB + models["int4"].stat().st_size // 1024  # mapped
    busy = wait_for(lambda: phone.physics.snapshot().current_a > idle + 0.1 and
                    phone.physics.snapshot().current_a)
    assert busy > idle
    assert finish(proc) == 0
    assert phone.run(f"cat /proc/{pid}/status")[2] == 1  # gone with the process


def test_hang_and_crash_faults(sm8650):
    phone = sm8650
    phone.run(f"rm -f {T}/tool.pid")
    phone.tool_faults.hang = True
    try:
        proc = phone.start(line(*QUICK), stdin=b"")
        pid = running_pid(phone)
        assert phone.run(f"kill {pid}") == (b"", b"", 0)
        assert finish(proc) == 143
    finally:
        phone.tool_faults.hang = False
    phone.tool_faults.crash = True
    try:
        out, err, code = bench(phone, *QUICK)
    finally:
        phone.tool_faults.crash = False
    assert code == 139 and err.endswith("Segmentation fault \n")
    assert out.startswith("| model ") and "pp32" not in out


# --- through the real ADB path ------------------------------------------------------------------

def test_runs_over_adb_on_a_simulated_phone(android, models, tmp_path):
    device = android("sm8650")
    tool = tmp_path / "llama-bench"
    tool.write_bytes(stub_binary("llama-bench"))
    folder = "/data/local/tmp/npubench-llm"
    device.push(tool, f"{folder}/llama-bench", mode=0o755)
    device.push(models["int4"], f"{folder}/m.gguf")
    result = device.run(f"cd {folder} && ./llama-bench -m m.gguf -p 16 -n 4 -r 2 "
                        "-dev HTP0 -o json", split_stderr=True)
    tests = parse_llama_bench(result.stdout.decode())["tests"]
    assert [(t["test"], t["backend"], len(t["samples_ns"])) for t in tests] == \
        [("pp16", "HTP", 2), ("tg4", "HTP", 2)]


# --- pure parts ---------------------------------------------------------------------------------

def test_int_ranges_and_statistics_as_llama_bench():
    assert lb.parse_int_range("128,512") == [128, 512]
    assert lb.parse_int_range("1-5+2,8") == [1, 3, 5, 8]
    assert lb.parse_int_range("1-8*2") == [1, 2, 4, 8]
    assert lb.parse_int_range("-1", allow_negative=True) == [-1]
    for bad in ("x", "1-", "-1", "4-8*1"):
        with pytest.raises(ValueError):
            lb.parse_int_range(bad)
    samples = [74601900, 71632900, 71745200, 71952700, 70745500]  # the README sample
    assert lb.avg_ns(samples) == 72135640
    assert abs(lb.stdev_ns(samples) - 1453752) <= 1
    rates = [1e9 * 512 / s for s in samples]
    assert lb.avg_f(rates) == pytest.approx(7100.002165, abs=1e-5)
    assert lb.stdev_f(rates) == pytest.approx(140.341520, abs=1e-5)
