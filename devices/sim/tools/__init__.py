"""The benchmark tools of the simulated phone, emulated: ``benchmark_model`` (TFLite/LiteRT),
``onnxruntime_perf_test`` and ``llama-bench`` (llama.cpp). They run the model for real on the host
(LiteRT / ONNX Runtime on the CPU; for llama-bench a generated decoder of the GGUF's shape) and
answer in the real tools' output formats; their latencies are host latencies and their memory
figures simulated, never a phone's.

A pushed file runs as one of these tools when it has the tool's name and is an ELF for one of
the phone's ABIs (``stub.stub_binary`` makes such a file). ``Userland.tool_faults``
(``ToolFaults``) makes them hang, crash or refuse delegates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from npubench.devices.sim.tools.common import ProcInfo, ToolFaults
from npubench.devices.sim.tools.stub import stub_binary

if TYPE_CHECKING:
    from npubench.devices.sim.userland import Userland

__all__ = ["TOOL_NAMES", "ProcInfo", "ToolFaults", "register_all", "stub_binary"]

TOOL_NAMES = ("benchmark_model", "benchmark_model_plus_neuron_delegate", "onnxruntime_perf_test",
              "llama-bench")


def register_all(userland: Userland) -> None:
    """Register the emulated tools with a userland (done when it is constructed)."""
    from npubench.devices.sim.tools import benchmark_model, llama_bench, ort_perf_test

    userland.register_tool("benchmark_model", benchmark_model.command)
    userland.register_tool("benchmark_model_plus_neuron_delegate", benchmark_model.command)
    userland.register_tool("onnxruntime_perf_test", ort_perf_test.command)
    userland.register_tool("llama-bench", llama_bench.command)
