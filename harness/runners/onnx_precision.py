"""At which precision ONNX Runtime's CPU provider runs an fp16 model: facts read from the model
and from the graph ORT made of it.

Pure: ``onnx.ModelProto`` in, plain values out. ORT's CPU execution provider has no float16
kernel for most operators; its ``InsertCastTransformer`` (onnxruntime/core/optimizer/
insert_cast_transformer.cc) then runs such a node in float32 and puts Cast nodes around it,
named ``InsertedPrecisionFreeCast_<tensor>`` ("cast node to cast from float16 to float32 on
cpu"), and renames the float32 tensors between them with the same prefix. Counting those names
in the graph ORT optimized (``SessionOptions.optimized_model_filepath``) tells which nodes ran
at fp32, instead of guessing from the operator list.
"""

from __future__ import annotations

from onnx import ModelProto, TensorProto

INSERTED_CAST = "InsertedPrecisionFreeCast_"
_NAMES = {TensorProto.FLOAT16: "fp16", TensorProto.FLOAT: "fp32", TensorProto.BFLOAT16: "bf16",
          TensorProto.DOUBLE: "fp64"}


def float_types(model: ModelProto) -> dict[str, list[str]]:
    """The floating-point types of the main graph's inputs and of its weights (initializers
    and ``Constant`` nodes), e.g. ``{"inputs": ["fp16"], "weights": ["fp16", "fp32"]}``."""
    graph = model.graph
    weights = {t.data_type for t in graph.initializer}
    weights |= {a.t.data_type for n in graph.node if n.op_type == "Constant"
                for a in n.attribute if a.name == "value" and a.type == a.TENSOR}
    stored = {t.name for t in graph.initializer}
    inputs = {i.type.tensor_type.elem_type for i in graph.input if i.name not in stored}

    def names(types: set[int]) -> list[str]:
        return sorted(_NAMES[t] for t in types if t in _NAMES)

    return {"inputs": names(inputs), "weights": names(weights)}


def model_precision(model: ModelProto) -> str | None:
    """``fp16`` (float16 inputs or weights, no float32 ones), ``fp16+fp32`` (both), or None
    when the model holds no float16 at all."""
    types = float_types(model)
    found = set(types["inputs"]) | set(types["weights"])
    if "fp16" not in found:
        return None
    return "fp16+fp32" if "fp32" in found else "fp16"


def cpu_casts(optimized: ModelProto) -> dict[str, object]:
    """What ORT's cast insertion did to the main graph: the model's own nodes (``nodes_total``),
    those it moved to fp32 (any input or output renamed ``InsertedPrecisionFreeCast_*``), their
    operator types, and the Cast nodes it inserted."""
    own, at_fp32, casts = [], [], 0
    for node in optimized.graph.node:
        if node.op_type == "Cast" and node.name.startswith(INSERTED_CAST):
            casts += 1
            continue
        own.append(node)
        if any(name.startswith(INSERTED_CAST) for name in (*node.input, *node.output)):
            at_fp32.append(node)
    return {"nodes_total": len(own), "nodes_at_fp32": len(at_fp32),
            "ops_at_fp32": sorted({n.op_type for n in at_fp32}), "casts_inserted": casts}


def executed_text(casts: dict) -> str:
    """What ran at which precision, in a few words: ``fp32: all 5 nodes (ONNX Runtime inserted
    4 Cast nodes)``, ``fp32 for 3 of 5 nodes (...); the others as stored``, or ``as stored (no
    Cast inserted)``."""
    total, moved = casts["nodes_total"], casts["nodes_at_fp32"]
    if moved == 0:
        return "as stored (no Cast inserted)"
    inserted = f"(ONNX Runtime inserted {casts['casts_inserted']} Cast nodes)"
    if moved >= total:
        return f"fp32: all {total} nodes {inserted}"
    return f"fp32 for {moved} of {total} nodes {inserted}; the others as stored"
