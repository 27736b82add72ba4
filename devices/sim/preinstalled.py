"""What the simulated phone has installed before anyone pushes anything: a lab phone whose owner
followed the tools' own instructions (DEVICE_TOOLS.md).

* ``/data/local/tmp/benchmark_model`` and ``/data/local/tmp/onnxruntime_perf_test``;
* ``/data/local/tmp/benchmark_model_plus_neuron_delegate`` where the SoC has a Neuron delegate;
* ``/data/local/tmp/llama.cpp/bin/llama-bench`` with its ``lib/`` (the ggml libraries, OpenCL
  on an Adreno GPU, the Hexagon backend and ``libggml-htp-vNN.so`` on a supported HTP);
* the QNN libraries in ``/data/local/tmp/qnn`` where the SoC has a QNN HTP delegate.

Each file is a stand-in ELF for the phone's ABI (``tools.stub``): the phone runs its emulated
tool for it. The harness finds them as it would on a real phone (on the PATH or in these
places); nothing on the host side knows they are stand-ins.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from npubench.devices.sim.tools.stub import stub_binary

if TYPE_CHECKING:
    from npubench.devices.sim.profiles import Profile
    from npubench.devices.sim.userland import Userland

TMP = "/data/local/tmp"
LLAMA_HOME = f"{TMP}/llama.cpp"
QNN_DIR = f"{TMP}/qnn"
QNN_LIBS = ("libQnnTFLiteDelegate.so", "libQnnHtp.so", "libQnnHtpPrepare.so", "libQnnSystem.so")
GGML_LIBS = ("libggml-base.so", "libggml-cpu.so", "libggml.so", "libllama.so")


def files_for(profile: Profile) -> dict[str, str]:
    """Path on the phone -> the tool or library name its stand-in carries."""
    out = {f"{TMP}/benchmark_model": "benchmark_model",
           f"{TMP}/onnxruntime_perf_test": "onnxruntime_perf_test",
           f"{LLAMA_HOME}/bin/llama-bench": "llama-bench"}
    if "neuron" in profile.delegates:
        out[f"{TMP}/benchmark_model_plus_neuron_delegate"] = (
            "benchmark_model_plus_neuron_delegate")
    acc = profile.accelerators
    htp = str(acc.get("htp_arch") or "")
    libs = list(GGML_LIBS)
    if re.search(r"Adreno", str(acc.get("gpu") or "")):
        libs.append("libggml-opencl.so")
    if re.fullmatch(r"v\d\d", htp):
        libs += ["libggml-hexagon.so", f"libggml-htp-{htp}.so"]
    out.update({f"{LLAMA_HOME}/lib/{name}": name for name in libs})
    if "qnn_htp" in profile.delegates:
        qnn = list(QNN_LIBS)
        if re.fullmatch(r"v\d\d", htp):
            qnn += [f"libQnnHtp{htp.upper()}Stub.so", f"libQnnHtp{htp.upper()}Skel.so"]
        out.update({f"{QNN_DIR}/{name}": name for name in qnn})
    return out


def install(userland: Userland) -> dict[str, str]:
    """Write the stand-ins into the phone's storage (mode 755); returns ``files_for``."""
    abi = userland.props.get("ro.product.cpu.abi", "arm64-v8a")
    files = files_for(userland.profile)
    for path, name in files.items():
        userland.fs.mkdir(posixpath.dirname(path), parents=True)
        with userland.fs.open_write(path, mode=0o755) as fh:
            fh.write(stub_binary(name, abi))
    return files
