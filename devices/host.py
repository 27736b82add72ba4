"""The host: this computer, running LiteRT and ONNX Runtime in-process.

Nothing here imports a runtime at module import time (``npubench --help`` must stay fast) and
the constructor does no I/O: ``info()`` and ``backends()`` probe once, on first use, and cache.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

from npubench.devices.base import DeviceInfo
from npubench.errors import ConfigError

NVIDIA_SMI_TIMEOUT_S = 5.0
TFLITE_MISSING = (
    "neither ai-edge-litert nor tflite-runtime is installed (pip install ai-edge-litert)"
)

# Execution providers ORT has shipped; used to map a short name back without importing ORT.
_KNOWN_PROVIDERS = (
    "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider",
    "OpenVINOExecutionProvider", "CoreMLExecutionProvider", "QNNExecutionProvider",
    "DmlExecutionProvider", "ROCMExecutionProvider", "MIGraphXExecutionProvider",
    "XnnpackExecutionProvider", "NnapiExecutionProvider", "DnnlExecutionProvider",
    "VitisAIExecutionProvider", "ACLExecutionProvider", "ArmNNExecutionProvider",
    "RknpuExecutionProvider", "CANNExecutionProvider", "VSINPUExecutionProvider",
    "WebGpuExecutionProvider", "WebNNExecutionProvider", "JsExecutionProvider",
    "TvmExecutionProvider", "AzureExecutionProvider",
)  # fmt: skip

# Where an execution provider comes from, for the "not available" reason.
_INSTALL_HINTS = {
    "cuda": "install onnxruntime-gpu and a CUDA driver",
    "tensorrt": "install onnxruntime-gpu with TensorRT and a CUDA driver",
    "openvino": "install onnxruntime-openvino",
    "dml": "install onnxruntime-directml on Windows",
    "qnn": "install onnxruntime-qnn on Windows on Snapdragon",
    "coreml": "use onnxruntime on macOS",
    "rocm": "install onnxruntime-rocm",
    "migraphx": "install onnxruntime-migraphx",
}
_NVIDIA_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
# Providers that do not run the model on this machine: never an accelerator of the host.
_REMOTE_PROVIDERS = {"AzureExecutionProvider": "AzureExecutionProvider calls remote endpoints"}


def ort_short_name(provider: str) -> str:
    """``CUDAExecutionProvider`` -> ``cuda`` (the accelerator part of an ``ort:`` backend)."""
    return provider.removesuffix("ExecutionProvider").lower()


def ort_provider_name(short: str) -> str:
    """``cuda`` -> ``CUDAExecutionProvider``; ``qnn-htp`` -> ``QNNExecutionProvider``.

    Options after ``?`` are ignored. Unknown names raise ConfigError.
    """
    name = short.split("?", 1)[0].strip().lower()
    known = {ort_short_name(p): p for p in _KNOWN_PROVIDERS}
    if name not in known:
        try:
            import onnxruntime

            known.update({ort_short_name(p): p for p in onnxruntime.get_all_providers()})
        except ImportError:
            pass
    for candidate in (name, name.split("-", 1)[0]):  # qnn-htp, qnn-gpu -> qnn
        if candidate in known:
            return known[candidate]
    raise ConfigError(
        f"unknown ONNX Runtime execution provider {short!r}",
        hint="use e.g. ort:cpu, ort:cuda, ort:openvino, ort:coreml, ort:qnn",
    )


def find_tflite_runtime() -> tuple[str, str] | None:
    """Which TFLite runtime is installed: ``("ai-edge-litert", version)`` preferred, else
    ``("tflite-runtime", version)``, else None. Looks the package up without importing it."""
    from importlib import metadata  # lazy: 30 ms to import

    for module, dist in (
        ("ai_edge_litert", "ai-edge-litert"),
        ("tflite_runtime", "tflite-runtime"),
    ):
        if importlib.util.find_spec(module) is None:
            continue
        for name in (dist, f"{dist}-nightly"):
            try:
                return dist, metadata.version(name)
            except metadata.PackageNotFoundError:
                pass
        return dist, "unknown"
    return None


def nvidia_gpu_names(timeout_s: float = NVIDIA_SMI_TIMEOUT_S) -> list[str]:
    """Names of the NVIDIA GPUs on this machine: NVML when nvidia-ml-py is installed, else
    ``nvidia-smi``; an empty list when there are none or neither can tell."""
    try:
        import pynvml
    except ImportError:
        pynvml = None
    if pynvml is not None:
        try:
            pynvml.nvmlInit()
        except Exception:  # no driver, no library: nvidia-smi would not do better
            return []
        try:
            names = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
                names.append(name.decode() if isinstance(name, bytes) else str(name))
            return names
        except Exception:
            return []
        finally:
            try:
                pynvml.nvmlShutdown()
            except Exception:
                pass
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        proc = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


class HostDevice:
    """This computer as a benchmark device."""

    spec = "host"

    def __init__(self) -> None:
        self._info: DeviceInfo | None = None
        self._backends: dict[str, str | None] | None = None
        self._gpus: list[str] | None = None

    def info(self) -> DeviceInfo:
        if self._info is None:
            cores = _logical_cores()
            cpu = _cpu_model()
            accelerators = [f"nvidia:{name}" for name in self._nvidia_gpus()]
            accelerators += [f"onnxruntime:{p}" for p in _ort_accelerator_providers()]
            self._info = DeviceInfo(
                id="host",
                kind="host",
                model=f"{cpu} ({cores} cores)" if cores else cpu,
                manufacturer=_read_text(Path("/sys/class/dmi/id/sys_vendor")),
                cpu=cpu,
                cpu_cores=cores,
                ram_bytes=_ram_bytes(),
                os=_os_description(),
                abi=platform.machine() or None,
                accelerators=tuple(accelerators),
                simulated=False,
            )
        return self._info

    def backends(self) -> dict[str, str | None]:
        if self._backends is None:
            backends = _tflite_backends()
            backends.update(_ort_backends(self._nvidia_gpus))
            self._backends = backends
        return dict(self._backends)

    def _nvidia_gpus(self) -> list[str]:
        if self._gpus is None:
            self._gpus = nvidia_gpu_names()
        return self._gpus


def _tflite_backends() -> dict[str, str | None]:
    found = find_tflite_runtime()
    reason = None if found else TFLITE_MISSING
    if found and found[0] == "tflite-runtime" and _numpy_major() >= 2:
        reason = "tflite-runtime does not work with numpy 2 (pip install ai-edge-litert)"
    return {"tflite:cpu": reason, "tflite:xnnpack": reason}


def _ort_backends(nvidia_gpus) -> dict[str, str | None]:
    """``ort:*`` backends: every provider this onnxruntime knows, None where it can run."""
    try:
        import onnxruntime
    except ImportError as exc:
        reason = f"onnxruntime cannot be imported ({exc}; pip install onnxruntime)"
        return {"ort:cpu": reason, "ort:cuda": reason}
    available = set(onnxruntime.get_available_providers())
    providers = list(onnxruntime.get_all_providers())
    if "CUDAExecutionProvider" not in providers:
        providers.append("CUDAExecutionProvider")
    result: dict[str, str | None] = {"ort:cpu": None}
    for provider in providers:
        short = ort_short_name(provider)
        if short == "cpu":
            continue
        if provider in _REMOTE_PROVIDERS:
            reason = f"{_REMOTE_PROVIDERS[provider]}, it is not a local accelerator"
        elif provider not in available:
            hint = _INSTALL_HINTS.get(short)
            reason = f"{provider} is not available in this onnxruntime build"
            reason += f" ({hint})" if hint else ""
        elif provider in _NVIDIA_PROVIDERS and not nvidia_gpus():
            reason = "no NVIDIA GPU found"
        else:
            reason = None
        result[f"ort:{short}"] = reason
    return result


def _ort_accelerator_providers() -> list[str]:
    try:
        import onnxruntime
    except ImportError:
        return []
    return [
        p
        for p in onnxruntime.get_available_providers()
        if p != "CPUExecutionProvider" and p not in _REMOTE_PROVIDERS
    ]


def _read_text(path: Path) -> str | None:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return None
    return text or None


def _cpu_model() -> str:
    """The CPU's marketing name, from the most specific source this OS offers."""
    cpuinfo = _read_text(Path("/proc/cpuinfo")) or ""
    for key in ("model name", "Hardware", "Processor", "cpu model"):  # x86, then ARM / MIPS
        match = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        if match and match.group(1).strip():
            return match.group(1).strip()
    if platform.system() == "Darwin":
        try:
            proc = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True, text=True, timeout=5, check=False,
            )  # fmt: skip
            if proc.returncode == 0 and proc.stdout.strip():
                return proc.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    board = _read_text(Path("/sys/firmware/devicetree/base/model"))  # ARM boards
    if board:
        return board.rstrip("\x00")
    return platform.processor() or platform.machine() or "unknown CPU"


def _logical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=True) or os.cpu_count()
    except ImportError:
        return os.cpu_count()


def _ram_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        return None


def _os_description() -> str:
    system, release = platform.system(), platform.release()
    if system == "Linux":
        try:
            osr = platform.freedesktop_os_release()
        except OSError:
            return f"{system} {release}"
        distro = " ".join(v for v in (osr.get("NAME"), osr.get("VERSION_ID")) if v)
        distro = distro or osr.get("PRETTY_NAME", "")
        return f"{system} {release} ({distro})" if distro else f"{system} {release}"
    if system == "Darwin":
        return f"macOS {platform.mac_ver()[0]} (Darwin {release})"
    return platform.platform()


def _numpy_major() -> int:
    from importlib import metadata

    try:
        return int(metadata.version("numpy").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return 0
