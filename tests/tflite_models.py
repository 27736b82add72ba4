"""Tiny TFLite models written with LiteRT's flatbuffer schema, for tests that need a model
with a particular input (a name holding ':', a dynamic dimension) and no download."""

from __future__ import annotations

import numpy as np

COLON_INPUT = "serving_default_input:0"


def add_model(input_name: str = COLON_INPUT, width: int = 64,
              output_name: str = "StatefulPartitionedCall:0", dynamic: bool = True) -> bytes:
    """``y = x + c`` with ``x`` of shape ``[1, -1, width]`` (signature; ``[1, 1, width]``
    until resized), or a fixed ``[1, width]`` when not ``dynamic``, and a constant ``c`` of
    ``width`` floats; by default named as a TF-converted model names its tensors
    (``serving_default_input:0``, ``StatefulPartitionedCall:0``)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    def tensor(name: str, buffer: int, shape: list[int], signature=None) -> s.TensorT:
        t = s.TensorT()
        t.name, t.shape, t.buffer, t.type = name, shape, buffer, s.TensorType.FLOAT32
        if signature is not None:
            t.shapeSignature = signature
        return t

    constant = s.BufferT()
    constant.data = np.arange(width, dtype=np.float32).view(np.uint8)
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.ADD
    code.version = 1
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.AddOptions, s.AddOptionsT()
    graph = s.SubGraphT()
    shape, signature = ([1, 1, width], [1, -1, width]) if dynamic else ([1, width], None)
    graph.tensors = [tensor(input_name, 1, shape, signature), tensor("c", 2, [width]),
                     tensor(output_name, 3, shape, signature)]
    graph.inputs, graph.outputs, graph.operators = [0], [2], [op]
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [code], [graph]
    model.buffers = [s.BufferT(), s.BufferT(), constant, s.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
