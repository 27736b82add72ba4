"""A Llama-style decoder-only transformer as ONNX, built with ``onnx.helper``.

Architecture (what Llama 2/3, TinyLlama, Qwen2 and the on-device ONNX Runtime GenAI exports
share): token embedding; per layer RMSNorm -> Q/K/V projections -> grouped-query attention with
rotary position embedding and a KV cache (``com.microsoft.GroupQueryAttention``, the kernel ORT
GenAI's CPU models use) -> output projection + residual; RMSNorm -> SwiGLU MLP + residual; final
RMSNorm and the output projection of the last position only (prefill does not pay for logits it
does not use, as in llama.cpp).

Inputs: ``input_ids`` int64 [batch, sequence] and ``past_key_values.N.key/value``
[batch, kv_heads, past, head_dim]; outputs: ``logits`` [batch, 1, vocab] and
``present.N.key/value`` [batch, kv_heads, past + sequence, head_dim]. Positions follow from the
past length, so a decode step feeds the last token and the presents of the previous step.

Weights are random (deterministic from the seed), generated directly at their precision (an
fp32 1B model is never materialised to make its 4-bit copy). Pure apart from ``store``: the
caller decides where each weight's bytes go (inline, or an external data file).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

from npubench.workloads.llm_config import BLOCK_SIZE, LLM_PRECISIONS, DecoderConfig

IR_VERSION = 10
OPSET = 21
MS_OPSET = 1
WEIGHT_STD = 0.02  # Llama's initializer range: activations stay in a sane range

Store = Callable[[str, np.ndarray], TensorProto]
"""Turn a weight into the initializer that holds it (inline, or a reference to external data)."""


def inline(name: str, array: np.ndarray) -> TensorProto:
    return onnx.numpy_helper.from_array(array, name)


def kv_names(layers: int) -> list[tuple[str, str, str, str]]:
    """(past key, past value, present key, present value) input/output names per layer."""
    return [(f"past_key_values.{i}.key", f"past_key_values.{i}.value",
             f"present.{i}.key", f"present.{i}.value") for i in range(layers)]


def build_decoder(config: DecoderConfig, precision: str, seed: int = 0,
                  store: Store = inline) -> onnx.ModelProto:
    """The decoder of ``config`` with random weights at ``precision`` (LLM_PRECISIONS)."""
    if precision not in LLM_PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    config.check()
    b = _Builder(config, precision, seed, store)
    return b.model()


class _Builder:
    def __init__(self, config: DecoderConfig, precision: str, seed: int, store: Store):
        self.c = config
        self.precision = precision
        self.rng = np.random.default_rng(seed)
        self.store = store
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.float = np.float16 if precision == "fp16" else np.float32
        self.onnx_float = TensorProto.FLOAT16 if precision == "fp16" else TensorProto.FLOAT

    # --- graph plumbing --------------------------------------------------------------------

    def node(self, op: str, inputs: list[str], name: str, outputs: int | list[str] = 1,
             domain: str = "", **attrs) -> str | list[str]:
        outs = outputs if isinstance(outputs, list) else [
            name if outputs == 1 else f"{name}_{k}" for k in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=f"{name}_node", domain=domain,
                                           **attrs))
        return outs[0] if len(outs) == 1 else outs

    def weight(self, name: str, array: np.ndarray) -> str:
        self.inits.append(self.store(name, array))
        return name

    def const(self, name: str, array: np.ndarray) -> str:
        self.inits.append(inline(name, array))
        return name

    # --- weights at each precision ---------------------------------------------------------

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        data = self.rng.standard_normal(shape, dtype=np.float32)
        data *= np.float32(WEIGHT_STD)
        return data.astype(self.float, copy=False)

    def linear(self, x: str, name: str, k: int, n: int) -> str:
        """x @ W for W [k, n], stored and computed at the model's precision."""
        if self.precision in ("fp32", "fp16"):
            return self.node("MatMul", [x, self.weight(f"{name}.weight", self.normal((k, n)))],
                             name)
        if self.precision == "int8":
            # uniform int8 in [-127, 127] has std ~73: scale to WEIGHT_STD per output column
            w = self.rng.integers(-127, 128, size=(k, n), dtype=np.int8)
            scale = np.full(n, WEIGHT_STD / 73.3, np.float32)
            zero = np.zeros(n, np.int8)
            return self.node("DynamicQuantizeMatMul",
                             [x, self.weight(f"{name}.weight", w),
                              self.const(f"{name}.scale", scale),
                              self.const(f"{name}.zero_point", zero)],
                             name, domain="com.microsoft")
        # int4: MatMulNBits, B [n, k/32, 16] (two 4-bit values per byte), zero point 8
        blocks = k // BLOCK_SIZE
        packed = self.rng.integers(0, 256, size=(n, blocks, BLOCK_SIZE // 2), dtype=np.uint8)
        scales = np.full(n * blocks, WEIGHT_STD / 4.6, np.float32)  # nibble - 8 has std ~4.6
        return self.node("MatMulNBits",
                         [x, self.weight(f"{name}.weight_q4", packed),
                          self.weight(f"{name}.scales", scales)],
                         name, domain="com.microsoft", K=k, N=n, bits=4,
                         block_size=BLOCK_SIZE, accuracy_level=4)

    def rms_norm(self, x: str, name: str) -> str:
        gamma = self.weight(f"{name}.weight", np.ones(self.c.hidden, self.float))
        return self.node("SimplifiedLayerNormalization", [x, gamma], name, axis=-1,
                         epsilon=self.c.norm_eps, stash_type=1)

    # --- the model -------------------------------------------------------------------------

    def rope_caches(self) -> tuple[str, str]:
        half = self.c.head_dim // 2
        inv_freq = 1.0 / (self.c.rope_theta ** (np.arange(half, dtype=np.float64) * 2
                                                / self.c.head_dim))
        angles = np.outer(np.arange(self.c.context, dtype=np.float64), inv_freq)
        return (self.const("rope.cos_cache", np.cos(angles).astype(self.float)),
                self.const("rope.sin_cache", np.sin(angles).astype(self.float)))

    def lengths(self) -> tuple[str, str]:
        """``seqlens_k`` (total - 1 per batch row, int32) and ``total_sequence_length``."""
        one = self.const("const.one", np.array([1], np.int64))
        two = self.const("const.two", np.array([2], np.int64))
        zero = self.const("const.zero", np.array([0], np.int64))
        ids_shape = self.node("Shape", ["input_ids"], "ids_shape")
        batch = self.node("Gather", [ids_shape, zero], "batch", axis=0)
        seq = self.node("Gather", [ids_shape, one], "seq_len", axis=0)
        past_shape = self.node("Shape", [kv_names(self.c.layers)[0][0]], "past_shape")
        past = self.node("Gather", [past_shape, two], "past_len", axis=0)
        total = self.node("Add", [past, seq], "total_len")
        total32 = self.node("Cast", [total], "total_len_i32", to=TensorProto.INT32)
        total_scalar = self.node("Squeeze", [total32, zero], "total_sequence_length")
        last = self.node("Sub", [total32, self.const("const.one_i32", np.array([1], np.int32))],
                         "last_index")
        seqlens = self.node("Expand", [last, batch], "seqlens_k")
        return seqlens, total_scalar

    def model(self) -> onnx.ModelProto:
        c = self.c
        embed = self.normal((c.vocab, c.hidden))
        if self.precision in ("int8", "int4"):
            embed = embed.astype(np.float16)
        x = self.node("Gather", [self.weight("embed_tokens.weight", embed), "input_ids"],
                      "embed", axis=0)
        if embed.dtype != self.float:
            x = self.node("Cast", [x], "embed_float", to=self.onnx_float)
        seqlens, total = self.lengths()
        cos, sin = self.rope_caches()
        for i, (past_k, past_v, present_k, present_v) in enumerate(kv_names(c.layers)):
            p = f"layers.{i}"
            h = self.rms_norm(x, f"{p}.input_layernorm")
            q = self.linear(h, f"{p}.attn.q_proj", c.hidden, c.hidden)
            k = self.linear(h, f"{p}.attn.k_proj", c.hidden, c.kv_dim)
            v = self.linear(h, f"{p}.attn.v_proj", c.hidden, c.kv_dim)
            attn = self.node("GroupQueryAttention",
                             [q, k, v, past_k, past_v, seqlens, total, cos, sin],
                             f"{p}.attn.gqa", outputs=[f"{p}.attn.out", present_k, present_v],
                             domain="com.microsoft", num_heads=c.heads,
                             kv_num_heads=c.kv_heads, do_rotary=1, rotary_interleaved=0)[0]
            o = self.linear(attn, f"{p}.attn.o_proj", c.hidden, c.hidden)
            x = self.node("Add", [x, o], f"{p}.attn_residual")
            h = self.rms_norm(x, f"{p}.post_attention_layernorm")
            gate = self.linear(h, f"{p}.mlp.gate_proj", c.hidden, c.intermediate)
            up = self.linear(h, f"{p}.mlp.up_proj", c.hidden, c.intermediate)
            silu = self.node("Mul", [gate, self.node("Sigmoid", [gate], f"{p}.mlp.sigmoid")],
                             f"{p}.mlp.silu")
            down = self.linear(self.node("Mul", [silu, up], f"{p}.mlp.swiglu"),
                               f"{p}.mlp.down_proj", c.intermediate, c.hidden)
            x = self.node("Add", [x, down], f"{p}.mlp_residual")
        x = self.rms_norm(x, "norm")
        last = self.node("Slice", [x, self.const("const.minus_one", np.array([-1], np.int64)),
                                   self.const("const.int_max", np.array([2**62], np.int64)),
                                   self.const("const.axis1", np.array([1], np.int64))],
                         "last_position")
        logits = self.linear(last, "lm_head", c.hidden, c.vocab)
        self.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits_node"))
        return self.finish()

    def finish(self) -> onnx.ModelProto:
        c, f = self.c, self.onnx_float
        kv_shape = ["batch", c.kv_heads, "past_sequence", c.head_dim]
        present_shape = ["batch", c.kv_heads, "total_sequence", c.head_dim]
        inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                                ["batch", "sequence"])]
        outputs = [helper.make_tensor_value_info("logits", f, ["batch", 1, c.vocab])]
        for past_k, past_v, present_k, present_v in kv_names(c.layers):
            inputs += [helper.make_tensor_value_info(n, f, kv_shape) for n in (past_k, past_v)]
            outputs += [helper.make_tensor_value_info(n, f, present_shape)
                        for n in (present_k, present_v)]
        graph = helper.make_graph(self.nodes, "llama_decoder_synth", inputs, outputs, self.inits)
        model = helper.make_model(
            graph, producer_name="npubench",
            opset_imports=[helper.make_opsetid("", OPSET),
                           helper.make_opsetid("com.microsoft", MS_OPSET)],
            doc_string=f"Llama-style decoder {c.layers}x{c.hidden}, {c.heads} heads / "
                       f"{c.kv_heads} KV heads, vocabulary {c.vocab}, context {c.context}, "
                       f"{self.precision}; random weights (synthetic, never a trained model)")
        model.ir_version = IR_VERSION
        return model
