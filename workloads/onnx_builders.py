"""Synthetic ONNX models built with ``onnx.helper``: real architectures, random weights.

Pure: a config and a seed in, an ``onnx.ModelProto`` out (no file or network I/O). The same
(config, seed) gives the same bytes. The weights are random (He / BERT-style initialisation, so
activations stay in a sane range and no denormals slow the arithmetic): the models are valid for
speed and memory measurements, never for accuracy.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8  # understood by ONNX Runtime 1.10+ (phones often carry an older ORT)


class _Graph:
    """Collects nodes and initializers with deterministic names."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, prefix: str, array: np.ndarray) -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def normal(self, prefix: str, shape: tuple[int, ...], std: float) -> str:
        data = self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
        return self.const(prefix, data)

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out + "_node", **attrs))
        return out


def _divisible(value: float, divisor: int = 8) -> int:
    """Channel count rounded as in the MobileNet reference (never down by more than 10%)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# MobileNet-v2 inverted residual settings: expansion t, channels c, repeats n, first stride s.
MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2(
    *, seed: int = 0, width_multiplier: float = 1.0, resolution: int = 224,
    num_classes: int = 1000, opset: int = 13,
) -> onnx.ModelProto:
    """MobileNet-v2 (Sandler et al. 2018): inverted residuals, depthwise conv, ReLU6 as Clip.

    Input ``input`` float32 [1,3,R,R] (NCHW); output ``logits`` [1,num_classes]. Batch norm is
    folded into the convolution biases, as in a deployed model.
    """
    g = _Graph(seed)
    relu6 = (g.const("relu6_min", np.array(0.0, np.float32)),
             g.const("relu6_max", np.array(6.0, np.float32)))

    def conv(x: str, cin: int, cout: int, k: int, stride: int, groups: int, act: bool) -> str:
        fan_in = cin // groups * k * k
        w = g.normal("conv_w", (cout, cin // groups, k, k), math.sqrt(2.0 / fan_in))
        b = g.normal("conv_b", (cout,), 0.01)
        y = g.node("Conv", [x, w, b], kernel_shape=[k, k], strides=[stride, stride],
                   pads=[k // 2] * 4, group=groups)
        return g.node("Clip", [y, *relu6]) if act else y

    first = _divisible(32 * width_multiplier)
    x = conv("input", 3, first, 3, 2, 1, True)
    cin = first
    for t, c, n, s in MOBILENET_V2_BLOCKS:
        cout = _divisible(c * width_multiplier)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = conv(x, cin, hidden, 1, 1, 1, True) if t != 1 else x
            y = conv(y, hidden, hidden, 3, stride, hidden, True)
            y = conv(y, hidden, cout, 1, 1, 1, False)
            x = g.node("Add", [x, y]) if stride == 1 and cin == cout else y
            cin = cout
    last = _divisible(1280 * max(1.0, width_multiplier))
    x = conv(x, cin, last, 1, 1, 1, True)
    x = g.node("GlobalAveragePool", [x])
    x = g.node("Flatten", [x], axis=1)
    w = g.normal("fc_w", (num_classes, last), math.sqrt(1.0 / last))
    b = g.normal("fc_b", (num_classes,), 0.01)
    g.nodes.append(helper.make_node("Gemm", [x, w, b], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        g.nodes, "mobilenet_v2_synth",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, resolution, resolution])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, num_classes])],
        g.inits,
    )
    return _model(graph, opset, f"MobileNet-v2 x{width_multiplier}, random weights, seed {seed}")


def tiny_bert(
    *, seed: int = 0, vocab_size: int = 1000, sequence_length: int = 128, hidden: int = 256,
    layers: int = 4, heads: int = 4, intermediate: int = 1024, opset: int = 17,
) -> onnx.ModelProto:
    """A BERT-style encoder: embeddings, then ``layers`` x (self-attention + GELU feed-forward),
    post-LayerNormalization. Input ``input_ids`` int64 [1,S]; output ``hidden_states`` [1,S,H]."""
    if hidden % heads:
        raise ValueError(f"hidden size {hidden} is not divisible by {heads} heads")
    g = _Graph(seed)
    head_dim = hidden // heads
    std = 0.02
    split_shape = g.const("split_shape", np.array([1, sequence_length, heads, head_dim], np.int64))
    merge_shape = g.const("merge_shape", np.array([1, sequence_length, hidden], np.int64))
    scale = g.const("attn_scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    one = g.const("one", np.array(1.0, np.float32))
    inv_sqrt2 = g.const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))

    def layer_norm(x: str) -> str:
        gamma = g.const("ln_gamma", np.ones(hidden, np.float32))
        beta = g.const("ln_beta", np.zeros(hidden, np.float32))
        return g.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-12)

    def dense(x: str, cin: int, cout: int) -> str:
        y = g.node("MatMul", [x, g.normal("dense_w", (cin, cout), std)])
        return g.node("Add", [y, g.normal("dense_b", (cout,), std)])

    def heads_first(x: str, perm: list[int]) -> str:
        return g.node("Transpose", [g.node("Reshape", [x, split_shape])], perm=perm)

    words = g.node("Gather", [g.normal("word_emb", (vocab_size, hidden), std), "input_ids"])
    x = g.node("Add", [words, g.normal("pos_emb", (sequence_length, hidden), std)])
    x = layer_norm(x)
    for _ in range(layers):
        q = heads_first(dense(x, hidden, hidden), [0, 2, 1, 3])
        k = heads_first(dense(x, hidden, hidden), [0, 2, 3, 1])
        v = heads_first(dense(x, hidden, hidden), [0, 2, 1, 3])
        scores = g.node("Mul", [g.node("MatMul", [q, k]), scale])
        probs = g.node("Softmax", [scores], axis=-1)
        ctx = g.node("Transpose", [g.node("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = g.node("Reshape", [ctx, merge_shape])
        x = layer_norm(g.node("Add", [x, dense(ctx, hidden, hidden)]))
        h = dense(x, hidden, intermediate)
        erf = g.node("Erf", [g.node("Mul", [h, inv_sqrt2])])
        gelu = g.node("Mul", [g.node("Mul", [h, half]), g.node("Add", [erf, one])])
        x = layer_norm(g.node("Add", [x, dense(gelu, intermediate, hidden)]))
    g.nodes.append(helper.make_node("Identity", [x], ["hidden_states"], name="output"))
    graph = helper.make_graph(
        g.nodes, "tiny_bert_synth",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, sequence_length])],
        [helper.make_tensor_value_info("hidden_states", TensorProto.FLOAT,
                                       [1, sequence_length, hidden])],
        g.inits,
    )
    return _model(graph, opset, f"BERT-style encoder {layers}x{hidden}, random weights, "
                                f"seed {seed}")


def _model(graph: onnx.GraphProto, opset: int, doc: str) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="npubench", doc_string=doc)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


BUILDERS = {"mobilenet_v2": mobilenet_v2, "tiny_bert": tiny_bert}
