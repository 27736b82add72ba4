"""Where a phone's benchmark tools come from, the same way for a real and a simulated phone:
a build configured on this computer (``--tool NAME=PATH`` or tools.yaml: checked against the
phone's ABI and pushed by content), or else one already installed on the phone.

Looked for on the phone, in this order: the phone's ``PATH`` (``command -v``), then the places
the tools' own instructions install them (DEVICE_TOOLS.md): ``/data/local/tmp/benchmark_model``
(TFLite's ``adb push ... /data/local/tmp``), ``/data/local/tmp/onnxruntime_perf_test``,
``/data/local/tmp/llama.cpp/bin/llama-bench`` (``adb push pkg-snapdragon/llama.cpp
/data/local/tmp/``) with its ``lib/`` beside ``bin/``, and the QNN libraries in
``/data/local/tmp/qnn`` (the folder DEVICE_TOOLS.md 4.1 puts on LD_LIBRARY_PATH). One shell call
per phone and run; what it finds is kept for the phone's later jobs.
"""

from __future__ import annotations

import re
import secrets
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from npubench.devices.android import q
from npubench.errors import BackendUnavailable
from npubench.harness.tools import ToolConfig, check_abi

TOOL_PLACES: dict[str, tuple[str, ...]] = {
    "benchmark_model": ("/data/local/tmp/benchmark_model",),
    "benchmark_model_plus_neuron_delegate": (
        "/data/local/tmp/benchmark_model_plus_neuron_delegate",),
    "onnxruntime_perf_test": ("/data/local/tmp/onnxruntime_perf_test",),
    "llama-bench": ("/data/local/tmp/llama.cpp/bin/llama-bench",),
}
"""Tool -> where its instructions put it on a phone (after the phone's PATH)."""

LIB_PLACES: dict[str, tuple[str, str]] = {
    "qnn_sdk": ("/data/local/tmp/qnn", "libQnnTFLiteDelegate.so"),
    "llama_cpp_lib": ("/data/local/tmp/llama.cpp/lib", "libllama.so"),
}
"""Library set -> (folder on the phone, a file that must be in it)."""

QNN_MISSING = "the QNN delegate needs Qualcomm's QAIRT SDK"
QNN_HINT = ("pass --tool qnn_sdk=PATH_TO_QAIRT, or install its Android libraries on the phone "
            f"in {LIB_PLACES['qnn_sdk'][0]}")
LLAMA_BENCH_HINT = ("build llama.cpp for Android (DEVICE_TOOLS.md 3.4) and pass "
                    "--tool llama-bench=PATH, or install it on the phone in "
                    "/data/local/tmp/llama.cpp/bin")


@dataclass(frozen=True)
class OnPhone:
    """What the phone itself has: tool -> path, library set -> folder (absent: not found)."""

    tools: dict[str, str] = field(default_factory=dict)
    libs: dict[str, str] = field(default_factory=dict)


def probe_command(mark: str) -> str:
    """One shell line that prints ``MARK NAME PATH`` for each tool and library set found."""
    parts = []
    for name, places in TOOL_PLACES.items():
        found = f"p=$(command -v {q(name)} 2>/dev/null)"
        for place in places:
            found += f" || {{ [ -x {q(place)} ] && p={q(place)}; }}"
        parts.append(f"p=; {found}; [ -n \"$p\" ] && echo {mark} {q(name)} \"$p\"")
    for name, (folder, needed) in LIB_PLACES.items():
        parts.append(f"[ -f {q(folder + '/' + needed)} ] && echo {mark} {q(name)} {q(folder)}")
    return "; ".join(parts) + "; true"


def parse_probe(text: str, mark: str) -> OnPhone:
    tools: dict[str, str] = {}
    libs: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split(" ", 2)
        if len(fields) != 3 or fields[0] != mark:
            continue
        _, name, path = fields
        if name in TOOL_PLACES:
            tools[name] = path.strip()
        elif name in LIB_PLACES:
            libs[name] = path.strip()
    return OnPhone(tools, libs)


_FOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def on_phone(device) -> OnPhone:
    """What ``device`` has installed (asked once per device object, then remembered)."""
    found = _FOUND.get(device)
    if found is None:
        mark = f"__NPB_T_{secrets.token_hex(3)}__"
        found = parse_probe(device.run(probe_command(mark), check=False).text, mark)
        _FOUND[device] = found
    return found


def tool_path(device, tools: ToolConfig, name: str) -> str:
    """The tool's path on the phone: the configured build, checked against the phone's ABIs
    and pushed by content; else the phone's own; else BackendUnavailable saying what to do."""
    local = tools.get(name)
    if local is not None:
        abis = [device.info().abi] + device.getprops().get("ro.product.cpu.abilist",
                                                           "").split(",")
        check_abi(local, [a for a in abis if a], name)
        return device.push_by_content(local, mode=0o755).remote
    remote = on_phone(device).tools.get(name)
    if remote is not None:
        return remote
    raise BackendUnavailable(f"no {name} configured for the phone, and none on it",
                             hint=missing_tool_hint(name))


def missing_tool_hint(name: str) -> str:
    if name == "llama-bench":
        return LLAMA_BENCH_HINT
    places = " or ".join(TOOL_PLACES.get(name, ()))
    where = {"benchmark_model": " (`npubench tools fetch` downloads TFLite's prebuilt one)",
             "onnxruntime_perf_test": " (it has no prebuilt: build.sh --android from an ONNX "
                                      "Runtime release tag)"}
    return (f"pass --tool {name}=PATH to an Android build{where.get(name, '')}, or install it "
            f"on the phone ({places} or on its PATH)")


def qnn_libs(device, tools: ToolConfig) -> str:
    """The folder on the phone that holds the QNN HTP libraries for its Hexagon version:
    the configured QAIRT SDK's libraries, pushed by content, or the phone's own
    ``/data/local/tmp/qnn``."""
    sdk = tools.get("qnn_sdk")
    if sdk is not None:
        return device.push_folder_by_content(qnn_files(device.info().npu, sdk), mode=0o755)
    folder = on_phone(device).libs.get("qnn_sdk")
    if folder is not None:
        return folder
    raise BackendUnavailable(QNN_MISSING, hint=QNN_HINT)


QNN_LIBS = ("libQnnTFLiteDelegate.so", "libQnnHtp.so", "libQnnHtpPrepare.so", "libQnnSystem.so")


def _hexagon_version(npu: str | None) -> str | None:
    """"75" of an NPU named like "Hexagon NPU (HTP v75)"."""
    match = re.search(r"v(\d\d)", npu or "")
    return match[1] if match else None


def qnn_file_names(npu: str | None) -> list[str]:
    """The QNN HTP libraries a phone with this Hexagon version needs (DEVICE_TOOLS.md 4.1)."""
    version = _hexagon_version(npu)
    names = list(QNN_LIBS)
    if version:
        names += [f"libQnnHtpV{version}Stub.so", f"libQnnHtpV{version}Skel.so"]
    return names


def qnn_files(npu: str | None, sdk: Path) -> list[Path]:
    """Those libraries in a QAIRT SDK folder."""
    version = _hexagon_version(npu)
    found = []
    for n in qnn_file_names(npu):
        candidates = [sdk / "lib" / "aarch64-android" / n,
                      sdk / "lib" / f"hexagon-v{version}" / "unsigned" / n]
        path = next((c for c in candidates if c.exists()), None)
        if path is None:
            raise BackendUnavailable(f"{n} is not in the QNN SDK at {sdk}")
        found.append(path)
    return found


def tool_reason(device, tools: ToolConfig, name: str) -> str | None:
    """None when ``name`` is configured or on the phone; else why it cannot run."""
    if tools.get(name) is not None or name in on_phone(device).tools:
        return None
    return f"no {name} for the phone: {missing_tool_hint(name)}"


def qnn_reason(device, tools: ToolConfig) -> str | None:
    if tools.get("qnn_sdk") is not None or "qnn_sdk" in on_phone(device).libs:
        return None
    return f"{QNN_MISSING}: {QNN_HINT}"
