"""Write a ``camera_arch.Net`` as a TFLite flatbuffer, without TensorFlow.

Pure: a network description in, bytes out. Uses the TFLite schema that LiteRT ships
(``ai_edge_litert.schema_py_generated``, the flatbuffers object API). Layout NHWC, float32
input and output. ``fp16=True`` stores every constant as float16 followed by a DEQUANTIZE op,
which is what TFLite's float16 post-training quantization makes. Full-integer int8 is made
afterwards from these float bytes by TFLite's own calibrator (``generated._quantize_tflite``).
"""

from __future__ import annotations

import numpy as np

from npubench.workloads.camera_arch import Net

SCHEMA_VERSION = 3


class _Writer:
    def __init__(self, fp16: bool):
        from ai_edge_litert import schema_py_generated as s

        self.s, self.fp16 = s, fp16
        self.tensors: list = []
        self.buffers: list = [s.BufferT()]  # buffer 0: the empty sentinel
        self.operators: list = []
        self.codes: list[int] = []
        self.index: dict[str, int] = {}

    def tensor(self, name: str, shape, dtype=None, data: np.ndarray | None = None) -> int:
        s = self.s
        t = s.TensorT()
        t.name, t.shape = name, [int(d) for d in shape]
        t.type = s.TensorType.FLOAT32 if dtype is None else dtype
        t.buffer = len(self.buffers)
        buf = s.BufferT()
        if data is not None:
            buf.data = np.ascontiguousarray(data).view(np.uint8).ravel()
        self.buffers.append(buf)
        self.tensors.append(t)
        self.index[name] = len(self.tensors) - 1
        return self.index[name]

    def const(self, name: str, array: np.ndarray) -> int:
        """A float32 constant; with fp16, a float16 one and a DEQUANTIZE to float32."""
        if not self.fp16:
            return self.tensor(name, array.shape, data=array.astype(np.float32))
        half = self.tensor(name + "_fp16", array.shape, self.s.TensorType.FLOAT16,
                           array.astype(np.float16))
        out = self.tensor(name, array.shape)
        self.op(self.s.BuiltinOperator.DEQUANTIZE, [half], [out])
        return out

    def int32(self, name: str, values) -> int:
        array = np.asarray(values, np.int32)
        return self.tensor(name, array.shape, self.s.TensorType.INT32, array)

    def op(self, code: int, inputs: list[int], outputs: list[int], options_type: int = 0,
           options=None) -> None:
        if code not in self.codes:
            self.codes.append(code)
        o = self.s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(code), inputs, outputs
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = options_type, options
        self.operators.append(o)


def write(net: Net, fp16: bool = False) -> bytes:
    """The TFLite flatbuffer of ``net`` (deterministic: same net, same bytes)."""
    import flatbuffers

    wr = _Writer(fp16)
    s = wr.s
    ops, opts = s.BuiltinOperator, s.BuiltinOptions
    for name, shape in net.inputs:
        wr.tensor(name, (1, *shape))
    for layer in net.layers:
        out = wr.tensor(layer.output, (1, *net.shapes[layer.output]))
        ins = [wr.index[x] for x in layer.inputs]
        a = layer.attrs
        if layer.op == "conv":
            weight, bias = layer.weights
            if a["depthwise"]:  # TFLite's depthwise filter is [1, kh, kw, C]
                weight = weight.transpose(3, 1, 2, 0)
                o, code, otype = s.DepthwiseConv2DOptionsT(), ops.DEPTHWISE_CONV_2D, \
                    opts.DepthwiseConv2DOptions
                o.depthMultiplier = 1
            else:
                o, code, otype = s.Conv2DOptionsT(), ops.CONV_2D, opts.Conv2DOptions
            o.padding, o.strideW, o.strideH = s.Padding.SAME, 1, 1
            o.dilationWFactor = o.dilationHFactor = 1
            o.fusedActivationFunction = (s.ActivationFunctionType.RELU if a["relu"]
                                         else s.ActivationFunctionType.NONE)
            w = wr.const(layer.output + "_filter", weight)
            b = wr.const(layer.output + "_bias", bias)
            wr.op(code, [*ins, w, b], [out], otype, o)
        elif layer.op == "prelu":
            alpha = wr.const(layer.output + "_alpha", layer.weights[0].reshape(1, 1, -1))
            wr.op(ops.PRELU, [*ins, alpha], [out])
        elif layer.op in ("add", "sub", "mul"):
            code, otype, o = {"add": (ops.ADD, opts.AddOptions, s.AddOptionsT),
                              "sub": (ops.SUB, opts.SubOptions, s.SubOptionsT),
                              "mul": (ops.MUL, opts.MulOptions, s.MulOptionsT)}[layer.op]
            wr.op(code, ins, [out], otype, o())
        elif layer.op in ("tanh", "sigmoid"):
            wr.op(ops.TANH if layer.op == "tanh" else ops.LOGISTIC, ins, [out])
        elif layer.op == "depth_to_space":
            o = s.DepthToSpaceOptionsT()
            o.blockSize = a["block"]
            wr.op(ops.DEPTH_TO_SPACE, ins, [out], opts.DepthToSpaceOptions, o)
        elif layer.op == "space_to_depth":
            o = s.SpaceToDepthOptionsT()
            o.blockSize = a["block"]
            wr.op(ops.SPACE_TO_DEPTH, ins, [out], opts.SpaceToDepthOptions, o)
        elif layer.op == "concat":
            o = s.ConcatenationOptionsT()
            o.axis = 3
            wr.op(ops.CONCATENATION, ins, [out], opts.ConcatenationOptions, o)
        elif layer.op in ("resize_nearest", "resize_bilinear"):
            size = wr.int32(layer.output + "_size", net.shapes[layer.output][:2])
            if layer.op == "resize_nearest":
                o, code, otype = (s.ResizeNearestNeighborOptionsT(), ops.RESIZE_NEAREST_NEIGHBOR,
                                  opts.ResizeNearestNeighborOptions)
            else:
                o, code, otype = (s.ResizeBilinearOptionsT(), ops.RESIZE_BILINEAR,
                                  opts.ResizeBilinearOptions)
                o.halfPixelCenters = True
            wr.op(code, [*ins, size], [out], otype, o)
        else:
            raise ValueError(f"tflite_writer: no emitter for op '{layer.op}'")
    graph = s.SubGraphT()
    graph.tensors, graph.operators = wr.tensors, wr.operators
    graph.inputs = [wr.index[name] for name, _ in net.inputs]
    graph.outputs = [wr.index[name] for name in net.outputs]
    graph.name = "main"
    model = s.ModelT()
    model.version, model.subgraphs, model.buffers = SCHEMA_VERSION, [graph], wr.buffers
    model.description = f"npubench: {net.doc}; random weights (architecture-real)"
    model.operatorCodes = []
    for code in wr.codes:
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), 1
        model.operatorCodes.append(c)
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def resize_around(data: bytes, width: int, height: int) -> bytes:
    """A TFLite model of one float32 NHWC image input and one NHWC output, run at a camera
    frame: ``image`` [1,height,width,C] is resized bilinearly to the model's input size, the
    model runs unchanged, and its output is resized back to ``height`` x ``width`` (``mask``).
    What a camera pipeline does around a small segmentation model; the model's own tensors,
    weights and custom ops are kept as they are."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT.InitFromPackedBuf(data, 0)
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError("resize_around: the model must have one input and one output")
    inner_in, inner_out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    if inner_in.type != s.TensorType.FLOAT32 or len(inner_in.shape) != 4:
        raise ValueError("resize_around: the input must be a float32 NHWC image")

    def tensor(name: bytes, shape, dtype=s.TensorType.FLOAT32, payload=None) -> int:
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), dtype, len(model.buffers)
        buf = s.BufferT()
        if payload is not None:
            buf.data = np.asarray(payload, np.int32).view(np.uint8)
        model.buffers.append(buf)
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    codes = [c.builtinCode for c in model.operatorCodes]
    if s.BuiltinOperator.RESIZE_BILINEAR not in codes:
        code = s.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.RESIZE_BILINEAR
        code.version = 3  # half_pixel_centers
        model.operatorCodes.append(code)
        codes.append(s.BuiltinOperator.RESIZE_BILINEAR)

    def resize(src: int, size: tuple[int, int], dst: int) -> s.OperatorT:
        op = s.OperatorT()
        op.opcodeIndex = codes.index(s.BuiltinOperator.RESIZE_BILINEAR)
        size_t = tensor(graph.tensors[dst].name + b"_size", [2], s.TensorType.INT32, size)
        op.inputs, op.outputs = [src, size_t], [dst]
        op.builtinOptionsType = s.BuiltinOptions.ResizeBilinearOptions
        op.builtinOptions = s.ResizeBilinearOptionsT()
        op.builtinOptions.halfPixelCenters = True
        return op

    _, in_h, in_w, channels = (int(d) for d in inner_in.shape)
    image = tensor(b"image", [1, height, width, channels])
    mask = tensor(b"mask", [1, height, width, int(inner_out.shape[-1])])
    first = resize(image, (in_h, in_w), graph.inputs[0])
    last = resize(graph.outputs[0], (height, width), mask)
    graph.operators = [first, *graph.operators, last]
    graph.inputs, graph.outputs = [image], [mask]
    model.signatureDefs = None
    builder = flatbuffers.Builder(len(data) + (1 << 16))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
