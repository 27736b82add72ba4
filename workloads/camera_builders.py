"""Camera image-processing models (super-resolution, denoising, low-light enhancement) as ONNX
and TFLite, from the one description of each network in ``camera_arch``.

Pure: config and seed in, an ``onnx.ModelProto`` (``BUILDERS``) or TFLite bytes
(``TFLITE_BUILDERS``) out; the same (config, seed) gives the same bytes, and both formats get the
same weights. ONNX is NCHW ([1,3,H,W] float32 in, float32 out); ``fp16=True`` stores the weights
and computes in float16 between a Cast at the input and one at the output (onnxconverter's
``keep_io_types``). TFLite is NHWC ([1,H,W,3] float32); ``fp16=True`` stores float16 weights with
DEQUANTIZE ops (TFLite's float16 quantization). int8 comes from ``quantize`` (ONNX Runtime's QDQ
quantizer, TFLite's own calibrator), calibrated on images in ``INPUT_RANGE`` at the small frame
of ``calibration_config``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from npubench.workloads import camera_arch, tflite_writer
from npubench.workloads.camera_arch import Net
from npubench.workloads.onnx_builders import _Graph, _model

INPUT_RANGE = (0.0, 1.0)  # camera frames (and FFDNet's noise map) are normalised to [0, 1]
OPSET = 17
CALIBRATION_FRAME = (384, 216)  # 16:9, divisible by every scale used here (2, 4, 12)


def calibration_config(config: dict) -> dict | None:
    """The same network at ``CALIBRATION_FRAME`` (same weights and tensor names: the weights do
    not depend on the frame size), on which int8 ranges are calibrated; None for a frame that
    is already that small."""
    width, height = config.get("width", 1920), config.get("height", 1080)
    if width * height <= CALIBRATION_FRAME[0] * CALIBRATION_FRAME[1]:
        return None
    return {**config, "width": CALIBRATION_FRAME[0], "height": CALIBRATION_FRAME[1]}


def to_onnx(net: Net, fp16: bool = False, opset: int = OPSET) -> onnx.ModelProto:
    """``net`` as an ONNX graph (NCHW), float32 input and output."""
    g = _Graph(0)  # its node and initializer bookkeeping; the weights come from ``net``
    dtype = np.float16 if fp16 else np.float32
    names: dict[str, str] = {}
    for name, _ in net.inputs:
        names[name] = g.node("Cast", [name], to=TensorProto.FLOAT16) if fp16 else name
    for layer in net.layers:
        ins = [names[x] for x in layer.inputs]
        a = layer.attrs
        if layer.op == "conv":
            weight, bias = layer.weights
            k = a["kernel"]
            w = g.const("conv_w", weight.transpose(0, 3, 1, 2).astype(dtype))  # OIHW
            b = g.const("conv_b", bias.astype(dtype))
            y = g.node("Conv", [*ins, w, b], kernel_shape=[k, k], pads=[k // 2] * 4,
                       group=weight.shape[0] if a["depthwise"] else 1)
            out = g.node("Relu", [y]) if a["relu"] else y
        elif layer.op == "prelu":
            slope = g.const("prelu_slope", layer.weights[0].reshape(-1, 1, 1).astype(dtype))
            out = g.node("PRelu", [*ins, slope])
        elif layer.op in ("add", "sub", "mul", "tanh", "sigmoid"):
            out = g.node(layer.op.capitalize(), ins)
        elif layer.op == "depth_to_space":  # DCR: the channel order of TFLite's DEPTH_TO_SPACE
            out = g.node("DepthToSpace", ins, blocksize=a["block"], mode="DCR")
        elif layer.op == "space_to_depth":
            out = g.node("SpaceToDepth", ins, blocksize=a["block"])
        elif layer.op == "concat":
            out = g.node("Concat", ins, axis=1)
        elif layer.op in ("resize_nearest", "resize_bilinear"):
            h, w, c = net.shapes[layer.output]
            sizes = g.const("resize_sizes", np.array([1, c, h, w], np.int64))
            if layer.op == "resize_nearest":  # = TFLite RESIZE_NEAREST_NEIGHBOR's defaults
                out = g.node("Resize", [*ins, "", "", sizes], mode="nearest",
                             coordinate_transformation_mode="asymmetric", nearest_mode="floor")
            else:  # = RESIZE_BILINEAR with half_pixel_centers
                out = g.node("Resize", [*ins, "", "", sizes], mode="linear",
                             coordinate_transformation_mode="half_pixel")
        else:
            raise ValueError(f"camera_builders: no ONNX emitter for op '{layer.op}'")
        names[layer.output] = out
    for name in net.outputs:
        if fp16:
            g.nodes.append(helper.make_node("Cast", [names[name]], [name], name=name + "_cast",
                                            to=TensorProto.FLOAT))
        else:
            g.nodes[-1].output[0] = name  # the last node makes the (single) output
    graph = helper.make_graph(
        g.nodes, f"{net.name}_synth",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, s[2], s[0], s[1]])
         for n, s in net.inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, net.shapes[n][2],
                                                              *net.shapes[n][:2]])
         for n in net.outputs],
        g.inits,
    )
    precision = "fp16" if fp16 else "fp32"
    return _model(graph, opset, f"{net.doc}, {precision}, random weights (architecture-real)")


def _onnx(arch: str):
    def build(*, seed: int = 0, fp16: bool = False, **config) -> onnx.ModelProto:
        return to_onnx(camera_arch.ARCHITECTURES[arch](seed=seed, **config), fp16)

    build.__doc__ = f"{arch} as ONNX (see camera_arch.{arch})"
    return build


def _tflite(arch: str):
    def build(*, seed: int = 0, fp16: bool = False, **config) -> bytes:
        return tflite_writer.write(camera_arch.ARCHITECTURES[arch](seed=seed, **config), fp16)

    build.__doc__ = f"{arch} as TFLite (see camera_arch.{arch})"
    return build


BUILDERS = {arch: _onnx(arch) for arch in camera_arch.ARCHITECTURES}
TFLITE_BUILDERS = {arch: _tflite(arch) for arch in camera_arch.ARCHITECTURES}
