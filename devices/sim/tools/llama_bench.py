"""The simulated phone's ``llama-bench`` (llama.cpp's benchmark tool, ``tools/llama-bench``).

It runs for real, on the host: the GGUF file on the phone's storage is read for its header
(``workloads.gguf_files.read_gguf``), a generated ONNX decoder of the same shape and precision
(``workloads.llm_models.GeneratedDecoder``, built once and cached) is opened with ONNX Runtime on
the host CPU, and each test is timed through npubench's own decode loop
(``harness.llm_loop``): ``pp`` tests time the prompt, ``tg`` tests ``n_gen`` single-token decodes
from depth ``n_depth``, as llama-bench counts them. **Every latency is a host latency**, whatever
backend the flags pick: ``-dev HTP0`` / ``GPUOpenCL`` only change what the output says and which
unit the phone's physics sees busy. The weights are the generated decoder's, not the GGUF's.

What the phone has comes from its profile: a Hexagon NPU (device ``HTP0``, backend ``HTP``)
where ``accelerators.htp_arch`` names an HTP version the Snapdragon build ships
(``libggml-htp-v73/v75/v79/v81.so``); an OpenCL GPU (``GPUOpenCL``, backend ``OpenCL``) where
``accelerators.gpu`` is an Adreno: llama.cpp's OpenCL backend takes Adreno (and Intel) GPUs only
and refuses others (``Unsupported GPU``), so a Mali / Immortalis phone has no GPU device here.
Simplification: with ``-dev auto`` and layers to offload, the first of those devices gets them
all (llama.cpp would split the layers over every GPU-type device).

Output: the real printers (``md`` by default, ``csv``, ``json``, ``jsonl``, ``sql``; ``-oe`` to
stderr), fields in the order of the README's JSON sample, statistics as llama-bench computes them.
Logs: llama-bench silences llama.cpp's log unless ``-v``, so the loader lines appear only with
``-v`` and progress lines only with ``--progress``; load errors (bad magic, unknown architecture,
memory) are printed always, unlike the real tool, so that a failure says why. Memory: the
``/proc/<pid>/status`` footprint is simulated as llama.cpp's would be (the GGUF's bytes, mapped,
plus the KV cache and a compute buffer), not the host process's.

Other departures from the real tool, each for the host's sake: the warm-up runs the whole test
once (ONNX Runtime allocates per cache length, llama-bench warms up with one token); a test whose
prompt + generation + depth exceeds the model's context fails to create its context (the
generated decoder's rotary tables end there; llama.cpp would only warn).
"""

from __future__ import annotations

import itertools
import math
import os
import posixpath
import re
import struct
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from devices.sim.cmdio import Invocation
from devices.sim.tools.common import Crashed, ToolRun, g, program

NAME = "llama-bench"
BASE_KB, BASE_FILE_KB = 7_168, 4_608
"""Simulated footprint of the tool itself before it loads a model (its code and heap)."""
BUILD_COMMIT, BUILD_NUMBER = "6a8cf8914", 6733
"""The build this emulation imitates (the one of the Snapdragon README's sample)."""
DEFAULT_MODEL = "models/7B/ggml-model-q4_0.gguf"
HTP_ARCHS = ("v73", "v75", "v79", "v81")
HTP_MIB = 2048  # what one Hexagon session reports as its memory
OUTPUT_FORMATS = ("none", "csv", "json", "jsonl", "md", "sql")
CACHE_TYPES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32,
               "q4_1": 20 / 32, "q5_0": 22 / 32, "q5_1": 24 / 32, "iq4_nl": 18 / 32}
"""KV cache types ``-ctk/-ctv`` take, and their bytes per value."""
GGML_PRECISION = {"F32": "fp32", "F16": "fp16", "Q8_0": "int8", "Q4_0": "int4"}
FTYPE_NAMES = {"F32": "all F32", "Q4_K_M": "Q4_K - Medium", "Q4_K_S": "Q4_K - Small",
               "Q5_K_M": "Q5_K - Medium", "Q5_K_S": "Q5_K - Small", "Q3_K_S": "Q3_K - Small",
               "Q3_K_M": "Q3_K - Medium", "Q3_K_L": "Q3_K - Large", "Q2_K": "Q2_K - Medium",
               "IQ4_NL": "IQ4_NL - 4.5 bpw"}
"""GGUF file types as ``llama_model_ftype_name`` spells them (others as they are)."""
CTX_PAD = 256  # llama_context pads n_ctx to a multiple of this

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


# --- the command line --------------------------------------------------------------------------

class InvalidParam(Exception):
    """``error: invalid parameter for argument: ARG`` (after ``error: DETAIL`` when there is
    one), the usage, exit 1."""

    def __init__(self, arg: str, detail: str = ""):
        super().__init__(detail)
        self.arg, self.detail = arg, detail


class Exit(Exception):
    """``-h`` / ``--list-devices``: the tool prints and exits with this status."""

    def __init__(self, code: int):
        self.code = code


@dataclass(frozen=True)
class Device:
    """A non-CPU ggml device of the phone, as the Snapdragon build registers it."""

    name: str  # GPUOpenCL, HTP0
    description: str
    backend: str  # the ``backends`` value: OpenCL, HTP
    unit: str  # gpu | npu: what the physics sees busy
    mib: int


def phone_devices(profile) -> list[Device]:
    """The GPU-type devices llama.cpp finds on this phone (see the module's docstring)."""
    acc = profile.accelerators or {}
    devices = []
    gpu = str(acc.get("gpu") or "")
    if m := re.search(r"Adreno\D*(\d+)", gpu):
        devices.append(Device("GPUOpenCL", f"QUALCOMM Adreno(TM) {m.group(1)}", "OpenCL", "gpu",
                              profile.mem_total_kb // 1024))
    if str(acc.get("htp_arch") or "") in HTP_ARCHS:
        devices.append(Device("HTP0", "Hexagon", "HTP", "npu", HTP_MIB))
    return devices


@dataclass
class Params:
    """llama-bench's ``cmd_params``: every test parameter is a list (values are combined)."""

    model: list[str] = field(default_factory=list)
    n_prompt: list[int] = field(default_factory=list)
    n_gen: list[int] = field(default_factory=list)
    n_pg: list[tuple[int, int]] = field(default_factory=list)
    n_depth: list[int] = field(default_factory=list)
    n_batch: list[int] = field(default_factory=list)
    n_ubatch: list[int] = field(default_factory=list)
    type_k: list[str] = field(default_factory=list)
    type_v: list[str] = field(default_factory=list)
    n_threads: list[int] = field(default_factory=list)
    cpu_mask: list[str] = field(default_factory=list)
    cpu_strict: list[bool] = field(default_factory=list)
    poll: list[int] = field(default_factory=list)
    n_gpu_layers: list[int] = field(default_factory=list)
    split_mode: list[str] = field(default_factory=list)
    main_gpu: list[int] = field(default_factory=list)
    no_kv_offload: list[bool] = field(default_factory=list)
    flash_attn: list[int] = field(default_factory=list)
    devices: list[tuple[Device, ...] | None] = field(default_factory=list)  # None: auto
    use_mmap: list[bool] = field(default_factory=list)
    embeddings: list[bool] = field(default_factory=list)
    no_op_offload: list[bool] = field(default_factory=list)
    no_host: list[bool] = field(default_factory=list)
    reps: int = 5
    prio: int = 0
    delay: int = 0
    verbose: bool = False
    progress: bool = False
    no_warmup: bool = False
    output: str = "md"
    output_err: str = "none"
    default_threads: int = 1  # the phone's cores: -t's default


def defaults(threads: int) -> dict[str, list]:
    """``cmd_params_defaults`` (threads: the phone's cores)."""
    return {"model": [DEFAULT_MODEL], "n_prompt": [512], "n_gen": [128], "n_pg": [],
            "n_depth": [0], "n_batch": [2048], "n_ubatch": [512], "type_k": ["f16"],
            "type_v": ["f16"], "n_threads": [threads], "cpu_mask": ["0x0"],
            "cpu_strict": [False], "poll": [50], "n_gpu_layers": [-1], "split_mode": ["layer"],
            "main_gpu": [0], "no_kv_offload": [False], "flash_attn": [-1], "devices": [None],
            "use_mmap": [True], "embeddings": [False], "no_op_offload": [False],
            "no_host": [False]}


INT_LISTS = {"-p": "n_prompt", "--n-prompt": "n_prompt", "-n": "n_gen", "--n-gen": "n_gen",
             "-d": "n_depth", "--n-depth": "n_depth", "-b": "n_batch", "--batch-size": "n_batch",
             "-ub": "n_ubatch", "--ubatch-size": "n_ubatch", "-t": "n_threads",
             "--threads": "n_threads", "--poll": "poll", "-mg": "main_gpu",
             "--main-gpu": "main_gpu", "-ngl": "n_gpu_layers", "--n-gpu-layers": "n_gpu_layers"}
BOOL_LISTS = {"--cpu-strict": "cpu_strict", "-nkvo": "no_kv_offload",
              "--no-kv-offload": "no_kv_offload", "-mmp": "use_mmap", "--mmap": "use_mmap",
              "-embd": "embeddings", "--embeddings": "embeddings", "-nopo": "no_op_offload",
              "--no-op-offload": "no_op_offload", "--no-host": "no_host"}
CHOICE_LISTS = {"-ctk": "type_k", "--cache-type-k": "type_k", "-ctv": "type_v",
                "--cache-type-v": "type_v", "-sm": "split_mode", "--split-mode": "split_mode",
                "-fa": "flash_attn", "--flash-attn": "flash_attn"}
FLASH_ATTN = {"on": 1, "enabled": 1, "true": 1, "1": 1, "off": 0, "disabled": 0, "false": 0,
              "0": 0, "auto": -1, "-1": -1}
INTS = {"-r": "reps", "--repetitions": "reps", "--prio": "prio", "--delay": "delay"}
SWITCHES = {"-v": "verbose", "--verbose": "verbose", "--progress": "progress",
            "--no-warmup": "no_warmup"}
RANGE = re.compile(r"(\d+)(?:-(\d+)(?:([+|*])(\d+))?)?(?:,|$)")
RANGE_NEG = re.compile(r"(-?\d+)(?:-(\d+)(?:([+|*])(\d+))?)?(?:,|$)")


def parse_int_range(text: str, allow_negative: bool = False) -> list[int]:
    """``first[-last[(+|*)step]]``, comma-separated, as llama-bench's ``parse_int_range``."""
    pattern, pos, out = RANGE_NEG if allow_negative else RANGE, 0, []
    while pos < len(text) and (m := pattern.match(text, pos)):
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        op, step = m.group(3) or "+", int(m.group(4)) if m.group(4) is not None else 1
        i = first
        while i <= last:
            out.append(i)
            nxt = i + step if op == "+" else i * step if op == "*" else None
            if nxt is None:
                raise ValueError("invalid range format")
            if nxt <= i:
                raise ValueError("invalid range")
            i = nxt
        pos = m.end()
    if pos != len(text):
        raise ValueError("invalid range format")
    return out


def _stoi(text: str) -> int:
    m = re.match(r"\s*[-+]?\d+", text)
    if not m:
        raise ValueError("stoi")
    return int(m.group())


def _bool(text: str) -> bool:
    """``std::istringstream >> bool``: 0 or 1 (another number: true; not a number: false)."""
    m = re.match(r"\s*[-+]?\d+", text)
    return bool(m and int(m.group()))


def parse(args: list[str], devices: list[Device], threads: int) -> Params:
    """``parse_cmd_params``: raises InvalidParam (or Exit for -h / --list-devices)."""
    p = Params(default_threads=threads)
    rest = iter(args)
    for arg in rest:
        if arg.startswith("--"):
            arg = arg.replace("_", "-")  # as llama-bench: --n_prompt is --n-prompt

        def value(arg: str = arg) -> str:
            try:
                return next(rest)
            except StopIteration:
                raise InvalidParam(arg) from None

        try:
            if arg in ("-h", "--help"):
                raise Exit(0)
            if arg == "--list-devices":
                raise Exit(-1)
            if arg in ("-m", "--model"):
                p.model += value().split(",")
            elif arg in ("-C", "--cpu-mask"):
                p.cpu_mask += value().split(",")
            elif arg in INT_LISTS:
                getattr(p, INT_LISTS[arg]).extend(
                    parse_int_range(value(), allow_negative=INT_LISTS[arg] == "n_gpu_layers"))
            elif arg in BOOL_LISTS:
                getattr(p, BOOL_LISTS[arg]).extend(_bool(v) for v in value().split(","))
            elif arg in CHOICE_LISTS:
                name = CHOICE_LISTS[arg]
                choices = {"flash_attn": FLASH_ATTN,
                           "split_mode": {m: m for m in ("none", "layer", "row")}}.get(
                               name, {t: t for t in CACHE_TYPES})
                values = value().split(",")
                if any(v not in choices for v in values):
                    raise InvalidParam(arg)
                getattr(p, name).extend(choices[v] for v in values)
            elif arg == "-pg":
                pair = value().split(",")
                if len(pair) != 2:
                    raise InvalidParam(arg)
                p.n_pg.append((_stoi(pair[0]), _stoi(pair[1])))
            elif arg in ("-dev", "--device"):
                for combo in value().split(","):
                    try:
                        p.devices.append(_devices_arg(combo, devices))
                    except ValueError as exc:
                        raise InvalidParam(arg, str(exc)) from None
            elif arg in INTS:
                setattr(p, INTS[arg], _stoi(value()))
            elif arg in ("-o", "--output", "-oe", "--output-err"):
                fmt = value()
                if fmt not in OUTPUT_FORMATS:
                    raise InvalidParam(arg)
                setattr(p, "output" if arg in ("-o", "--output") else "output_err", fmt)
            elif arg in SWITCHES:
                setattr(p, SWITCHES[arg], True)
            elif arg == "--numa":
                if value() not in ("distribute", "", "isolate", "numactl"):
                    raise InvalidParam(arg)
            else:
                raise InvalidParam(arg)
        except ValueError as exc:  # std::stoi / parse_int_range threw: "error: WHAT" first
            raise InvalidParam(arg, str(exc)) from None
    for name, default in defaults(threads).items():
        if not getattr(p, name):
            setattr(p, name, list(default))
    return p


def _devices_arg(value: str, devices: list[Device]) -> tuple[Device, ...] | None:
    """``parse_devices_arg``: ``auto`` (None), ``none`` (no device) or names joined by ``/``."""
    value = value.strip()
    if not value:
        raise ValueError("no devices specified")
    if value == "auto":
        return None
    names = [n.strip() for n in value.split("/")]
    if names == ["none"]:
        return ()
    by_name = {d.name: d for d in devices}
    found = []
    for name in names:
        if not name:
            raise ValueError("invalid device specification")
        if name not in by_name:
            raise ValueError(f"invalid device: {name}")
        found.append(by_name[name])
    return tuple(found)


def usage(argv0: str, threads: int) -> str:
    d = defaults(threads)
    opts = [("-h, --help", ""),
            ("--numa <distribute|isolate|numactl>", "numa mode (default: disabled)"),
            ("-r, --repetitions <n>", "number of times to repeat each test (default: 5)"),
            ("--prio <0|1|2|3>", "process/thread priority (default: 0)"),
            ("--delay <0...N> (seconds)", "delay between each test (default: 0)"),
            ("-o, --output <csv|json|jsonl|md|sql>",
             "output format printed to stdout (default: md)"),
            ("-oe, --output-err <csv|json|jsonl|md|sql>",
             "output format printed to stderr (default: none)"),
            ("--list-devices", "list available devices and exit"),
            ("-v, --verbose", "verbose output"),
            ("--progress", "print test progress indicators"),
            ("--no-warmup", "skip warmup runs before benchmarking")]
    tests = [("-m, --model <filename>", DEFAULT_MODEL), ("-p, --n-prompt <n>", "512"),
             ("-n, --n-gen <n>", "128"), ("-pg <pp,tg>", ""), ("-d, --n-depth <n>", "0"),
             ("-b, --batch-size <n>", "2048"), ("-ub, --ubatch-size <n>", "512"),
             ("-ctk, --cache-type-k <t>", "f16"), ("-ctv, --cache-type-v <t>", "f16"),
             ("-t, --threads <n>", str(d["n_threads"][0])), ("-C, --cpu-mask <hex,hex>", "0x0"),
             ("--cpu-strict <0|1>", "0"), ("--poll <0...100>", "50"),
             ("-ngl, --n-gpu-layers <n>", "-1"), ("-sm, --split-mode <none|layer|row>", "layer"),
             ("-mg, --main-gpu <i>", "0"), ("-nkvo, --no-kv-offload <0|1>", "0"),
             ("-fa, --flash-attn <on|off|auto>", "auto"),
             ("-dev, --device <dev0/dev1/...>", "auto"), ("-mmp, --mmap <0|1>", "1"),
             ("-embd, --embeddings <0|1>", "0"), ("-nopo, --no-op-offload <0|1>", "0"),
             ("--no-host <0|1>", "0")]
    lines = [f"usage: {argv0} [options]", "", "options:"]
    lines += [f"  {flag:<42}{text}".rstrip() for flag, text in opts]
    lines += ["", "test parameters:"]
    lines += [f"  {flag:<42}(default: {text})" for flag, text in tests]
    lines += ["", "Multiple values can be given for each parameter by separating them with ','",
              "or by specifying the parameter multiple times. Ranges can be given as",
              "'first-last' or 'first-last+step' or 'first-last*mult'."]
    return "\n".join(lines) + "\n"


def list_devices(devices: list[Device]) -> str:
    """``--list-devices`` (common_print_available_devices): the non-CPU devices."""
    lines = ["Available devices:"]
    lines += [f"  {d.name}: {d.description} ({d.mib} MiB, {d.mib} MiB free)" for d in devices]
    return "\n".join(lines if devices else [*lines, "  (none)"]) + "\n"


# --- tests -------------------------------------------------------------------------------------

TEST_PARAMS = ("n_gpu_layers", "split_mode", "main_gpu", "devices", "use_mmap", "embeddings",
               "no_op_offload", "no_host", "n_batch", "n_ubatch", "type_k", "type_v",
               "no_kv_offload", "flash_attn", "n_threads", "cpu_mask", "cpu_strict", "n_depth",
               "poll")
"""The order in which llama-bench combines the parameters (the model first), so that a model
is loaded as few times as possible."""


def instances(p: Params) -> list[dict]:
    """``get_cmd_params_instances``: every combination, then pp, tg and pg tests."""
    out = []
    for model in p.model:
        for combo in itertools.product(*(getattr(p, name) for name in TEST_PARAMS)):
            base = {"model": model, **dict(zip(TEST_PARAMS, combo, strict=True))}
            out += [{**base, "n_prompt": n, "n_gen": 0} for n in p.n_prompt if n]
            out += [{**base, "n_prompt": 0, "n_gen": n} for n in p.n_gen if n]
            out += [{**base, "n_prompt": pp, "n_gen": tg} for pp, tg in p.n_pg if pp or tg]
    return out


def placement(inst: dict, devices: list[Device], layers: int | None
              ) -> tuple[tuple[Device, ...], float]:
    """The devices a test offloads to and the share of the layers they get (llama.cpp counts
    the output layer too: ``-ngl`` of ``layers + 1`` offloads everything; negative: all)."""
    chosen = devices[:1] if inst["devices"] is None else inst["devices"]
    ngl = inst["n_gpu_layers"]
    if not chosen or ngl == 0:
        return (), 0.0
    if layers is None or ngl < 0:
        return chosen, 1.0
    return chosen, min(ngl, layers + 1) / (layers + 1)


def backend_name(used: tuple[Device, ...]) -> str:
    return ",".join(dict.fromkeys(d.backend for d in used)) or "CPU"


def test_name(n_prompt: int, n_gen: int, n_depth: int) -> str:
    if n_prompt > 0 and n_gen == 0:
        name = f"pp{n_prompt}"
    elif n_gen > 0 and n_prompt == 0:
        name = f"tg{n_gen}"
    else:
        name = f"pp{n_prompt}+tg{n_gen}"
    return f"{name} @ d{n_depth}" if n_depth > 0 else name


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


# --- the model ---------------------------------------------------------------------------------

class LoadFailed(Exception):
    """The model did not load: the log lines to print before ``main: error: failed to load
    model``."""

    def __init__(self, lines: list[str]):
        self.lines = lines


@dataclass
class Model:
    arg: str
    info: object  # workloads.gguf_files.GgufInfo
    file_bytes: int
    precision: str  # the decoder timed on the host
    onnx: Path
    sessions: dict = field(default_factory=dict)

    @property
    def config(self):
        return self.info.config

    @property
    def model_type(self) -> str:
        """``llama_model_desc``: architecture, size, file type (``llama 15M Q4_0``). Real
        llama.cpp names only the sizes of shapes it knows (else ``?B``); this names every size
        from the parameter count."""
        params = self.info.params
        if params < 1e6:
            size = f"{params / 1e3:.0f}K"
        elif params < 1e9:
            size = f"{params / 1e6:.0f}M"
        else:
            size = f"{params / 1e9:.1f}".rstrip("0").rstrip(".") + "B"
        ftype = self.info.file_type or "unknown"
        return f"{self.info.architecture} {size} {FTYPE_NAMES.get(ftype, ftype)}"


def _fail(first: list[str], what: str) -> LoadFailed:
    return LoadFailed([*first, f"llama_model_load: error loading model: {what}",
                       "llama_model_load_from_file_impl: failed to load model"])


def read_model(arg: str, host: Path | None) -> tuple[object, int, tuple[int, int, int]]:
    """The GGUF header, or LoadFailed with llama.cpp's lines."""
    from harness.errors import WorkloadError
    from workloads.gguf_files import read_gguf

    loader = f"llama_model_loader: failed to load model from {arg}"
    if host is None or not host.is_file():
        raise _fail([f"gguf_init_from_file: failed to open GGUF file '{arg}'"], loader)
    with open(host, "rb") as fh:
        head = fh.read(24)
    if head[:4] != b"GGUF":
        magic = "".join(chr(b) if 32 <= b < 127 else "?" for b in head[:4])
        raise _fail([f"gguf_init_from_file_impl: invalid magic characters: '{magic}', "
                          "expected 'GGUF'"], loader)
    try:
        info = read_gguf(host)
    except WorkloadError as exc:
        reason = str(exc).replace(str(host), arg)
        raise _fail([f"gguf_init_from_file_impl: {reason}"], loader) from None
    version, tensors, kvs = struct.unpack_from("<IQQ", head, 4) if len(head) >= 24 else (3, 0, 0)
    if info.architecture != "llama":  # the simulation runs llama models only
        raise _fail([], "error loading model architecture: unknown model architecture: "
                             f"'{info.architecture}' (the simulated llama-bench runs llama "
                             "models only)")
    if info.config is None:
        raise _fail([], "error loading model hyperparameters: the llama.* keys of this "
                             "GGUF do not describe a decoder (layers, heads, sizes, context)")
    return info, host.stat().st_size, (version, tensors, kvs)


# --- the tool ----------------------------------------------------------------------------------

def main(inv: Invocation, run: ToolRun) -> int:
    profile = inv.userland.profile
    devices = phone_devices(profile)
    try:
        params = parse(inv.args, devices, profile.cpu_count)
    except Exit as exc:
        if exc.code < 0:
            inv.out(list_devices(devices))
            return 0
        inv.out(usage(inv.argv[0], profile.cpu_count))
        return exc.code
    except InvalidParam as exc:
        if exc.detail:
            inv.err(f"error: {exc.detail}\n")
        inv.err(f"error: invalid parameter for argument: {exc.arg}\n")
        inv.out(usage(inv.argv[0], profile.cpu_count))
        return 1
    return Bench(inv, run, params, devices).run()


class Bench:
    def __init__(self, inv: Invocation, run: ToolRun, params: Params, devices: list[Device]):
        self.inv, self.run_, self.params, self.devices = inv, run, params, devices
        self.userland = inv.userland
        self.profile = self.userland.profile
        self.models: dict[str, Model] = {}

    def log(self, line: str) -> None:
        """llama.cpp's log: llama-bench silences it unless ``-v``."""
        if self.params.verbose:
            self.inv.err(line + "\n")

    def progress(self, line: str) -> None:
        if self.params.progress:
            self.inv.err(f"llama-bench: {line}\n")

    def run(self) -> int:
        p = self.params
        tests = instances(p)
        printers = []
        if p.output != "none":
            printers.append(PRINTERS[p.output](self.inv.out))
        if p.output_err != "none":
            printers.append(PRINTERS[p.output_err](self.inv.err))
        all_cpu = all(not placement(t, self.devices, None)[0] for t in tests)
        for printer in printers:
            printer.header(p, all_cpu)
        first = True
        for index, inst in enumerate(tests, 1):
            where = f"benchmark {index}/{len(tests)}"
            self.progress(f"{where}: starting")
            try:
                model = self._model(inst["model"], tests)
            except LoadFailed as exc:
                for line in exc.lines:  # always printed: see the module's docstring
                    self.inv.err(line + "\n")
                self.inv.err(f"main: error: failed to load model '{inst['model']}'\n")
                return 1  # llama-bench stops at the first model it cannot load (no footer)
            if first and self.run_.faults.hang:
                self.run_.hang()
            problem = self._context_problem(inst, model)
            if problem:
                self.inv.err(f"llama_init_from_model: {problem}\n")
                self.inv.err(f"main: error: failed to create context with model "
                             f"'{inst['model']}'\n")
                return 1  # and at the first context it cannot create
            if first and self.run_.faults.crash:
                raise Crashed()
            first = False
            result = self._test(inst, model, where)
            for printer in printers:
                printer.test(result)
        for printer in printers:
            printer.footer()
        return 0

    # --- model and context ---------------------------------------------------------------------

    def _model(self, arg: str, tests: list[dict]) -> Model:
        if arg in self.models:
            return self.models[arg]
        from harness.errors import WorkloadError
        from workloads.llm_models import GeneratedDecoder, check_fits

        host = self.userland.fs.host_path(self.inv.path(arg))
        info, size, (version, n_tensors, n_kv) = read_model(arg, host)
        config = info.config
        ftype = info.file_type or ""
        precision = GGML_PRECISION.get(ftype)
        if precision is None:
            precision = "int4"
            self.inv.err(f"llama-bench (simulated): no generated decoder has the file type "
                         f"{ftype or 'of this file'}; timing an int4 decoder of the same shape\n")
        tokens = max(t["n_prompt"] + t["n_gen"] + t["n_depth"] for t in tests
                     if t["model"] == arg)
        name = posixpath.basename(arg) or arg
        self.log(f"llama_model_loader: loaded meta data with {n_kv} key-value pairs and "
                 f"{n_tensors} tensors from {arg} (version GGUF V{version} (latest))")
        self.log(f"print_info: file type   = {FTYPE_NAMES.get(ftype, ftype or 'unknown')}")
        self.log(f"print_info: file size   = {size / 2**20:.2f} MiB "
                 f"({size * 8 / max(info.params, 1):.2f} BPW)")
        for key, value in (("arch", info.architecture), ("n_ctx_train", config.context),
                           ("n_embd", config.hidden), ("n_layer", config.layers),
                           ("n_head", config.heads), ("n_head_kv", config.kv_heads),
                           ("n_ff", config.intermediate), ("n_vocab", config.vocab)):
            self.log(f"print_info: {key:<16} = {value}")
        self.log(f"print_info: model params     = {info.params / 1e6:.2f} M")
        try:
            check_fits(name, config, precision, tokens)
            onnx = GeneratedDecoder(f"llama-bench:{name}", config, precision,
                                    tokens=tokens).materialize()
        except WorkloadError as exc:  # too large for this machine's memory
            raise _fail([f"ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate "
                         f"buffer of size {size}", f"llama-bench (simulated): {exc}"],
                        "unable to allocate CPU_Mapped buffer") from None
        model = Model(arg, info, size, precision, onnx)
        mapped_kb = size // 1024
        self.run_.proc.update(BASE_KB + mapped_kb, BASE_FILE_KB + mapped_kb)
        self.models[arg] = model
        return model

    @staticmethod
    def _context_problem(inst: dict, model: Model) -> str | None:
        """Why llama_init_from_model would fail for this test, or None. The generated decoder's
        rotary tables hold the model's context, so the simulation cannot go past it (llama.cpp
        would only warn)."""
        n_ctx = inst["n_prompt"] + inst["n_gen"] + inst["n_depth"]
        if n_ctx > model.config.context:
            return (f"n_ctx = {n_ctx} (prompt {inst['n_prompt']} + gen {inst['n_gen']} + "
                    f"depth {inst['n_depth']}) is larger than the model's context "
                    f"n_ctx_train = {model.config.context}; the simulated phone cannot run "
                    "past it")
        if inst["type_v"] not in ("f32", "f16", "bf16") and inst["flash_attn"] == 0:
            return "V cache quantization requires flash_attn"
        return None

    def _decoder(self, model: Model, threads: int):
        from harness.llm_loop import Decoder

        host_threads = max(1, min(threads, os.cpu_count() or 1))
        if host_threads not in model.sessions:
            model.sessions[host_threads] = Decoder.open(model.onnx, host_threads)
        return model.sessions[host_threads]

    # --- one test ------------------------------------------------------------------------------

    def _test(self, inst: dict, model: Model, where: str) -> Result:
        p, config = self.params, model.config
        used, share = placement(inst, self.devices, config.layers)
        if used:
            offloaded = round(share * (config.layers + 1))
            self.log(f"load_tensors: offloaded {offloaded}/{config.layers + 1} layers to GPU")
        values = self._values(inst, model, used)
        n_ctx = inst["n_prompt"] + inst["n_gen"] + inst["n_depth"]
        padded = -(-n_ctx // CTX_PAD) * CTX_PAD
        kv = config.layers * config.kv_dim * padded * (CACHE_TYPES[inst["type_k"]]
                                                       + CACHE_TYPES[inst["type_v"]])
        ubatch = max(1, min(inst["n_ubatch"], max(inst["n_prompt"], 1)))
        compute = ubatch * (config.vocab + 4 * config.hidden + 2 * config.intermediate) * 4
        self.log(f"llama_kv_cache: size = {kv / 2**20:7.2f} MiB ({padded:6d} cells, "
                 f"{config.layers:3d} layers,  1/1 seqs), K ({inst['type_k']}), "
                 f"V ({inst['type_v']})")
        mapped_kb = model.file_bytes // 1024 if inst["use_mmap"] else 0
        self.run_.proc.update(BASE_KB + (model.file_bytes + int(kv) + compute) // 1024,
                              BASE_FILE_KB + mapped_kb, inst["n_threads"] + 1)
        decoder = self._decoder(model, inst["n_threads"])
        if p.delay:
            self.run_.sleep(p.delay)
        threads = min(inst["n_threads"], self.profile.cpu_count)
        gpu = sum(share / len(used) for d in used if d.unit == "gpu")
        npu = sum(share / len(used) for d in used if d.unit == "npu")
        cores = max(threads * (1 - share), 0.2) if used else threads
        samples: list[int] = []
        with self.userland.physics.load(cores=cores, gpu=gpu, npu=npu):
            if not p.no_warmup:
                self._warmup(decoder, inst, config.vocab, where)
            for rep in range(p.reps):
                self.run_.check()
                samples.append(self._repetition(decoder, inst, config.vocab, rep, where))
        self.run_.proc.update(BASE_KB + model.file_bytes // 1024, BASE_FILE_KB + mapped_kb)
        return Result(values, samples)

    def _values(self, inst: dict, model: Model, used: tuple[Device, ...]) -> dict:
        devs = inst["devices"]
        stamp = datetime.fromtimestamp(self.userland.epoch_s(), timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        return {"build_commit": BUILD_COMMIT, "build_number": BUILD_NUMBER,
                "cpu_info": cpu_info(self.profile),
                "gpu_info": ", ".join(d.description for d in self.devices),
                "backends": backend_name(used), "model_filename": inst["model"],
                "model_type": model.model_type, "model_size": model.file_bytes,
                "model_n_params": model.info.params, "n_batch": inst["n_batch"],
                "n_ubatch": inst["n_ubatch"], "n_threads": inst["n_threads"],
                "cpu_mask": inst["cpu_mask"], "cpu_strict": inst["cpu_strict"],
                "poll": inst["poll"], "type_k": inst["type_k"], "type_v": inst["type_v"],
                "n_gpu_layers": inst["n_gpu_layers"], "n_cpu_moe": 0,
                "split_mode": inst["split_mode"], "main_gpu": inst["main_gpu"],
                "no_kv_offload": inst["no_kv_offload"], "flash_attn": inst["flash_attn"],
                "devices": "auto" if devs is None else "/".join(d.name for d in devs) or "none",
                "tensor_split": "0.00", "tensor_buft_overrides": "none",
                "use_mmap": inst["use_mmap"], "use_direct_io": False,
                "embeddings": inst["embeddings"], "no_op_offload": int(inst["no_op_offload"]),
                "no_host": inst["no_host"], "repack": True, "fit_target": 0, "fit_min_ctx": 0,
                "n_prompt": inst["n_prompt"], "n_gen": inst["n_gen"],
                "n_depth": inst["n_depth"], "test_time": stamp}

    # --- the work, through harness.llm_loop ----------------------------------------------------

    def _warmup(self, decoder, inst: dict, vocab: int, where: str) -> None:
        """The warm-up: one untimed repetition of the whole test. (llama-bench runs the prompt
        once and generates one token; ONNX Runtime on the host allocates for each new cache
        length, so one token would leave the first timed generation several times slower.)"""
        if inst["n_prompt"] > 0:
            self.progress(f"{where}: warmup prompt run")
        if inst["n_gen"] > 0:
            self.progress(f"{where}: warmup generation run")
        self._repetition(decoder, inst, vocab, -1, where, quiet=True)

    def _repetition(self, decoder, inst: dict, vocab: int, rep: int, where: str,
                    quiet: bool = False) -> int:
        """The nanoseconds llama-bench times in one repetition: the prompt (``n_prompt``
        tokens, in batches of ``n_batch``) then ``n_gen`` single-token decodes, after filling
        the cache to ``n_depth`` (untimed)."""
        from harness.llm_loop import generate, prompt_ids

        n_prompt, n_gen, depth = inst["n_prompt"], inst["n_gen"], inst["n_depth"]
        seed = 1000 + rep
        for what, n in (("depth", depth), ("prompt", n_prompt), ("generation", n_gen)):
            if n and not quiet:
                self.progress(f"{where}: {what} run {rep + 1}/{self.params.reps}")
        if depth == 0 and n_prompt <= inst["n_batch"]:
            if n_prompt:  # pp, or pp+tg: the prompt then n_gen decode steps
                gen = generate(decoder, prompt_ids(vocab, n_prompt, seed), n_gen)
                return gen.prefill_ns + sum(gen.step_ns)
            # tg from an empty cache: n_gen one-token decodes, the first one a 1-token prefill
            gen = generate(decoder, prompt_ids(vocab, 1, seed), n_gen - 1)
            return gen.prefill_ns + sum(gen.step_ns)
        if n_prompt == 0 and depth <= inst["n_batch"]:  # tg at depth: fill, then n_gen steps
            gen = generate(decoder, prompt_ids(vocab, depth, seed), n_gen)
            return sum(gen.step_ns)
        # a prompt after a filled cache, or longer than a batch: the cache grows batch by batch
        if depth:
            self._feed(decoder, prompt_ids(vocab, depth, seed + 500), inst["n_batch"])
        ids = prompt_ids(vocab, max(n_prompt, 1), seed)
        t0 = time.perf_counter_ns()
        token = (self._feed(decoder, ids, inst["n_batch"], fresh=not depth) if n_prompt
                 else int(ids[0]))
        for _ in range(n_gen):
            token = decoder.step(token)
        return time.perf_counter_ns() - t0

    @staticmethod
    def _feed(decoder, ids: np.ndarray, n_batch: int, fresh: bool = True) -> int:
        """Run ``ids`` through the decoder in batches of ``n_batch`` (llama-bench's
        ``test_prompt``): the first batch as a prefill when the cache starts empty, the others
        appended to the cache. Returns the next token."""
        n_batch = max(n_batch, 1)
        batches = [ids[i:i + n_batch] for i in range(0, len(ids), n_batch)]
        token = decoder.prefill(batches[0]) if fresh else decoder.extend(batches[0])
        for batch in batches[1:]:
            token = decoder.extend(batch)
        return token


def cpu_info(profile) -> str:
    """The CPU as the profile describes it: the SoC and its cores by type."""
    counts: dict[str, int] = {}
    for cluster in profile.clusters:
        counts[cluster.core] = counts.get(cluster.core, 0) + len(cluster.cpus)
    cores = ", ".join(f"{n}x {core}" for core, n in counts.items())
    return f"{profile.soc_vendor} {profile.soc_name} ({cores})"


command = program(NAME, main, BASE_KB, BASE_FILE_KB)
