"""llama-bench's command line and devices: parsing (``parse_cmd_params``), the usage and
``--list-devices`` texts, the phone's GPU-type devices, and the test instances the parameters
combine into (with each test's placement, backend and name).

The emulated tool itself is ``devices.sim.tools.llama_bench``; its output formats are in
``devices.sim.tools.llama_bench_output``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

DEFAULT_MODEL = "models/7B/ggml-model-q4_0.gguf"
HTP_ARCHS = ("v73", "v75", "v79", "v81")
HTP_MIB = 2048  # what one Hexagon session reports as its memory
OUTPUT_FORMATS = ("none", "csv", "json", "jsonl", "md", "sql")
CACHE_TYPES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32,
               "q4_1": 20 / 32, "q5_0": 22 / 32, "q5_1": 24 / 32, "iq4_nl": 18 / 32}
"""KV cache types ``-ctk/-ctv`` take, and their bytes per value."""


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

