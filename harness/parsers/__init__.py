"""Parsers for the text the on-device benchmark tools print.

Each is a pure function, text in and a plain dict out (times in ms, memory in MB), that never
raises on odd text: it returns what it found, ``{}`` when it found nothing, and sets
``failed``/``error`` when the tool reported a failure. ``parse(tool, text)`` picks one by name.
"""

from __future__ import annotations

from collections.abc import Callable

from npubench.errors import ConfigError
from npubench.harness.parsers.benchmark_model import parse_benchmark_model
from npubench.harness.parsers.llama_bench import parse_llama_bench
from npubench.harness.parsers.ort_perf_test import parse_ort_perf_test

PARSERS: dict[str, Callable[[str], dict]] = {
    "benchmark_model": parse_benchmark_model,
    "onnxruntime_perf_test": parse_ort_perf_test,
    "llama-bench": parse_llama_bench,
}
# Spellings people type for the same tools.
ALIASES = {"ort_perf_test": "onnxruntime_perf_test", "llama_bench": "llama-bench",
           "benchmark-model": "benchmark_model",
           # MediaTek's build of benchmark_model prints what benchmark_model prints
           "benchmark_model_plus_neuron_delegate": "benchmark_model"}


def parse(tool: str, text: str) -> dict:
    """Parse ``text`` printed by ``tool``; an unknown tool is a ConfigError naming the valid
    ones."""
    name = ALIASES.get(tool, tool)
    if name not in PARSERS:
        raise ConfigError(f"unknown tool {tool!r}; valid tools: {', '.join(sorted(PARSERS))}",
                          hint="npubench parse TOOL FILE")
    return PARSERS[name](text)


__all__ = ["PARSERS", "parse", "parse_benchmark_model", "parse_ort_perf_test",
           "parse_llama_bench"]
