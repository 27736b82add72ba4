"""devices.host: the real values of the machine the tests run on."""

import builtins
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from npubench.devices.host import (
    HostDevice,
    find_tflite_runtime,
    nvidia_gpu_names,
    ort_provider_name,
    ort_short_name,
)
from npubench.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_info_describes_this_machine():
    info = HostDevice().info()
    assert info.id == "host"
    assert info.kind == "host"
    assert info.simulated is False
    assert info.cpu
    assert info.cpu_cores == os.cpu_count()
    assert info.ram_bytes and info.ram_bytes > 0
    assert info.model.startswith(info.cpu)
    assert f"({info.cpu_cores} cores)" in info.model
    assert info.os and info.os.split()[0] in {"Linux", "macOS", "Windows"}
    assert info.abi
    assert all(":" in a for a in info.accelerators)
    # no local accelerator is made up: the remote Azure EP and the CPU EP are not accelerators
    assert not any(
        a.endswith(("CPUExecutionProvider", "AzureExecutionProvider")) for a in info.accelerators
    )
    json.dumps(info.to_dict())


def test_info_is_computed_once():
    host = HostDevice()
    assert host.info() is host.info()


def test_constructor_does_no_io(monkeypatch):
    def no_io(*args, **kwargs):
        raise AssertionError("the constructor must not do I/O")

    monkeypatch.setattr(builtins, "open", no_io)
    monkeypatch.setattr(subprocess, "run", no_io)
    monkeypatch.setattr(subprocess, "Popen", no_io)
    host = HostDevice()
    assert host.spec == "host"


def test_importing_the_module_imports_no_runtime():
    code = (
        "import sys, npubench.devices.host; "
        "bad = [m for m in ('onnxruntime', 'ai_edge_litert', 'tflite_runtime', 'pynvml') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_backends_on_this_machine():
    backends = HostDevice().backends()
    assert backends["ort:cpu"] is None
    assert backends["tflite:xnnpack"] is None
    assert backends["tflite:cpu"] is None
    if not nvidia_gpu_names():  # the build machines have no GPU: CUDA must say why not
        assert isinstance(backends["ort:cuda"], str) and backends["ort:cuda"]
    assert all(key.startswith(("ort:", "tflite:")) for key in backends)
    assert all(reason is None or reason.strip() for reason in backends.values())


def test_cuda_provider_without_a_gpu(monkeypatch):
    import onnxruntime

    from npubench.devices import host as host_module

    real = onnxruntime.get_available_providers()
    monkeypatch.setattr(
        onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", *real]
    )
    monkeypatch.setattr(host_module, "nvidia_gpu_names", lambda *a, **k: [])
    backends = HostDevice().backends()
    assert backends["ort:cuda"] == "no NVIDIA GPU found"
    assert backends["ort:cpu"] is None


def test_backends_without_tflite(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name in ("ai_edge_litert", "tflite_runtime") else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert find_tflite_runtime() is None
    reason = HostDevice().backends()["tflite:xnnpack"]
    assert reason == (
        "neither ai-edge-litert nor tflite-runtime is installed (pip install ai-edge-litert)"
    )


def test_find_tflite_runtime_prefers_litert():
    found = find_tflite_runtime()
    assert found is not None
    name, version = found
    assert name == "ai-edge-litert"
    assert version[0].isdigit()


@pytest.mark.parametrize(
    "short, provider",
    [
        ("cuda", "CUDAExecutionProvider"),
        ("tensorrt", "TensorrtExecutionProvider"),
        ("openvino", "OpenVINOExecutionProvider"),
        ("coreml", "CoreMLExecutionProvider"),
        ("qnn", "QNNExecutionProvider"),
        ("qnn-htp", "QNNExecutionProvider"),
        ("dml", "DmlExecutionProvider"),
        ("rocm", "ROCMExecutionProvider"),
        ("xnnpack", "XnnpackExecutionProvider"),
        ("nnapi", "NnapiExecutionProvider"),
        ("cpu", "CPUExecutionProvider"),
        ("CUDA?device_id=1", "CUDAExecutionProvider"),
    ],
)
def test_provider_names_round_trip(short, provider):
    assert ort_provider_name(short) == provider
    assert ort_short_name(provider) == short.split("?")[0].split("-")[0].lower()


def test_unknown_provider_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown ONNX Runtime execution provider"):
        ort_provider_name("warpdrive")
