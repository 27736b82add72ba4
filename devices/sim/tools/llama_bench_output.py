"""llama-bench's statistics and output: the avg/stdev it computes over the samples, a finished
test's values (``Result``), and the printers of its output formats (``csv``, ``json``,
``jsonl``, ``md``, ``sql``), fields in the order of the README's JSON sample.

The emulated tool itself is ``devices.sim.tools.llama_bench``; its command line is in
``devices.sim.tools.llama_bench_params``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from npubench.devices.sim.tools.common import g
from npubench.devices.sim.tools.llama_bench_params import Params, defaults, test_name

BUILD_COMMIT, BUILD_NUMBER = "6a8cf8914", 6733
"""The build this emulation imitates (the one of the Snapdragon README's sample)."""

# --- the fields, in the order of the README's JSON sample ---------------------------------

FIELDS = ("build_commit", "build_number", "cpu_info", "gpu_info", "backends", "model_filename",
          "model_type", "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads",
          "cpu_mask", "cpu_strict", "poll", "type_k", "type_v", "n_gpu_layers", "n_cpu_moe",
          "split_mode", "main_gpu", "no_kv_offload", "flash_attn", "devices", "tensor_split",
          "tensor_buft_overrides", "use_mmap", "use_direct_io", "embeddings", "no_op_offload",
          "no_host", "repack", "fit_target", "fit_min_ctx", "n_prompt", "n_gen", "n_depth",
          "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts")
INT_FIELDS = {"build_number", "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads",
              "poll", "n_gpu_layers", "n_cpu_moe", "main_gpu", "flash_attn", "no_op_offload",
              "fit_target", "fit_min_ctx", "n_prompt", "n_gen", "n_depth", "avg_ns", "stddev_ns"}
BOOL_FIELDS = {"cpu_strict", "no_kv_offload", "use_mmap", "use_direct_io", "embeddings",
               "no_host", "repack"}
FLOAT_FIELDS = {"avg_ts", "stddev_ts"}

# --- statistics, as llama-bench computes them (avg/stdev templates over uint64 and double) ------

def avg_ns(samples: list[int]) -> int:
    return sum(samples) // len(samples) if samples else 0


def stdev_ns(samples: list[int]) -> int:
    n = len(samples)
    if n <= 1:
        return 0
    mean = sum(samples) // n
    var = sum(s * s for s in samples) // (n - 1) - mean * mean * n // (n - 1)
    return int(math.sqrt(var)) if var > 0 else 0


def avg_f(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def stdev_f(values: list[float]) -> float:
    n = len(values)
    if n <= 1:
        return 0.0
    mean = avg_f(values)
    var = sum(v * v for v in values) / (n - 1) - mean * mean * n / (n - 1)
    return math.sqrt(var) if var > 0 else 0.0


@dataclass
class Result:
    """One finished test (``struct test``): its values by field, and its samples."""

    values: dict
    samples_ns: list[int]

    @property
    def samples_ts(self) -> list[float]:
        n = self.values["n_prompt"] + self.values["n_gen"]
        return [1e9 * n / t for t in self.samples_ns]

    def strings(self) -> dict[str, str]:
        """``get_values``: every field as the C++ code turns it into a string."""
        v = dict(self.values)
        ts = self.samples_ts
        v.update(avg_ns=avg_ns(self.samples_ns), stddev_ns=stdev_ns(self.samples_ns),
                 avg_ts=avg_f(ts), stddev_ts=stdev_f(ts))
        out = {}
        for name in FIELDS:
            value = v[name]
            if name in FLOAT_FIELDS:
                out[name] = f"{value:f}"
            elif isinstance(value, bool):
                out[name] = str(int(value))
            else:
                out[name] = str(value)
        return out


# --- printers ----------------------------------------------------------------------------------

def _json_value(name: str, text: str) -> str:
    if name in BOOL_FIELDS:
        return "false" if text == "0" else "true"
    if name in INT_FIELDS or name in FLOAT_FIELDS:
        return text
    escaped = "".join('\\"' if c == '"' else "\\\\" if c == "\\" else
                      f"\\u{ord(c):04x}" if ord(c) <= 0x1F else c for c in text)
    return f'"{escaped}"'


class Printer:
    """One of llama-bench's output formats: a header, one entry per test, a footer."""

    def __init__(self, write):
        self.write = write

    def header(self, params: Params, all_cpu: bool) -> None:
        pass

    def test(self, result: Result) -> None:
        """One test's entry: every format's own (the formats below override this)."""

    def footer(self) -> None:
        pass


class CsvPrinter(Printer):
    def header(self, params, all_cpu):
        self.write(",".join(FIELDS) + "\n")

    def test(self, result):
        values = result.strings()
        self.write(",".join('"' + values[f].replace('"', '""') + '"' for f in FIELDS) + "\n")


class JsonPrinter(Printer):
    first = True

    def header(self, params, all_cpu):
        self.write("[\n")

    def test(self, result):
        values = result.strings()
        text = "" if self.first else ",\n"
        self.first = False
        text += "  {\n" + "".join(f'    "{f}": {_json_value(f, values[f])},\n' for f in FIELDS)
        text += f"    \"samples_ns\": [ {', '.join(map(str, result.samples_ns))} ],\n"
        text += f"    \"samples_ts\": [ {', '.join(g(t) for t in result.samples_ts)} ]\n  }}"
        self.write(text)

    def footer(self):
        self.write("\n]\n")


class JsonlPrinter(Printer):
    def test(self, result):
        values = result.strings()
        text = "{" + "".join(f'"{f}": {_json_value(f, values[f])}, ' for f in FIELDS)
        text += f"\"samples_ns\": [ {', '.join(map(str, result.samples_ns))} ],"
        text += f"\"samples_ts\": [ {', '.join(g(t) for t in result.samples_ts)} ]}}\n"
        self.write(text)


class SqlPrinter(Printer):
    def header(self, params, all_cpu):
        kinds = {**dict.fromkeys(INT_FIELDS | BOOL_FIELDS, "INTEGER"),
                 **dict.fromkeys(FLOAT_FIELDS, "REAL")}
        cols = [f"  {f} {kinds.get(f, 'TEXT')}{',' if i < len(FIELDS) - 1 else ''}"
                for i, f in enumerate(FIELDS)]
        self.write("CREATE TABLE IF NOT EXISTS llama_bench (\n" + "\n".join(cols) + "\n);\n\n")

    def test(self, result):
        values = result.strings()
        self.write(f"INSERT INTO llama_bench ({', '.join(FIELDS)}) VALUES ("
                   + ", ".join(f"'{values[f]}'" for f in FIELDS) + ");\n")


MD_WIDTHS = {"model": -30, "t/s": 20, "size": 10, "params": 10, "n_gpu_layers": 3,
             "n_threads": 7, "n_batch": 7, "n_ubatch": 8, "type_k": 6, "type_v": 6,
             "split_mode": 5, "flash_attn": 2, "devices": -12, "use_mmap": 4, "test": 15,
             "no_op_offload": 4, "no_host": 4}
MD_NAMES = {"n_gpu_layers": "ngl", "split_mode": "sm", "n_threads": "threads",
            "no_kv_offload": "nkvo", "flash_attn": "fa", "use_mmap": "mmap", "embeddings": "embd",
            "no_op_offload": "nopo", "no_host": "noh", "devices": "dev"}
MD_OPTIONAL = ("cpu_mask", "cpu_strict", "poll", "n_batch", "n_ubatch", "type_k", "type_v",
               "main_gpu", "split_mode", "no_kv_offload", "flash_attn", "devices", "use_mmap",
               "embeddings", "no_op_offload", "no_host")
"""Columns shown only when their parameter differs from its default."""


def _md_width(name: str) -> int:
    if name in MD_WIDTHS:
        return MD_WIDTHS[name]
    width = max(len(name), 10)
    return width if name in INT_FIELDS | BOOL_FIELDS | FLOAT_FIELDS else -width


def _md_cell(text: str, width: int) -> str:
    return f" {text:<{-width}} |" if width < 0 else f" {text:>{width}} |"


class MarkdownPrinter(Printer):
    def header(self, params, all_cpu):
        base = defaults(params.default_threads)
        fields = ["model", "size", "params", "backend"]
        if not all_cpu:
            fields.append("n_gpu_layers")
        if all_cpu or params.n_threads != base["n_threads"]:
            fields.append("n_threads")
        fields += [f for f in MD_OPTIONAL if getattr(params, f) != base[f]]
        self.fields = [*fields, "test", "t/s"]
        self.write("|" + "".join(_md_cell(MD_NAMES.get(f, f), _md_width(f))
                                 for f in self.fields) + "\n")
        self.write("|" + "".join(f" {'-' * (abs(w) - 1)}{':' if w > 0 else '-'} |"
                                 for w in map(_md_width, self.fields)) + "\n")

    def test(self, result):
        v, values = result.values, result.strings()
        size, params = v["model_size"], v["model_n_params"]
        ts = result.samples_ts
        cells = {"model": v["model_type"],
                 "size": f"{size / 2**20:.2f} MiB" if size < 2**30 else f"{size / 2**30:.2f} GiB",
                 "params": f"{params / 1e6:.2f} M" if params < 1e9 else f"{params / 1e9:.2f} B",
                 "backend": v["backends"],
                 "test": test_name(v["n_prompt"], v["n_gen"], v["n_depth"]),
                 "t/s": f"{avg_f(ts):.2f} ± {stdev_f(ts):.2f}"}
        self.write("|" + "".join(_md_cell(cells.get(f, values.get(f, "")), _md_width(f))
                                 for f in self.fields) + "\n")

    def footer(self):
        self.write(f"\nbuild: {BUILD_COMMIT} ({BUILD_NUMBER})\n")


PRINTERS = {"csv": CsvPrinter, "json": JsonPrinter, "jsonl": JsonlPrinter, "md": MarkdownPrinter,
            "sql": SqlPrinter}
