"""Decoder configurations: what a Llama-style decoder-only model is, before it is built.

Pure: shapes and arithmetic only (no onnx, no files). A ``DecoderConfig`` says how many layers,
how wide, how many query and key/value heads, how large the vocabulary and the context; it
checks that such a model can be built, and knows its parameter count, its weight bytes at each
precision and the bytes of its KV cache, so that a model too large for this machine is refused
before it is built.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

from npubench.errors import WorkloadError

LLM_PRECISIONS = ("fp32", "fp16", "int8", "int4")
"""fp32 / fp16 weights and arithmetic; int8: weights int8 per output channel, activations
quantized at run time (ONNX Runtime's DynamicQuantizeMatMul, what ``quantize_dynamic`` makes);
int4: weights in blocks of 32 with one fp32 scale each (``MatMulNBits``, like llama.cpp's
Q4_0). The embedding table of int8/int4 models is fp16, as in llama.cpp's and ORT GenAI's
exports."""

BLOCK_SIZE = 32  # 4-bit weights: values per scale (MatMulNBits block_size; GGUF Q4_0 block)
DEFAULT_PROMPT_TOKENS = 512  # llama-bench's -p default
DEFAULT_GEN_TOKENS = 128  # llama-bench's -n default
RUN_OVERHEAD_BYTES = 256 * 2**20
"""Memory a decoder run needs besides weights and KV cache: the runtime, activations."""
RUNTIMES = ("onnxruntime", "llama.cpp")
"""Where a generated decoder runs: ONNX Runtime on the host (the ONNX form), llama.cpp on a
phone (the GGUF form); their weights and KV cache take different bytes."""
GGUF_BYTES_PER_WEIGHT = {"fp32": 4.0, "fp16": 2.0, "int8": 34 / 32, "int4": 18 / 32}
"""GGML's F32, F16, Q8_0 and Q4_0 (a fp16 scale per block of 32 values)."""


@dataclass(frozen=True)
class DecoderConfig:
    """A Llama-style decoder: RMSNorm, rotary position embedding, grouped-query attention with a
    KV cache, SwiGLU MLP; untied input embedding and output projection."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    context: int
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @classmethod
    def from_mapping(cls, data: dict[str, Any], where: str) -> DecoderConfig:
        """Validate ``data`` (a preset or a user's spec) into a config; errors name the field."""
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise WorkloadError(f"{where}: unknown decoder field(s) {', '.join(sorted(unknown))}",
                                hint="decoder fields: " + ", ".join(known))
        missing = [name for name, f in known.items()
                   if name not in data and f.default is MISSING]
        if missing:
            raise WorkloadError(f"{where}: missing decoder field(s) {', '.join(missing)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            want = float if name in ("rope_theta", "norm_eps") else int
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    (want is int and int(value) != value) or value <= 0:
                raise WorkloadError(f"{where}: {name} must be a positive "
                                    f"{'number' if want is float else 'whole number'}, "
                                    f"not {value!r}")
            values[name] = want(value)
        config = cls(**values)
        config.check(where)
        return config

    def check(self, where: str = "decoder") -> None:
        """Raise a WorkloadError saying which rule a config breaks, if it breaks one."""
        if self.hidden % self.heads:
            raise WorkloadError(
                f"{where}: {self.heads} heads do not divide the hidden size {self.hidden} "
                f"(each head must get hidden/heads dimensions)",
                hint="choose heads so that hidden % heads == 0")
        if self.heads % self.kv_heads:
            raise WorkloadError(
                f"{where}: {self.kv_heads} KV heads do not divide the {self.heads} query heads "
                "(grouped-query attention shares each KV head among heads/kv_heads queries)",
                hint="choose kv_heads so that heads % kv_heads == 0")
        if self.head_dim % 2:
            raise WorkloadError(f"{where}: the head size {self.head_dim} is odd; rotary "
                                "position embedding rotates pairs of dimensions")
        for name in ("hidden", "intermediate"):
            if getattr(self, name) % BLOCK_SIZE:
                raise WorkloadError(f"{where}: {name}={getattr(self, name)} is not a multiple "
                                    f"of {BLOCK_SIZE} (the block of 4-bit weights)")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linear_shapes(self) -> list[tuple[str, int, int]]:
        """(name, in, out) of the matrices of one layer."""
        h, kv, ffn = self.hidden, self.kv_dim, self.intermediate
        return [("q", h, h), ("k", h, kv), ("v", h, kv), ("o", h, h),
                ("gate", h, ffn), ("up", h, ffn), ("down", ffn, h)]

    def param_count(self) -> int:
        per_layer = sum(i * o for _, i, o in self.linear_shapes()) + 2 * self.hidden
        return (self.vocab * self.hidden  # embedding
                + self.layers * per_layer
                + self.hidden  # final norm
                + self.hidden * self.vocab)  # output projection

    def weight_bytes(self, precision: str) -> int:
        """Bytes of the weights as stored in the model at ``precision`` (close to the file)."""
        if precision not in LLM_PRECISIONS:
            raise WorkloadError(f"unknown LLM precision {precision!r}",
                                hint="valid: " + ", ".join(LLM_PRECISIONS))
        matrices = [(i, o) for _, i, o in self.linear_shapes()] * self.layers
        matrices.append((self.hidden, self.vocab))
        norms = (2 * self.layers + 1) * self.hidden
        embed = self.vocab * self.hidden
        if precision in ("fp32", "fp16"):
            size = 4 if precision == "fp32" else 2
            return (sum(i * o for i, o in matrices) + embed + norms) * size
        if precision == "int8":  # int8 weights + one fp32 scale and zero point per column
            linear = sum(i * o + 5 * o for i, o in matrices)
        else:  # 4 bits per weight + one fp32 scale per block of 32
            linear = sum(i * o // 2 + (i // BLOCK_SIZE) * o * 4 for i, o in matrices)
        return linear + embed * 2 + norms * 4

    def gguf_weight_bytes(self, precision: str) -> int:
        """Bytes of the weights in the GGUF form (``workloads.gguf_write``): every matrix and
        the embedding table in the precision's GGML type, the norms F32."""
        if precision not in GGUF_BYTES_PER_WEIGHT:
            raise WorkloadError(f"unknown LLM precision {precision!r}",
                                hint="valid: " + ", ".join(LLM_PRECISIONS))
        matrices = sum(i * o for _, i, o in self.linear_shapes()) * self.layers
        matrices += 2 * self.hidden * self.vocab  # output projection and embedding table
        norms = (2 * self.layers + 1) * self.hidden
        return int(matrices * GGUF_BYTES_PER_WEIGHT[precision]) + norms * 4

    def kv_cache_bytes(self, tokens: int, precision: str, runtime: str = "onnxruntime") -> int:
        """Bytes of the KV cache holding ``tokens`` positions: fp16 for fp16 models in ONNX
        Runtime, fp32 otherwise; always fp16 in llama.cpp (its default cache type)."""
        size = 2 if precision == "fp16" or runtime == "llama.cpp" else 4
        return 2 * self.layers * self.kv_dim * tokens * size

    def prepack_bytes(self, precision: str) -> int:
        """What ONNX Runtime's CPU kernels add to the weights when they pre-pack them at load:
        for int4, MatMulNBits at accuracy_level 4 (int8 compute) keeps one float per block of
        32 weights (the block sums MLAS's int8 kernel needs) beside its packed copy of the
        weights and scales, +4 bytes per 32 weights; nothing counted for the other precisions."""
        if precision != "int4":
            return 0
        matrices = [(i, o) for _, i, o in self.linear_shapes()] * self.layers
        matrices.append((self.hidden, self.vocab))
        return sum((i // BLOCK_SIZE) * o * 4 for i, o in matrices)

    def memory_estimate(self, precision: str, tokens: int,
                        runtime: str = "onnxruntime") -> dict[str, int]:
        """What running needs, in bytes: weights + KV cache + what the runtime adds (its
        pre-packed extras and RUN_OVERHEAD_BYTES); ``run`` is the sum. (Building needs far
        less: the builders write one tensor at a time.)"""
        if runtime not in RUNTIMES:
            raise WorkloadError(f"unknown LLM runtime {runtime!r}", hint=", ".join(RUNTIMES))
        gguf = runtime == "llama.cpp"
        weights = self.gguf_weight_bytes(precision) if gguf else self.weight_bytes(precision)
        kv = self.kv_cache_bytes(tokens, precision, runtime)
        extra = RUN_OVERHEAD_BYTES + (0 if gguf else self.prepack_bytes(precision))
        return {"weights": weights, "kv_cache": kv, "runtime": extra,
                "run": weights + kv + extra}

    def to_record(self) -> dict[str, Any]:
        return {**asdict(self), "head_dim": self.head_dim, "params": self.param_count()}


def memory_fit(config: DecoderConfig, precision: str, tokens: int, runtime: str,
               limit_bytes: int, limit_source: str) -> dict[str, Any]:
    """The memory-fit record of running ``config`` at ``precision`` for ``tokens`` positions
    in ``runtime`` against a device's ``limit_bytes``: the estimate's parts, the limit and where
    it comes from, and whether it fits."""
    estimate = config.memory_estimate(precision, tokens, runtime)
    return {"fits": estimate["run"] <= limit_bytes, "need_bytes": estimate["run"],
            "weights_bytes": estimate["weights"], "kv_cache_bytes": estimate["kv_cache"],
            "runtime_bytes": estimate["runtime"], "limit_bytes": int(limit_bytes),
            "limit_source": limit_source, "runtime": runtime, "tokens": tokens,
            "precision": precision, "params": config.param_count()}


def memory_fit_message(name: str, fit: dict[str, Any]) -> str:
    """What a skipped record says: the model, the estimate's parts and the limit."""
    gib = 2**30
    return (f"{name}: {fit['params'] / 1e9:.2f}B parameters at {fit['precision']} need about "
            f"{fit['need_bytes'] / gib:.1f} GiB to run in {fit['runtime']} (weights "
            f"{fit['weights_bytes'] / gib:.2f} GiB + KV cache {fit['kv_cache_bytes'] / gib:.2f} "
            f"GiB for {fit['tokens']} tokens + runtime {fit['runtime_bytes'] / gib:.2f} GiB), "
            f"more than the {fit['limit_bytes'] / gib:.1f} GiB this device allows "
            f"({fit['limit_source']})")


def check_tokens(config: DecoderConfig, prompt: int, generate: int, where: str) -> None:
    """A prompt and generation that fit the context, or a WorkloadError saying why not."""
    if prompt < 1 or generate < 1:
        raise WorkloadError(f"{where}: prompt and generated tokens must be at least 1 "
                            f"(got prompt={prompt}, generate={generate})")
    if prompt + generate > config.context:
        what = ("the prompt alone" if prompt > config.context else "prompt + generated tokens")
        raise WorkloadError(
            f"{where}: {what} ({prompt} + {generate} = {prompt + generate} tokens) is longer "
            f"than the model's context of {config.context} tokens",
            hint="use a shorter --prompt-tokens / --gen-tokens, or a preset with a longer "
                 "context")


@dataclass(frozen=True)
class LlmSpec:
    """What makes a workload an LLM workload: how long a prompt, how many tokens to generate,
    and (for generated models) the decoder's configuration."""

    prompt_tokens: int = DEFAULT_PROMPT_TOKENS
    gen_tokens: int = DEFAULT_GEN_TOKENS
    config: DecoderConfig | None = None

    def to_record(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "gen_tokens": self.gen_tokens,
                "config": self.config.to_record() if self.config else None}
