"""Camera image-processing networks described once, as a list of layers, for both emitters.

Pure: numpy only. A ``Net`` holds the inputs, the layers in execution order and the shape of
every value (NHWC, batch 1); ``camera_builders`` turns it into ONNX (NCHW) and ``tflite_writer``
into a TFLite flatbuffer (NHWC), so both formats have the same layers and shapes. Weights are
seeded random (He initialisation): the networks are architecture-real, valid for speed and
memory, never for accuracy.

The architectures (layer counts and widths as published):

- ``espcn``: ESPCN, Shi et al. 2016 (arXiv:1609.05158): conv 5x5 -> 64, tanh, conv 3x3 -> 32,
  tanh, conv 3x3 -> 3 r^2, pixel shuffle (here on RGB, as camera pipelines use it).
- ``srvgg``: SRVGGNetCompact of xinntao/Real-ESRGAN (realesr-animevideov3: num_conv 16;
  realesr-general-x4v3: num_conv 32): conv 3x3 -> num_feat, PReLU, num_conv x (conv, PReLU),
  conv -> 3 r^2, pixel shuffle, plus the nearest-upsampled input.
- ``ffdnet``: FFDNet, Zhang et al. 2018 (IEEE TIP, arXiv:1710.04026), the fast DnCNN-class
  denoiser: 2x2 pixel unshuffle, concatenated with a noise-level map, then a DnCNN-style plain
  stack (colour: 12 convs of 96 channels, ReLU), pixel shuffle back.
- ``zero_dce_pp``: Zero-DCE++, Li et al. 2021 (arXiv:2103.00860, Li-Chongyi/Zero-DCE_extension):
  input downscaled by ``scale``, 7 depthwise-separable convs of 32 channels with symmetric
  skip concatenations, tanh -> 3 curve maps, upscaled, 8 iterations of x + A (x^2 - x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Shape = tuple[int, int, int]  # H, W, C
OPS = ("conv", "prelu", "tanh", "sigmoid", "add", "sub", "mul", "depth_to_space",
       "space_to_depth", "concat", "resize_nearest", "resize_bilinear")


@dataclass(frozen=True)
class Layer:
    op: str
    inputs: tuple[str, ...]
    output: str
    weights: tuple[np.ndarray, ...] = ()  # conv: (filter OHWI, bias); prelu: (alpha[C],)
    attrs: dict = field(default_factory=dict)  # conv: stride, depthwise, relu; others: block...


class Net:
    """A feed-forward image network under construction (NHWC shapes, batch 1)."""

    def __init__(self, name: str, seed: int, doc: str = ""):
        self.name, self.doc = name, doc
        self.rng = np.random.default_rng(seed)
        self.inputs: list[tuple[str, Shape]] = []
        self.outputs: list[str] = []
        self.layers: list[Layer] = []
        self.shapes: dict[str, Shape] = {}
        self._count = 0

    def _add(self, op: str, inputs: tuple[str, ...], shape: Shape, weights=(), **attrs) -> str:
        self._count += 1
        out = f"{op}_{self._count}"
        self.layers.append(Layer(op, inputs, out, tuple(weights), attrs))
        self.shapes[out] = shape
        return out

    def input(self, name: str, h: int, w: int, c: int = 3) -> str:
        self.inputs.append((name, (h, w, c)))
        self.shapes[name] = (h, w, c)
        return name

    def conv(self, x: str, cout: int, k: int = 3, *, depthwise: bool = False, relu: bool = False,
             gain: float = 2.0) -> str:
        """k x k convolution, stride 1, 'same' padding (bias always; ReLU optionally fused)."""
        h, w, cin = self.shapes[x]
        per_group = 1 if depthwise else cin
        if depthwise and cout != cin:
            raise ValueError("a depthwise conv keeps the channel count")
        std = math.sqrt(gain / (per_group * k * k))
        weight = self.rng.standard_normal((cout, k, k, per_group), dtype=np.float32)
        weight *= np.float32(std)
        bias = (self.rng.standard_normal(cout, dtype=np.float32) * np.float32(0.01))
        return self._add("conv", (x,), (h, w, cout), (weight, bias), kernel=k,
                         depthwise=depthwise, relu=relu)

    def prelu(self, x: str) -> str:
        c = self.shapes[x][2]
        return self._add("prelu", (x,), self.shapes[x], (np.full(c, 0.25, np.float32),))

    def unary(self, op: str, x: str) -> str:
        return self._add(op, (x,), self.shapes[x])

    def binary(self, op: str, a: str, b: str) -> str:
        if self.shapes[a] != self.shapes[b]:
            raise ValueError(f"{op}: shapes {self.shapes[a]} and {self.shapes[b]} differ")
        return self._add(op, (a, b), self.shapes[a])

    def depth_to_space(self, x: str, block: int) -> str:
        h, w, c = self.shapes[x]
        return self._add("depth_to_space", (x,), (h * block, w * block, c // block ** 2),
                         block=block)

    def space_to_depth(self, x: str, block: int) -> str:
        h, w, c = self.shapes[x]
        return self._add("space_to_depth", (x,), (h // block, w // block, c * block ** 2),
                         block=block)

    def concat(self, *xs: str) -> str:
        h, w, _ = self.shapes[xs[0]]
        return self._add("concat", tuple(xs), (h, w, sum(self.shapes[x][2] for x in xs)))

    def resize(self, x: str, h: int, w: int, mode: str = "nearest") -> str:
        return self._add(f"resize_{mode}", (x,), (h, w, self.shapes[x][2]))

    def output(self, x: str, name: str = "output") -> None:
        """Name the value ``x`` (made by the last layer) as the graph output ``name``."""
        last = self.layers[-1]
        if last.output != x:
            raise ValueError(f"output {x} is not made by the last layer")
        self.layers[-1] = Layer(last.op, last.inputs, name, last.weights, last.attrs)
        self.shapes[name] = self.shapes.pop(x)
        self.outputs.append(name)

    # --- facts ------------------------------------------------------------------------------

    def count(self, op: str, **attrs) -> int:
        return sum(1 for la in self.layers if la.op == op
                   and all(la.attrs.get(k) == v for k, v in attrs.items()))

    def macs(self) -> int:
        """Multiply-accumulates of the convolutions (the bulk of the work)."""
        total = 0
        for la in self.layers:
            if la.op == "conv":
                h, w, cout = self.shapes[la.output]
                _, k, _, per_group = la.weights[0].shape
                total += h * w * cout * k * k * per_group
        return total


def _frame(width: int, height: int, scale: int) -> tuple[int, int]:
    if width % scale or height % scale:
        raise ValueError(f"{width}x{height} is not divisible by {scale}")
    return width // scale, height // scale


def espcn(*, seed: int = 0, scale: int = 2, width: int = 1920, height: int = 1080) -> Net:
    """ESPCN producing a ``width`` x ``height`` frame from one ``scale`` times smaller."""
    w, h = _frame(width, height, scale)
    net = Net("espcn", seed, f"ESPCN x{scale} to {width}x{height}")
    x = net.input("image", h, w)
    y = net.unary("tanh", net.conv(x, 64, 5, gain=1.0))
    y = net.unary("tanh", net.conv(y, 32, 3, gain=1.0))
    y = net.conv(y, 3 * scale * scale, 3, gain=1.0)
    net.output(net.depth_to_space(y, scale))
    return net


def srvgg(*, seed: int = 0, scale: int = 4, num_feat: int = 64, num_conv: int = 16,
          width: int = 1920, height: int = 1080) -> Net:
    """SRVGGNetCompact (Real-ESRGAN's compact net), PReLU, output ``width`` x ``height``."""
    w, h = _frame(width, height, scale)
    net = Net("srvgg", seed, f"SRVGGNetCompact {num_feat}x{num_conv} x{scale} to "
                             f"{width}x{height}")
    x = net.input("image", h, w)
    y = net.prelu(net.conv(x, num_feat))
    for _ in range(num_conv):
        y = net.prelu(net.conv(y, num_feat))
    y = net.depth_to_space(net.conv(y, 3 * scale * scale, gain=1.0), scale)
    base = net.resize(x, height, width, "nearest")
    net.output(net.binary("add", y, base))
    return net


def ffdnet(*, seed: int = 0, depth: int = 12, features: int = 96, width: int = 1920,
           height: int = 1080) -> Net:
    """FFDNet (colour: 12 layers of 96 channels); inputs ``image`` and the noise-level map
    ``noise_sigma`` at half resolution; output the denoised frame."""
    w, h = _frame(width, height, 2)
    net = Net("ffdnet", seed, f"FFDNet {depth}x{features} at {width}x{height}")
    x = net.input("image", height, width)
    sigma = net.input("noise_sigma", h, w, 3)
    y = net.concat(net.space_to_depth(x, 2), sigma)
    y = net.conv(y, features, relu=True)
    for _ in range(depth - 2):
        y = net.conv(y, features, relu=True)
    y = net.conv(y, 12, gain=1.0)
    net.output(net.depth_to_space(y, 2))
    return net


def zero_dce_pp(*, seed: int = 0, scale: int = 12, features: int = 32, iterations: int = 8,
                width: int = 1920, height: int = 1080) -> Net:
    """Zero-DCE++: curve maps estimated on a ``scale`` times smaller copy, applied at full size."""
    w, h = _frame(width, height, scale)
    net = Net("zero_dce_pp", seed, f"Zero-DCE++ at {width}x{height} (curves at {w}x{h})")
    x = net.input("image", height, width)
    small = net.resize(x, h, w, "bilinear") if scale != 1 else x

    def csdn(y: str, cout: int, relu: bool = True) -> str:  # depthwise 3x3 + pointwise 1x1
        y = net.conv(y, net.shapes[y][2], 3, depthwise=True)
        return net.conv(y, cout, 1, relu=relu)

    x1 = csdn(small, features)
    x2 = csdn(x1, features)
    x3 = csdn(x2, features)
    x4 = csdn(x3, features)
    x5 = csdn(net.concat(x3, x4), features)
    x6 = csdn(net.concat(x2, x5), features)
    curves = net.unary("tanh", csdn(net.concat(x1, x6), 3, relu=False))
    if scale != 1:
        curves = net.resize(curves, height, width, "bilinear")
    y = x
    for _ in range(iterations):
        y = net.binary("add", y, net.binary("mul", curves,
                                            net.binary("sub", net.binary("mul", y, y), y)))
    net.output(y)
    return net


ARCHITECTURES = {"espcn": espcn, "srvgg": srvgg, "ffdnet": ffdnet, "zero_dce_pp": zero_dce_pp}
