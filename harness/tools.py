"""The on-device benchmark tools and vendor libraries: where they come from, which ABI they
are built for. npubench ships none of them: the user points at a binary or an SDK folder
(``--tool NAME=PATH``, ``$NPUBENCH_TOOLS`` or ``~/.config/npubench/tools.yaml``), or
``npubench tools fetch`` downloads TFLite's official prebuilt Android ``benchmark_model``.

tools.yaml::

    benchmark_model: ~/android/android_aarch64_benchmark_model
    onnxruntime_perf_test: ~/ort/build/Android/Release/onnxruntime_perf_test
    benchmark_model_plus_neuron_delegate: ~/neuron/benchmark_model_plus_neuron_delegate
    qnn_sdk: ~/qairt/2.39.0     # QAIRT: lib/aarch64-android/*.so, lib/hexagon-vNN/unsigned/*
    llama-bench: ~/llama.cpp/pkg-snapdragon/llama.cpp/bin/llama-bench
    llama_cpp_lib: ~/llama.cpp/pkg-snapdragon/llama.cpp/lib  # default: lib/ beside bin/
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from npubench.errors import ConfigError, FetchError

TOOL_NAMES = ("benchmark_model", "onnxruntime_perf_test", "benchmark_model_plus_neuron_delegate",
              "llama-bench")
SDK_NAMES = ("qnn_sdk", "llama_cpp_lib")
BENCHMARK_MODEL_URLS = {
    "arm64-v8a": "https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/"
                 "release/lite/tools/nightly/latest/android_aarch64_benchmark_model",
    "armeabi-v7a": "https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/"
                   "release/lite/tools/nightly/latest/android_arm_benchmark_model",
}
_ELF_MACHINES = {183: "arm64-v8a", 40: "armeabi-v7a", 62: "x86_64", 3: "x86"}


def elf_abi(path: Path) -> str | None:
    """The Android ABI an ELF file is built for (from e_machine), or None for a non-ELF file."""
    with open(path, "rb") as fh:
        head = fh.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    endian = "<" if head[5] == 1 else ">"
    (machine,) = struct.unpack(endian + "H", head[18:20])
    return _ELF_MACHINES.get(machine, f"e_machine {machine}")


def check_abi(path: Path, phone_abis: list[str], what: str) -> None:
    """Refuse a binary the phone cannot execute, before it is pushed."""
    abi = elf_abi(path)
    if abi is None:
        raise ConfigError(f"{what} at {path} is not an executable (no ELF header)",
                          hint="point at the Android build of the tool")
    if abi not in phone_abis:
        raise ConfigError(
            f"{what} at {path} is built for {abi}, but the phone runs {', '.join(phone_abis)}",
            hint="use the Android build for the phone's ABI (e.g. android_aarch64_"
                 "benchmark_model for arm64-v8a)",
        )


def config_path() -> Path:
    return Path(os.environ.get("NPUBENCH_TOOLS") or
                Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
                / "npubench" / "tools.yaml")


def tools_cache_dir() -> Path:
    from npubench.workloads.fetch import cache_dir

    return cache_dir() / "tools"


@dataclass
class ToolConfig:
    """Where each tool and SDK is on this computer (None: not configured)."""

    paths: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def load(cls, overrides: list[str] | None = None) -> ToolConfig:
        """tools.yaml, then fetched tools in the cache, then ``--tool NAME=PATH`` overrides."""
        paths: dict[str, Path] = {}
        file = config_path()
        if file.exists():
            import yaml

            from npubench.harness.suites import read_config_text

            try:
                data = yaml.safe_load(read_config_text(file, "tools file")) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{file}: not valid YAML: {exc}") from None
            if not isinstance(data, dict):
                raise ConfigError(f"{file}: expected a mapping of tool names to paths")
            for key, value in data.items():
                paths[_known(key, str(file))] = Path(str(value)).expanduser()
        fetched = tools_cache_dir() / "arm64-v8a" / "benchmark_model"
        if "benchmark_model" not in paths and fetched.exists():
            paths["benchmark_model"] = fetched
        for text in overrides or []:
            name, sep, value = text.partition("=")
            if not sep or not value:
                raise ConfigError(f"--tool {text!r}: expected NAME=PATH",
                                  hint=f"names: {', '.join(TOOL_NAMES + SDK_NAMES)}")
            paths[_known(name.strip(), "--tool")] = Path(value).expanduser()
        for name, path in paths.items():
            if not path.exists():
                raise ConfigError(f"{name}: {path} does not exist")
        return cls(paths)

    def get(self, name: str) -> Path | None:
        return self.paths.get(name)


def _known(name: str, where: str) -> str:
    if name not in TOOL_NAMES + SDK_NAMES:
        raise ConfigError(f"{where}: unknown tool {name!r}",
                          hint=f"known: {', '.join(TOOL_NAMES + SDK_NAMES)}")
    return name


def fetch_benchmark_model(abi: str = "arm64-v8a", timeout_s: float = 60.0) -> Path:
    """Download TFLite's official nightly prebuilt ``benchmark_model`` for ``abi`` (cached)."""
    import urllib.error
    import urllib.request

    url = BENCHMARK_MODEL_URLS.get(abi)
    if url is None:
        raise ConfigError(f"no official prebuilt benchmark_model for {abi}",
                          hint=f"available: {', '.join(BENCHMARK_MODEL_URLS)}")
    target = tools_cache_dir() / abi / "benchmark_model"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    try:
        with urllib.request.build_opener().open(url, timeout=timeout_s) as response, \
                open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(
            f"could not download benchmark_model from {url}: {exc}",
            hint="this machine seems offline or cannot reach storage.googleapis.com; download "
                 "the file elsewhere and pass --tool benchmark_model=PATH (or list it in "
                 f"{config_path()})",
        ) from None
    if elf_abi(partial) != abi:
        partial.unlink(missing_ok=True)
        raise FetchError(f"the file downloaded from {url} is not an {abi} executable")
    os.chmod(partial, 0o755)
    os.replace(partial, target)
    return target
