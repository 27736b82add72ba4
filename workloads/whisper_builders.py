"""Whisper-shaped speech recognition as two ONNX models, built with ``onnx.helper``.

The shapes are Whisper's (Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak
Supervision", table 1; github.com/openai/whisper ``whisper/model.py``): log-mel input of 80 bins
x 3000 frames (30 s), conv1d(k3) + GELU, conv1d(k3, stride 2) + GELU -> 1500 positions plus
sinusoidal positions, pre-LayerNorm residual attention blocks, a final LayerNorm; the text
decoder has a learned token embedding (vocabulary 51865) tied to the output projection, learned
positions (context 448), masked self-attention with a KV cache and cross-attention on the
encoder's output. tiny: d_model 384, 4 + 4 layers, 6 heads; base: 512, 6 + 6, 8 heads.

As ONNX Runtime's own Whisper export does (``WhisperEncoderDecoderInit``), the encoder model
also computes each decoder layer's cross-attention keys and values once per utterance
(``cross_k.N`` / ``cross_v.N``), and the decoder model takes them as inputs: a decode step then
does not project 1500 positions again. The decoder's inputs and outputs follow the names of
``decoder_builder`` (``input_ids``, ``past_key_values.N.key/value``, ``logits`` of the last
position, ``present.N.key/value``), so ``workloads.llm_loop.Decoder`` drives it.

Random weights (seeded): valid for speed and memory, never for recognising speech. Pure: a
config and a seed in, an ``onnx.ModelProto`` out.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper

from npubench.workloads.onnx_builders import _Graph, _model

OPSET = 17
STD = 0.02
WHISPER_SHAPES = {
    # name: (d_model, encoder layers, decoder layers, heads) - the paper's table 1
    "tiny": (384, 4, 4, 6),
    "base": (512, 6, 6, 8),
}
N_MELS, N_FRAMES, VOCAB, TEXT_CTX = 80, 3000, 51865, 448


def _block_ops(g: _Graph, d: int, heads: int):
    """Helpers shared by the encoder and the decoder graphs of width ``d``."""
    hd = d // heads
    split = g.const("split_shape", np.array([1, -1, heads, hd], np.int64))
    merge = g.const("merge_shape", np.array([1, -1, d], np.int64))
    scale = g.const("attn_scale", np.array(1.0 / math.sqrt(hd), np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    one = g.const("one", np.array(1.0, np.float32))
    inv_sqrt2 = g.const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))

    def layer_norm(x: str) -> str:
        gamma = g.const("ln_gamma", np.ones(d, np.float32))
        beta = g.const("ln_beta", np.zeros(d, np.float32))
        return g.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-5)

    def dense(x: str, cin: int, cout: int, bias: bool = True) -> str:
        y = g.node("MatMul", [x, g.normal("dense_w", (cin, cout), STD)])
        return g.node("Add", [y, g.normal("dense_b", (cout,), STD)]) if bias else y

    def gelu(x: str) -> str:
        erf = g.node("Erf", [g.node("Mul", [x, inv_sqrt2])])
        return g.node("Mul", [g.node("Mul", [x, half]), g.node("Add", [erf, one])])

    def heads_first(x: str, perm: list[int]) -> str:
        return g.node("Transpose", [g.node("Reshape", [x, split])], perm=perm)

    def attend(q: str, k_t: str, v: str, mask: str | None = None) -> str:
        """q [1,h,S,hd], k_t [1,h,hd,T], v [1,h,T,hd] -> [1,S,d]."""
        scores = g.node("Mul", [g.node("MatMul", [q, k_t]), scale])
        if mask is not None:
            scores = g.node("Add", [scores, mask])
        probs = g.node("Softmax", [scores], axis=-1)
        ctx = g.node("Transpose", [g.node("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        return g.node("Reshape", [ctx, merge])

    def mlp(x: str) -> str:
        return dense(gelu(dense(layer_norm(x), d, 4 * d)), 4 * d, d)

    return layer_norm, dense, heads_first, attend, mlp, gelu


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> np.ndarray:
    """Whisper's encoder positions (``whisper.model.sinusoids``): sin | cos halves."""
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inv = np.exp(-increment * np.arange(channels // 2, dtype=np.float64))
    scaled = np.arange(length, dtype=np.float64)[:, None] * inv[None, :]
    return np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1).astype(np.float32)


def whisper_encoder(
    *, seed: int = 0, d_model: int = 384, layers: int = 4, heads: int = 6,
    decoder_layers: int | None = None, n_mels: int = N_MELS, n_frames: int = N_FRAMES,
) -> onnx.ModelProto:
    """Input ``mel`` float32 [1, n_mels, n_frames]; outputs ``encoder_hidden_states``
    [1, n_frames/2, d] and, per decoder layer, ``cross_k.N`` / ``cross_v.N`` [1, h, n_frames/2,
    d/h] (the decoder's cross-attention projections, computed once per utterance)."""
    if d_model % heads:
        raise ValueError(f"d_model {d_model} is not divisible by {heads} heads")
    if n_frames % 2:
        raise ValueError(f"n_frames {n_frames} must be even (the second conv has stride 2)")
    decoder_layers = layers if decoder_layers is None else decoder_layers
    g = _Graph(seed)
    d, positions, hd = d_model, n_frames // 2, d_model // heads
    layer_norm, dense, heads_first, attend, mlp, gelu = _block_ops(g, d, heads)

    def conv(x: str, cin: int, stride: int) -> str:
        w = g.normal("conv_w", (d, cin, 3), math.sqrt(2.0 / (cin * 3)))
        b = g.normal("conv_b", (d,), 0.01)
        return gelu(g.node("Conv", [x, w, b], kernel_shape=[3], strides=[stride],
                              pads=[1, 1]))

    x = conv(conv("mel", n_mels, 1), d, 2)  # [1, d, positions]
    x = g.node("Transpose", [x], perm=[0, 2, 1])
    x = g.node("Add", [x, g.const("positions", sinusoids(positions, d))])
    for _ in range(layers):
        h = layer_norm(x)
        q = heads_first(dense(h, d, d), [0, 2, 1, 3])
        k = heads_first(dense(h, d, d, bias=False), [0, 2, 3, 1])
        v = heads_first(dense(h, d, d), [0, 2, 1, 3])
        x = g.node("Add", [x, dense(attend(q, k, v), d, d)])
        x = g.node("Add", [x, mlp(x)])
    x = layer_norm(x)
    g.nodes.append(helper.make_node("Identity", [x], ["encoder_hidden_states"], name="enc_out"))
    outputs = [helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT,
                                             [1, positions, d])]
    for i in range(decoder_layers):
        for kind, bias in (("k", False), ("v", True)):
            y = heads_first(dense(x, d, d, bias=bias), [0, 2, 1, 3])
            name = f"cross_{kind}.{i}"
            g.nodes.append(helper.make_node("Identity", [y], [name], name=f"{name}_node"))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                         [1, heads, positions, hd]))
    graph = helper.make_graph(
        g.nodes, "whisper_encoder_synth",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, n_mels, n_frames])],
        outputs, g.inits)
    return _model(graph, OPSET, f"Whisper-shaped audio encoder {layers}x{d}, {heads} heads, "
                                f"{n_frames} mel frames; random weights, seed {seed}")


def whisper_decoder(
    *, seed: int = 0, d_model: int = 384, layers: int = 4, heads: int = 6,
    vocab: int = VOCAB, text_ctx: int = TEXT_CTX, audio_positions: int = N_FRAMES // 2,
) -> onnx.ModelProto:
    """Inputs ``input_ids`` int64 [1, S], ``past_key_values.N.key/value`` [1, h, P, d/h],
    ``cross_k.N`` / ``cross_v.N`` [1, h, audio_positions, d/h]; outputs ``logits`` [1, 1, vocab]
    (the last position: greedy decoding needs no more) and ``present.N.key/value``
    [1, h, P + S, d/h]."""
    if d_model % heads:
        raise ValueError(f"d_model {d_model} is not divisible by {heads} heads")
    g = _Graph(seed)
    d, hd = d_model, d_model // heads
    layer_norm, dense, heads_first, attend, mlp, _ = _block_ops(g, d, heads)
    zero, one_i, two = (g.const("idx", np.array([v], np.int64)) for v in (0, 1, 2))
    seq = g.node("Gather", [g.node("Shape", ["input_ids"]), one_i], axis=0)
    past = g.node("Gather", [g.node("Shape", ["past_key_values.0.key"]), two], axis=0)
    total = g.node("Add", [past, seq])
    embed = g.normal("token_embedding", (vocab, d), STD)
    x = g.node("Gather", [embed, "input_ids"], axis=0)  # [1, S, d]
    learned = g.normal("positional_embedding", (text_ctx, d), 0.01)
    x = g.node("Add", [x, g.node("Slice", [learned, past, total, zero])])
    # causal mask over [S, P + S]: query i (at position P + i) sees keys up to P + i
    ones = g.node("ConstantOfShape", [g.node("Concat", [seq, total], axis=0)],
                  value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]))
    visible = g.node("Trilu", [ones, g.node("Squeeze", [past, zero])], upper=0)
    mask = g.node("Mul", [g.node("Sub", [visible, g.const("one_f", np.array(1.0, np.float32))]),
                          g.const("big", np.array(1e9, np.float32))])
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "sequence"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, vocab])]
    for i in range(layers):
        past_k, past_v = f"past_key_values.{i}.key", f"past_key_values.{i}.value"
        present_k, present_v = f"present.{i}.key", f"present.{i}.value"
        cross_k, cross_v = f"cross_k.{i}", f"cross_v.{i}"
        h = layer_norm(x)
        q = heads_first(dense(h, d, d), [0, 2, 1, 3])
        k_new = heads_first(dense(h, d, d, bias=False), [0, 2, 1, 3])
        v_new = heads_first(dense(h, d, d), [0, 2, 1, 3])
        g.nodes.append(helper.make_node("Concat", [past_k, k_new], [present_k], axis=2,
                                        name=f"{present_k}_node"))
        g.nodes.append(helper.make_node("Concat", [past_v, v_new], [present_v], axis=2,
                                        name=f"{present_v}_node"))
        k_t = g.node("Transpose", [present_k], perm=[0, 1, 3, 2])
        x = g.node("Add", [x, dense(attend(q, k_t, present_v, mask), d, d)])
        h = layer_norm(x)
        q = heads_first(dense(h, d, d), [0, 2, 1, 3])
        ck_t = g.node("Transpose", [cross_k], perm=[0, 1, 3, 2])
        x = g.node("Add", [x, dense(attend(q, ck_t, cross_v), d, d)])
        x = g.node("Add", [x, mlp(x)])
        kv = [1, heads, "past_sequence", hd]
        inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, kv)
                   for n in (past_k, past_v)]
        inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT,
                                                 [1, heads, audio_positions, hd])
                   for n in (cross_k, cross_v)]
        outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT,
                                                  [1, heads, "total_sequence", hd])
                    for n in (present_k, present_v)]
    x = layer_norm(x)
    last = g.node("Slice", [x, g.const("minus_one", np.array([-1], np.int64)),
                            g.const("int_max", np.array([2**62], np.int64)), one_i])
    # logits = x @ token_embedding^T (tied, as in Whisper)
    logits = g.node("MatMul", [last, g.node("Transpose", [embed], perm=[1, 0])])
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits_node"))
    graph = helper.make_graph(g.nodes, "whisper_decoder_synth", inputs, outputs, g.inits)
    return _model(graph, OPSET, f"Whisper-shaped text decoder {layers}x{d}, {heads} heads, "
                                f"vocabulary {vocab}, KV cache + cross-attention; random "
                                f"weights, seed {seed}")


def whisper_param_count(d_model: int, encoder_layers: int, decoder_layers: int,
                        n_mels: int = N_MELS, vocab: int = VOCAB, text_ctx: int = TEXT_CTX,
                        audio_positions: int = N_FRAMES // 2) -> int:
    """Parameters of the Whisper architecture of this shape (as ``sum(p.numel())`` of
    openai/whisper counts them, plus the encoder's sinusoidal positions as Hugging Face's
    port does): the figure the builders' initializers must reproduce."""
    d = d_model
    attn = 4 * d * d + 3 * d  # q, k (no bias), v, out
    mlp = 2 * 4 * d * d + 4 * d + d
    ln = 2 * d
    encoder = (n_mels * d * 3 + d + d * d * 3 + d + audio_positions * d
               + encoder_layers * (attn + mlp + 2 * ln) + ln)
    decoder = vocab * d + text_ctx * d + decoder_layers * (2 * attn + mlp + 3 * ln) + ln
    return encoder + decoder


def initializer_params(model: onnx.ModelProto, skip_scalars: bool = True) -> int:
    """Number of weights in ``model``'s initializers (small constants left out)."""
    total = 0
    for init in model.graph.initializer:
        n = int(np.prod(init.dims)) if init.dims else 1
        if skip_scalars and n <= 4:
            continue
        total += n
    return total


BUILDERS = {"whisper_encoder": whisper_encoder, "whisper_decoder": whisper_decoder}
