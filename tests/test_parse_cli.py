"""``npubench parse``: the command body, the tool registry, and the parsers' promise never to
raise on odd text."""

import argparse
import io
import json
import random
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from npubench.errors import ConfigError
from npubench.harness.parsers import PARSERS, parse
from npubench.harness.parsers.cli import cmd_parse, summary

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "tool-output"
XNNPACK = FIXTURES / "tflite_modern_x86_xnnpack_summary.txt"


def tool_of(path: Path) -> str:
    if path.name.startswith(("tflite", "synthetic_tflite")):
        return "benchmark_model"
    if "ort_" in path.name:
        return "onnxruntime_perf_test"
    return "llama-bench"


FIXTURE_FILES = sorted(p for p in FIXTURES.iterdir()
                       if p.name != "SOURCES.md" and not p.name.startswith("qnn_"))


def run(tool, file, as_json, capsys) -> str:
    assert cmd_parse(argparse.Namespace(tool=tool, file=str(file), json=as_json)) == 0
    return capsys.readouterr().out


def test_json_output(capsys):
    out = json.loads(run("benchmark_model", XNNPACK, True, capsys))
    assert out["latency_ms"]["mean"] == 14.2909 and out["init_ms"] == 52.687


def test_json_is_indented_by_one(capsys):
    assert '\n "init_ms": 52.687' in run("benchmark_model", XNNPACK, True, capsys)


def test_human_summary(capsys):
    out = run("benchmark_model", XNNPACK, False, capsys)
    assert out.splitlines()[0] == "benchmark_model: ok"
    assert "latency: mean 14.2909 ms over n=70" in out
    assert "init 52.687 ms" in out


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_every_fixture_summarises(path, capsys):
    out = run(tool_of(path), path, False, capsys)
    assert out.startswith(tool_of(path))
    assert "nothing recognised" not in out


def test_failed_run_summary(capsys):
    out = run("benchmark_model", FIXTURES / "tflite_v2.4_android_nnapi_qti-dsp_failure.txt",
              False, capsys)
    assert "FAILED" in out and "error: NN API returned error" in out
    assert "delegation: NNAPI failed" in out


def test_llama_summary(capsys):
    out = run("llama-bench", FIXTURES / "llama_bench_snapdragon_htp_md.txt", False, capsys)
    assert "pp128  169.42 ± 1.75 t/s  HTP" in out


def test_headerless_llama_table(tmp_path, capsys):
    table = (FIXTURES / "synthetic_llama_bench_old_md.txt").read_text().splitlines()[2:]
    body = tmp_path / "pasted.md"
    body.write_text("\n".join(table) + "\n")
    out = run("llama-bench", body, False, capsys)
    assert "header row missing: columns read as llama-bench's default set (model | size | " \
        "params | backend | ngl | test | t/s)" in out
    assert "pp512  2368.8 ± 93.24 t/s  CUDA" in out
    snapdragon = (FIXTURES / "llama_bench_snapdragon_htp_md.txt").read_text().splitlines()[2:]
    body.write_text("\n".join(snapdragon) + "\n")
    assert run("llama-bench", body, False, capsys).strip() == "llama-bench: nothing recognised"


def test_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Runs:3\n"))
    out = json.loads(run("onnxruntime_perf_test", "-", True, capsys))
    assert out["latency_ms"]["n"] == 3


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(ConfigError, match="nope.txt"):
        cmd_parse(argparse.Namespace(tool="benchmark_model", file=str(missing), json=False))


def test_unknown_tool_lists_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        parse("tflite", "")
    for name in PARSERS:
        assert name in str(info.value)


def test_registry_and_aliases():
    assert set(PARSERS) == {"benchmark_model", "onnxruntime_perf_test", "llama-bench"}
    assert parse("ort_perf_test", "Runs:1") == parse("onnxruntime_perf_test", "Runs:1")


def test_nothing_recognised(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert run("llama-bench", empty, False, capsys).strip() == "llama-bench: nothing recognised"
    assert summary("benchmark_model", {}) == "benchmark_model: nothing recognised"


# The parsers' promise: odd text never raises, and text that is not tool output gives {}.

ALPHABET = string.ascii_letters + string.digits + " \t\n|,.:;[](){}<>-+=_/\\#%'\"±"


@pytest.mark.parametrize("tool", sorted(PARSERS))
def test_garbage_gives_an_empty_dict(tool):
    rng = random.Random(1234)
    for _ in range(300):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 200)))
        if any(w in text.lower() for w in ("error", "fail", "could not", "cannot", "unable")):
            continue
        assert parse(tool, text) == {}, text


@pytest.mark.parametrize("tool", sorted(PARSERS))
def test_mangled_fixtures_never_raise(tool):
    """Every fixture, cut, shuffled and with characters dropped, through every parser."""
    rng = random.Random(99)
    texts = [p.read_text(encoding="utf-8") for p in FIXTURE_FILES]
    for _ in range(120):
        text = rng.choice(texts)
        lines = text.splitlines()
        rng.shuffle(lines) if rng.random() < 0.3 else None
        mangled = "\n".join(lines)[: rng.randint(0, len(text))]
        if rng.random() < 0.5:
            mangled = "".join(c for c in mangled if rng.random() > 0.05)
        result = parse(tool, mangled)
        assert isinstance(result, dict)
        assert result == {} or isinstance(result["failed"], bool)


HOSTILE_NUMBERS = ["9" * 5000, "1e999", "-1e999", "1e-999", "0", "-0.0", "nan", "inf"]


@pytest.mark.parametrize("tool", sorted(PARSERS))
def test_hostile_numbers_never_raise(tool):
    """Digit runs past int()'s limit and floats that overflow to inf, in every number slot."""
    templates = [p.read_text(encoding="utf-8") for p in FIXTURE_FILES]
    number = re.compile(r"(?<![A-Za-z])\d+(?:\.\d+)?")
    for text in templates:
        for value in HOSTILE_NUMBERS:
            result = parse(tool, number.sub(value, text))
            assert result == {} or isinstance(result["failed"], bool)


def _parse_is_wired() -> bool:
    help_text = subprocess.run([sys.executable, "-m", "npubench", "--help"], cwd=ROOT,
                               capture_output=True, text=True, timeout=60).stdout
    return any(line.split()[:1] == ["parse"] for line in help_text.splitlines())


@pytest.mark.skipif(not _parse_is_wired(), reason="`npubench parse` is not wired in harness.cli")
def test_npubench_parse_subprocess():
    proc = subprocess.run([sys.executable, "-m", "npubench", "parse", "benchmark_model",
                           str(XNNPACK), "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["latency_ms"] == {"n": 70, "mean": 14.2909, "std": 0.452, "min": 13.728,
                                 "max": 16.145}
