"""Writing a synthetic GGUF: a Llama-architecture model with random weights (see
``workloads.gguf_files`` for what llama.cpp makes of it and for reading GGUF files back)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from npubench.errors import WorkloadError
from npubench.workloads.llm_config import LLM_PRECISIONS, DecoderConfig

GGUF_PRECISIONS = {"fp32": "F32", "fp16": "F16", "int8": "Q8_0", "int4": "Q4_0"}
"""npubench precision -> the GGML type of the weight matrices (and of the embedding table)."""
WEIGHT_STD = 0.02  # standard deviation of the random weights (a usual initialisation)
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")  # ids 0, 1, 2: unknown, begin and end of sequence


def write_gguf(path: Path | str, config: DecoderConfig, precision: str, seed: int = 0) -> None:
    """Write a llama-architecture GGUF with random weights (the same bytes for the same
    arguments): norms F32 (ones), every matrix and the embedding table in the precision's type."""
    import gguf

    if precision not in GGUF_PRECISIONS:
        raise WorkloadError(f"unknown LLM precision {precision!r} for a GGUF file",
                            hint="valid: " + ", ".join(LLM_PRECISIONS))
    config.check("GGUF decoder")
    if config.vocab < len(SPECIAL_TOKENS):
        raise WorkloadError(f"GGUF decoder: a vocabulary of {config.vocab} tokens cannot hold "
                            f"the special tokens {', '.join(SPECIAL_TOKENS)}")
    qtype = gguf.GGMLQuantizationType[GGUF_PRECISIONS[precision]]
    plan = _tensor_plan(config)
    writer = gguf.GGUFWriter(path, "llama")
    try:
        _add_metadata(writer, config, precision, seed)
        for name, shape in plan:
            kind = qtype if len(shape) == 2 else gguf.GGMLQuantizationType.F32
            dtype, byte_shape, nbytes = _stored(shape, kind)
            writer.add_tensor_info(name, byte_shape, dtype, nbytes,
                                   raw_dtype=kind if dtype == np.uint8 else None)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for index, (_, shape) in enumerate(plan):  # in the order of the tensor table
            rng = np.random.default_rng([index, seed % 2**64])
            kind = qtype if len(shape) == 2 else gguf.GGMLQuantizationType.F32
            writer.write_tensor_data(_random_tensor(shape, kind.name, rng))
    finally:
        writer.close()


def _tensor_plan(config: DecoderConfig) -> list[tuple[str, tuple[int, ...]]]:
    """(name, numpy shape) of each tensor, as llama.cpp's llama architecture names them; a
    matrix is (out, in), which the writer stores reversed (GGML's ne = [in, out])."""
    h, kv, ffn, vocab = config.hidden, config.kv_dim, config.intermediate, config.vocab
    plan: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (vocab, h))]
    for n in range(config.layers):
        plan += [(f"blk.{n}.attn_norm.weight", (h,)),
                 (f"blk.{n}.attn_q.weight", (h, h)),
                 (f"blk.{n}.attn_k.weight", (kv, h)),
                 (f"blk.{n}.attn_v.weight", (kv, h)),
                 (f"blk.{n}.attn_output.weight", (h, h)),
                 (f"blk.{n}.ffn_norm.weight", (h,)),
                 (f"blk.{n}.ffn_gate.weight", (ffn, h)),
                 (f"blk.{n}.ffn_up.weight", (ffn, h)),
                 (f"blk.{n}.ffn_down.weight", (h, ffn))]
    plan += [("output_norm.weight", (h,)), ("output.weight", (vocab, h))]
    return plan


def _stored(shape: tuple[int, ...], kind: Any) -> tuple[type, tuple[int, ...], int]:
    """(numpy dtype, numpy shape, bytes) of a tensor as handed to the writer."""
    import gguf

    count = math.prod(shape)
    if kind.name == "F32":
        return np.float32, shape, count * 4
    if kind.name == "F16":
        return np.float16, shape, count * 2
    block, size = gguf.GGML_QUANT_SIZES[kind]
    byte_shape = (*shape[:-1], shape[-1] // block * size)
    return np.uint8, byte_shape, count // block * size


def _random_tensor(shape: tuple[int, ...], kind: str, rng: np.random.Generator) -> np.ndarray:
    """Weights of ``shape`` in GGML type ``kind``; quantized ones as raw blocks of 32 values
    whose dequantized values have a standard deviation of about WEIGHT_STD."""
    if len(shape) == 1:  # RMSNorm weights
        return np.ones(shape, dtype=np.float32)
    count = math.prod(shape)
    if kind == "F16":  # uniform in +-sqrt(3) WEIGHT_STD: 16 random bits looked up
        return _F16_UNIFORM[_random_words(rng, count * 2).view("<u2")[:count]].reshape(shape)
    if kind == "F32":  # the same from the mantissa of floats in [1, 2) (4x faster than
        # standard_normal)
        bits = _random_words(rng, count * 4).view("<u4")[:count]
        bits >>= np.uint32(9)
        bits |= np.uint32(0x3F800000)
        data = bits.view(np.float32).reshape(shape)
        data -= np.float32(1.5)
        data *= np.float32(WEIGHT_STD * math.sqrt(12))
        return data
    rows, cols = shape
    blocks = rows * (cols // 32)
    block_bytes = 34 if kind == "Q8_0" else 18
    words = _random_words(rng, blocks * block_bytes)  # the blocks, scales overwritten below
    if kind == "Q8_0":  # int8 uniform in [-127, 127] (-128 clamped): std 73.6
        np.maximum(words.view(np.int8), -127, out=words.view(np.int8))
        std = 73.6
    else:  # Q4_0: two values a byte, each a nibble q read as q - 8; q = 0 (-8) becomes 8 (0),
        # which keeps them centred (-7..7, 0 twice as likely): std 4.18
        nonzero = words | (words >> np.uint64(1))
        nonzero |= nonzero >> np.uint64(2)  # bit 0 of each nibble: any of its bits set
        nonzero &= _NIBBLE_LOW_BITS
        nonzero ^= _NIBBLE_LOW_BITS
        words |= nonzero << np.uint64(3)
        std = 4.18
    out = words.view(np.uint8)[:blocks * block_bytes]
    # fp16 scales about WEIGHT_STD / std, +-25% (the fp16 bit pattern +-256 ulp)
    jitter = _random_words(rng, blocks * 2).view("<u2")[:blocks] & np.uint16(0x1FF)
    base = np.array(WEIGHT_STD / std, dtype=np.float16).view(np.uint16)
    scales = out.view("<u2").reshape(blocks, block_bytes // 2)
    scales[:, 0] = jitter + (base - np.uint16(256))
    return out.reshape(rows, -1)


_NIBBLE_LOW_BITS = np.uint64(0x1111111111111111)
_F16_UNIFORM = (((np.arange(2**16) + 0.5) / 2**16 - 0.5)
                * (WEIGHT_STD * math.sqrt(12))).astype(np.float16)
"""A uniform fp16 value with standard deviation WEIGHT_STD for each 16-bit number."""


def _random_words(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random 64-bit words holding at least ``count`` bytes: the generator's raw output, 4x
    faster than ``integers()``; little-endian, so that the bytes are the same on any host."""
    return rng.bit_generator.random_raw(-(-count // 8)).astype("<u8", copy=False)


def _add_metadata(writer: Any, config: DecoderConfig, precision: str, seed: int) -> None:
    import gguf

    params = config.param_count()
    writer.add_name(f"npubench synthetic llama {_size_label(params)}")
    writer.add_description(
        f"Synthetic model written by npubench: a Llama-architecture decoder ({params:,} "
        f"parameters, {precision}) with RANDOM weights (seed {seed}). Architecture-real, for "
        "speed and memory measurements only; never a trained model, its text is meaningless.")
    writer.add_file_type(int(gguf.LlamaFileType[_file_type_name(precision)]))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(config.context)
    writer.add_embedding_length(config.hidden)
    writer.add_block_count(config.layers)
    writer.add_feed_forward_length(config.intermediate)
    writer.add_rope_dimension_count(config.head_dim)
    writer.add_head_count(config.heads)
    writer.add_head_count_kv(config.kv_heads)
    writer.add_layer_norm_rms_eps(config.norm_eps)
    writer.add_rope_freq_base(config.rope_theta)
    writer.add_vocab_size(config.vocab)
    tokens, scores, types = _vocabulary(config.vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)


def _size_label(params: int) -> str:
    """1.1B, 125M, 112K: the size part of a model's name."""
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if params >= scale:
            return f"{params / scale:.{1 if params < 10 * scale else 0}f}{unit}"
    return str(params)


def _file_type_name(precision: str) -> str:
    name = GGUF_PRECISIONS[precision]
    return "ALL_F32" if name == "F32" else f"MOSTLY_{name}"


def _vocabulary(vocab: int) -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of a SentencePiece-style vocabulary of ``vocab`` tokens:
    the special tokens, the 256 byte tokens llama.cpp falls back to, then ``tok_N``."""
    from gguf import TokenType

    tokens = [*SPECIAL_TOKENS, *(f"<0x{b:02X}>" for b in range(256))]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] + [TokenType.BYTE] * 256
    tokens += [f"tok_{i}" for i in range(len(tokens), vocab)]
    types += [TokenType.NORMAL] * (vocab - len(types))
    scores = [0.0 if i < 259 else -float(i - 259) for i in range(vocab)]
    return tokens[:vocab], scores, [int(t) for t in types[:vocab]]
