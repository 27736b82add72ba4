"""The npubench command as a user runs it: real models, real runtimes, a real run folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from npubench.results import read_records, read_run_info

FAST = ["--set", "min_seconds=0.2", "--set", "max_seconds=0.6", "--set", "warmup_iterations=3"]


def npubench(*args: str, env: dict | None = None, timeout: float = 300):
    return subprocess.run([sys.executable, "-m", "npubench", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_help_imports_no_heavy_library(tmp_path):
    probe = ("import sys\nfrom npubench.harness.cli import main\ntry:\n    main(['--help'])\n"
             "except SystemExit:\n    pass\n"
             "heavy = ['numpy', 'scipy', 'pandas', 'matplotlib', 'onnxruntime', 'onnx',\n"
             "         'ai_edge_litert', 'tflite_runtime', 'rich', 'yaml']\n"
             "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout  # the installed package, not ./harness
    assert out.strip().splitlines()[-1] == "[]"


def test_help_lists_commands_and_exit_codes():
    result = npubench("--help")
    assert result.returncode == 0
    for word in ("devices", "workloads", "run", "report", "export", "130"):
        assert word in result.stdout


def test_devices_json():
    result = npubench("devices", "--json")
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    host = items[0]
    assert {"id", "kind", "model", "soc", "simulated"} <= set(host)
    assert host["kind"] == "host" and host["simulated"] is False
    assert host["cpu_cores"] == os.cpu_count()


def test_workloads_json():
    items = json.loads(npubench("workloads", "--json").stdout)
    by_name = {w["name"]: w for w in items}
    for field in ("name", "task", "format", "precision", "source", "license", "sha256"):
        assert field in by_name["face_detection_short_range"]
    assert by_name["mobilenet_v2_synth"]["synthetic"] is True
    assert by_name["okay_nabu"]["synthetic"] is False


@pytest.mark.network
def test_run_writes_results_report_and_pytest_benchmark_json(tmp_path):
    out, bench = tmp_path / "run", tmp_path / "bench.json"
    result = npubench("run", "--workload", "okay_nabu", "--workload", "silero_vad",
                      "--backend", "tflite:cpu", "--backend", "tflite:xnnpack",
                      "--backend", "ort:cpu", "--backend", "ort:cuda", *FAST,
                      "--out", str(out), "--benchmark-json", str(bench))
    assert result.returncode == 0, result.stdout + result.stderr
    records = read_records(out)
    status = {r["job_id"].split("?")[0]: r["status"] for r in records}
    assert status == {"okay_nabu@tflite:cpu": "ok", "okay_nabu@tflite:xnnpack": "ok",
                      "silero_vad@ort:cpu": "ok", "silero_vad@ort:cuda": "skipped"}
    for r in records:
        assert r["schema_version"] == 1 and r["run_id"] == records[0]["run_id"]
        if r["status"] == "ok":
            samples = json.loads((out / r["samples_path"]).read_text())
            assert len(samples["latency_ms"]) == r["latency_ms"]["n"]
            lat = r["latency_ms"]
            assert lat["min"] <= lat["ci95_low"] <= lat["median"] <= lat["ci95_high"]
            assert r["memory_peak_mb"] > 0 and r["init_ms"] > 0
            assert r["power"] is None and r["power_missing_reason"]
    skipped = next(r for r in records if r["status"] == "skipped")
    assert "CUDAExecutionProvider" in skipped["error"]["message"]
    assert "log_path" not in skipped  # it ran nothing and wrote no log
    assert all((out / r["log_path"]).is_file() for r in records if r["status"] == "ok")
    assert (out / "report.html").stat().st_size > 1000
    assert read_run_info(out)["interrupted"] is False
    compare = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(bench)],
                             capture_output=True, text=True)
    assert compare.returncode == 0, compare.stderr
    assert "okay_nabu@tflite:xnnpack" in compare.stdout


@pytest.mark.network
def test_bad_models_fail_and_the_run_goes_on(tmp_path):
    from npubench.workloads.registry import resolve

    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(os.urandom(4096))
    real = resolve("face_detection_short_range").path().read_bytes()
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(real[: len(real) // 3])
    nasty = tmp_path / "a b;rm -rf x'.tflite"
    nasty.write_bytes(resolve("okay_nabu").path().read_bytes())
    out = tmp_path / "run"
    result = npubench("run", "--workload", str(tmp_path / "missing.onnx"),
                      "--workload", str(garbage), "--workload", str(truncated),
                      "--workload", "face_landmark_with_attention", "--workload", str(nasty),
                      "--backend", "tflite:xnnpack", *FAST, "--out", str(out))
    assert result.returncode == 4, result.stdout + result.stderr
    records = {r["workload"]["name"]: r for r in read_records(out)}
    assert records["missing"]["error"]["message"].startswith("model file not found")
    assert "not a valid TFLite model" in records["garbage"]["error"]["message"]
    assert "not a valid TFLite model" in records["truncated"]["error"]["message"]
    unsupported = records["face_landmark_with_attention"]
    assert unsupported["status"] == "failed"
    assert "custom op" in unsupported["error"]["message"]
    assert records["a b;rm -rf x'"]["status"] == "ok"
    assert nasty.exists()
    assert (out / "report.html").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--backend", "tflite:warp9"], ["unknown backend", "tflite:xnnpack", "ort:cpu"]),
        (["--workload", "okay_nab"], ["unknown workload", "did you mean okay_nabu"]),
        (["--suite", "no_such_suite"], ["unknown suite", "quick"]),
        (["--set", "max_secs=3"], ["unknown field 'max_secs'"]),
        # argparse's own errors: exit 1 as the README says, not argparse's 2 (a regression)
        (["--bogus"], ["unrecognized arguments: --bogus", "usage: npubench"]),
        (["--threads", "many"], ["--threads", "invalid int value", "usage: npubench run"]),
    ],
)
def test_usage_errors_exit_1_and_say_what_is_valid(tmp_path, args, words):
    result = npubench("run", *args, "--out", str(tmp_path / "run"))
    assert result.returncode == 1
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.stderr


def test_suite_with_a_wrong_field(tmp_path):
    suite = tmp_path / "bad.yaml"
    suite.write_text("name: bad\nworkloads: [okay_nabu]\nbackend: [ort:cpu]\n")
    result = npubench("run", "--suite", str(suite), "--out", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "unknown field 'backend'" in result.stderr


def test_no_network_and_nothing_cached_is_a_clear_infrastructure_failure(tmp_path):
    env = dict(os.environ, NPUBENCH_CACHE=str(tmp_path / "cache"),
               https_proxy="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    env.pop("NPUBENCH_WHEELHOUSE", None)
    out = tmp_path / "run"
    result = npubench("run", "--workload", "okay_nabu", "--workload", "mobilenet_v2_synth",
                      "--backend", "tflite:xnnpack", "--backend", "ort:cpu", *FAST,
                      "--out", str(out), env=env)
    records = {r["workload"]["name"]: r for r in read_records(out)}
    error = records["okay_nabu"]["error"]
    assert error["kind"] == "fetch" and error["infrastructure"]
    assert "offline" in error["message"] and "NPUBENCH_WHEELHOUSE" in error["message"]
    assert records["mobilenet_v2_synth"]["status"] == "ok"  # generated here, no network
    assert result.returncode == 3
    assert not list((tmp_path / "cache").rglob("*.tflite"))


@pytest.mark.network
def test_ctrl_c_keeps_what_was_measured_and_report_works(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "npubench", "run", "--workload", "okay_nabu",
         "--workload", "face_detection_short_range", "--workload", "face_landmark",
         "--backend", "tflite:cpu", "--backend", "tflite:xnnpack",
         "--set", "min_seconds=1", "--set", "max_seconds=2", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if results.exists() and results.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    records = read_records(out)
    assert 2 <= len(records) < 6
    assert all(r["status"] == "ok" for r in records)
    assert read_run_info(out)["interrupted"] is True
    report = npubench("report", str(out))
    assert report.returncode == 0, report.stderr
    assert "nterrupted" in (out / "report.html").read_text()


def test_report_of_a_folder_without_results(tmp_path):
    result = npubench("report", str(tmp_path))
    assert result.returncode == 1
    assert "no results" in result.stderr


def test_the_terminal_summary_prints_a_workload_name_as_it_is():
    """Rich markup in a name (a user's file called ``a[bold]b.onnx``) is not interpreted."""
    from rich.console import Console

    from npubench.harness.commands import _print_summary

    console = Console(record=True, width=200)
    _print_summary(console, [{"workload": {"name": "a[bold]b[/]"}, "status": "failed",
                              "backend": {"spec": "ort:cpu[red]"}}])
    text = console.export_text()
    assert "a[bold]b[/]" in text and "ort:cpu[red]" in text


def test_a_simulated_phone_beyond_loopback_is_warned_about(monkeypatch, capsys):
    from argparse import Namespace

    from npubench.devices import simulator
    from npubench.harness import commands

    assert commands._loopback("127.0.0.1") and commands._loopback("localhost")
    assert not commands._loopback("0.0.0.0") and not commands._loopback("::")

    class Stub:  # the server, never started: the test opens no port beyond 127.0.0.1
        address = ("0.0.0.0", 5555)

        def describe(self):
            return "stub"

        def wait(self):
            raise KeyboardInterrupt

        def stop(self):
            pass

    monkeypatch.setattr(simulator, "serve", lambda *a, **k: Stub())
    args = Namespace(profile="sm8650", host="0.0.0.0", port=5555, auth=False)
    assert commands.cmd_sim(args) == 0
    assert "warning: the simulated phone listens on 0.0.0.0" in capsys.readouterr().err
    commands.cmd_sim(Namespace(profile="sm8650", host="127.0.0.1", port=5555, auth=False))
    assert "warning" not in capsys.readouterr().err


def test_the_terminal_line_shows_a_cpu_fallback_as_the_report_does():
    from npubench.harness.commands import _one_line

    record = {"job_id": "m@tflite:qnn-htp", "status": "ok", "validity": "valid",
              "latency_ms": {"median": 2.5, "n": 30},
              "delegation": {"delegate": "QNN HTP", "status": "partial", "nodes_delegated": 42,
                             "nodes_total": 61, "fallback": True}}
    assert "CPU fallback[/] (partial 42/61 on QNN HTP)" in _one_line(record)
    record["delegation"] = {**record["delegation"], "status": "full", "nodes_delegated": 61,
                            "fallback": False}
    assert "fallback" not in _one_line(record)
