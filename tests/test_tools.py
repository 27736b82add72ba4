"""Tool configuration, the ABI check and `npubench tools fetch` offline."""

import os
import struct
import subprocess
import sys

import pytest

from npubench.errors import ConfigError, FetchError
from npubench.harness.tools import ToolConfig, check_abi, elf_abi, fetch_benchmark_model


def elf(path, machine, bits=64):
    header = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1, 1]) + bytes(9)  # e_ident: 16
    header += struct.pack("<HH", 3, machine)
    path.write_bytes(header + bytes(64))
    return path


def test_elf_abi(tmp_path):
    assert elf_abi(elf(tmp_path / "a", 183)) == "arm64-v8a"
    assert elf_abi(elf(tmp_path / "b", 62)) == "x86_64"
    assert elf_abi(elf(tmp_path / "c", 40, bits=32)) == "armeabi-v7a"
    (tmp_path / "d").write_bytes(b"#!/bin/sh\necho hi\n")
    assert elf_abi(tmp_path / "d") is None


def test_check_abi_refuses_the_wrong_build(tmp_path):
    check_abi(elf(tmp_path / "ok", 183), ["arm64-v8a", "armeabi-v7a"], "benchmark_model")
    with pytest.raises(ConfigError, match="built for x86_64, but the phone runs arm64-v8a"):
        check_abi(elf(tmp_path / "x86", 62), ["arm64-v8a"], "benchmark_model")
    (tmp_path / "script").write_text("echo")
    with pytest.raises(ConfigError, match="not an executable"):
        check_abi(tmp_path / "script", ["arm64-v8a"], "benchmark_model")


def test_tool_config_from_file_and_overrides(tmp_path, monkeypatch):
    tool = elf(tmp_path / "bm", 183)
    sdk = tmp_path / "qairt"
    sdk.mkdir()
    config = tmp_path / "tools.yaml"
    config.write_text(f"benchmark_model: {tool}\nqnn_sdk: {sdk}\n")
    monkeypatch.setenv("NPUBENCH_TOOLS", str(config))
    loaded = ToolConfig.load()
    assert loaded.get("benchmark_model") == tool and loaded.get("qnn_sdk") == sdk
    other = elf(tmp_path / "bm2", 183)
    assert ToolConfig.load([f"benchmark_model={other}"]).get("benchmark_model") == other
    with pytest.raises(ConfigError, match="unknown tool 'benchmark'"):
        ToolConfig.load(["benchmark=/x"])
    with pytest.raises(ConfigError, match="does not exist"):
        ToolConfig.load([f"onnxruntime_perf_test={tmp_path / 'missing'}"])
    config.write_text("benchmark_modle: /x\n")
    with pytest.raises(ConfigError, match="unknown tool 'benchmark_modle'"):
        ToolConfig.load()


def test_fetch_offline_is_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUBENCH_CACHE", str(tmp_path / "cache"))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    with pytest.raises(FetchError) as info:
        fetch_benchmark_model("arm64-v8a", timeout_s=5)
    assert "seems offline" in str(info.value) and "--tool benchmark_model=PATH" in str(info.value)
    assert not list((tmp_path / "cache").rglob("benchmark_model*"))


def test_tools_fetch_cli_offline_exits_3(tmp_path):
    env = dict(os.environ, NPUBENCH_CACHE=str(tmp_path), https_proxy="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9")
    result = subprocess.run([sys.executable, "-m", "npubench", "tools", "fetch"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 3
    assert "could not download benchmark_model" in result.stderr


def test_a_missing_phone_tool_hint_says_where_to_get_it_and_where_to_put_it():
    from npubench.harness.phone_tools import missing_tool_hint

    tflite = missing_tool_hint("benchmark_model")
    assert "npubench tools fetch" in tflite and "/data/local/tmp/benchmark_model" in tflite
    ort = missing_tool_hint("onnxruntime_perf_test")
    assert "npubench tools fetch" not in ort and "no prebuilt" in ort
    assert "--tool onnxruntime_perf_test=PATH" in ort
    assert "/data/local/tmp/onnxruntime_perf_test" in ort
