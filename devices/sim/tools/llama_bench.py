"""The simulated phone's ``llama-bench`` (llama.cpp's benchmark tool, ``tools/llama-bench``).

It runs for real, on the host: the GGUF file on the phone's storage is read for its header
(``workloads.gguf_files.read_gguf``), a generated ONNX decoder of the same shape and precision
(``workloads.llm_models.GeneratedDecoder``, built once and cached) is opened with ONNX Runtime on
the host CPU, and each test is timed through npubench's own decode loop
(``workloads.llm_loop``): ``pp`` tests time the prompt, ``tg`` tests ``n_gen`` single-token decodes
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

The command line and devices are in ``llama_bench_params``, the statistics and printers in
``llama_bench_output``.
"""

from __future__ import annotations

import os
import posixpath
import struct
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from npubench.devices.sim.cmdio import Invocation
from npubench.devices.sim.slowdown import BACKEND_CLASS, backend_of_llama
from npubench.devices.sim.timing import llm_test_s
from npubench.devices.sim.tools.common import Crashed, ToolRun, program
from npubench.devices.sim.tools.llama_bench_output import (
    BUILD_COMMIT,
    BUILD_NUMBER,
    FIELDS,
    PRINTERS,
    Result,
    avg_f,
    avg_ns,
    stdev_f,
    stdev_ns,
)
from npubench.devices.sim.tools.llama_bench_params import (
    CACHE_TYPES,
    Device,
    Exit,
    InvalidParam,
    Params,
    backend_name,
    instances,
    list_devices,
    parse,
    parse_int_range,
    phone_devices,
    placement,
    usage,
)

__all__ = ["BASE_FILE_KB", "BASE_KB", "FIELDS", "NAME", "Bench", "Device", "avg_f", "avg_ns",
           "command", "cpu_info", "instances", "main", "parse", "parse_int_range", "read_model",
           "stdev_f", "stdev_ns"]

NAME = "llama-bench"
BASE_KB, BASE_FILE_KB = 7_168, 4_608
"""Simulated footprint of the tool itself before it loads a model (its code and heap)."""
GGML_PRECISION = {"F32": "fp32", "F16": "fp16", "Q8_0": "int8", "Q4_0": "int4"}
FTYPE_NAMES = {"F32": "all F32", "Q4_K_M": "Q4_K - Medium", "Q4_K_S": "Q4_K - Small",
               "Q5_K_M": "Q5_K - Medium", "Q5_K_S": "Q5_K - Small", "Q3_K_S": "Q3_K - Small",
               "Q3_K_M": "Q3_K - Medium", "Q3_K_L": "Q3_K - Large", "Q2_K": "Q2_K - Medium",
               "IQ4_NL": "IQ4_NL - 4.5 bpw"}
"""GGUF file types as ``llama_model_ftype_name`` spells them (others as they are)."""
CTX_PAD = 256  # llama_context pads n_ctx to a multiple of this


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
    onnx: Path | None  # None with modeled timing (nothing computed)
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
    from npubench.errors import WorkloadError
    from npubench.workloads.gguf_files import read_gguf

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
        from npubench.errors import WorkloadError
        from npubench.workloads.llm_models import GeneratedDecoder, check_fits

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
        ram = self.profile.mem_total_kb * 1024
        try:
            if size > ram:  # llama.cpp maps the file; a phone cannot hold more than its RAM
                raise WorkloadError(f"{name}: {size / 2**30:.1f} GiB of weights do not fit "
                                    f"the phone's {ram / 2**30:.1f} GiB of RAM")
            onnx = None  # modeled timing waits, computes nothing: no decoder is built
            if not self.userland.timing.modeled:
                check_fits(name, config, precision, tokens)
                onnx = GeneratedDecoder(f"llama-bench:{name}", config, precision,
                                        tokens=tokens).materialize()
        except WorkloadError as exc:  # too large for this machine's (or phone's) memory
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
        from npubench.workloads.llm_loop import Decoder

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
        timing = self.userland.timing
        backend = backend_of_llama(d.unit for d in used)
        modeled = modeled_s = None
        if timing.modeled:  # --timing modeled (devices/sim/timing.py): wait, do not compute
            modeled = timing.run(NAME, f"{inst['model']}:{model.file_bytes}", backend, None)
            unit = BACKEND_CLASS.get(backend, "cpu")
            modeled_s = llm_test_s(
                model.info.params, model.file_bytes,
                kv / padded, inst["n_prompt"], inst["n_gen"], inst["n_depth"],
                timing.spec.llm_tops[unit], timing.spec.memory_bandwidth_gb_s)
        decoder = None if modeled else self._decoder(model, inst["n_threads"])
        if p.delay:
            self.run_.sleep(p.delay)
        threads = min(inst["n_threads"], self.profile.cpu_count)
        gpu = sum(share / len(used) for d in used if d.unit == "gpu")
        npu = sum(share / len(used) for d in used if d.unit == "npu")
        cores = max(threads * (1 - share), 0.2) if used else threads
        samples: list[int] = []
        # the ground-truth slowdown knob (devices/sim/slowdown.py): scales every time measured
        factor = self.userland.slowdown.factor(self.inv.path(inst["model"]),
                                               backend_of_llama(d.unit for d in used), NAME)
        with self.userland.physics.load(cores=cores, gpu=gpu, npu=npu):
            if modeled is not None:
                if not p.no_warmup:
                    self.run_.sleep(modeled.next_s(modeled_s))
                for rep in range(p.reps):
                    self.progress(f"{where}: modeled run {rep + 1}/{p.reps}")
                    wait_s = modeled.next_s(modeled_s)
                    self.run_.sleep(wait_s)
                    samples.append(round(factor * wait_s * 1e9))
            if not p.no_warmup and modeled is None:
                self._warmup(decoder, inst, config.vocab, where)
            for rep in range(p.reps if modeled is None else 0):
                self.run_.check()
                samples.append(round(factor * self._repetition(decoder, inst, config.vocab,
                                                               rep, where)))
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

    # --- the work, through workloads.llm_loop ----------------------------------------------------

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
        from npubench.workloads.llm_loop import generate, prompt_ids

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
