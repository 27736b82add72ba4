"""An fp16 model on ONNX Runtime's CPU provider: the record says which nodes ran at fp32, from
the model's types and the Cast nodes ORT inserted (its optimized graph), and the report shows it.
The models are built here with onnx.helper, as workloads/onnx_builders.py builds its own."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from npubench.harness.runners.onnx_precision import (
    cpu_casts,
    executed_text,
    float_types,
    model_precision,
)
from npubench.harness.runners.ort import precision_facts
from npubench.workloads.onnx_builders import IR_VERSION, mobilenet_v2


def fp16_model(input_type: int = TensorProto.FLOAT16) -> onnx.ModelProto:
    """``y = transpose(sin(x) ** e)`` in float16: Sin and Pow have no float16 kernel on ORT's
    CPU provider, Transpose and Identity (type-agnostic copies) have one."""
    exponent = numpy_helper.from_array(np.full((8,), 2.0, np.float16), "exponent")
    nodes = [helper.make_node("Sin", ["x"], ["s"], name="sin"),
             helper.make_node("Pow", ["s", "exponent"], ["p"], name="pow"),
             helper.make_node("Transpose", ["p"], ["t"], name="transpose"),
             helper.make_node("Identity", ["t"], ["y"], name="identity")]
    if input_type != TensorProto.FLOAT16:  # a float32 input cast to float16 by the model
        nodes.insert(0, helper.make_node("Cast", ["x32"], ["x"], name="to_half",
                                         to=TensorProto.FLOAT16))
    graph = helper.make_graph(
        nodes, "half", [helper.make_tensor_value_info(nodes[0].input[0], input_type, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [8, 1])], [exponent])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


@pytest.fixture
def half(tmp_path):
    path = tmp_path / "half.onnx"
    path.write_bytes(fp16_model().SerializeToString())
    return path


def test_model_precision_from_inputs_and_weights():
    assert float_types(fp16_model()) == {"inputs": ["fp16"], "weights": ["fp16"]}
    assert model_precision(fp16_model()) == "fp16"
    mixed = fp16_model(TensorProto.FLOAT)
    assert float_types(mixed) == {"inputs": ["fp32"], "weights": ["fp16"]}
    assert model_precision(mixed) == "fp16+fp32"
    assert model_precision(mobilenet_v2(width_multiplier=0.35, resolution=32)) is None


def test_ort_cpu_runs_the_nodes_without_fp16_kernels_at_fp32(half):
    facts = precision_facts(half, ["CPUExecutionProvider"])
    assert {k: v for k, v in facts.items() if k != "source"} == {
        "model": "fp16", "inputs": ["fp16"], "weights": ["fp16"],
        "provider": "CPUExecutionProvider",
        "executed": "fp32 for 2 of 4 nodes (ONNX Runtime inserted 3 Cast nodes); the others "
                    "as stored",
        "nodes_total": 4, "nodes_at_fp32": 2, "ops_at_fp32": ["Pow", "Sin"],
        # x and the exponent to fp32 before Sin and Pow, Pow's output back to fp16
        "casts_inserted": 3}
    assert "InsertedPrecisionFreeCast_" in facts["source"]
    assert "optimized_model_filepath" in facts["source"]


def test_cpu_casts_of_an_optimized_graph():
    """The graph as ORT saves it: inserted Cast nodes and renamed fp32 tensors."""
    cast = "InsertedPrecisionFreeCast_"
    nodes = [helper.make_node("Cast", ["x"], [cast + "x"], name=cast + "x", to=1),
             helper.make_node("Sin", [cast + "x"], [cast + "s"], name="sin"),
             helper.make_node("Cast", [cast + "s"], ["s"], name=cast + "s", to=10),
             helper.make_node("Transpose", ["s"], ["y"], name="transpose"),
             helper.make_node("Cast", ["y"], ["z"], name="a_cast_of_the_model", to=1)]
    graph = helper.make_graph(nodes, "g", [], [])
    assert cpu_casts(helper.make_model(graph)) == {
        "nodes_total": 3, "nodes_at_fp32": 1, "ops_at_fp32": ["Sin"], "casts_inserted": 2}


def test_executed_text():
    assert executed_text({"nodes_total": 4, "nodes_at_fp32": 0, "casts_inserted": 0}) == \
        "as stored (no Cast inserted)"
    assert executed_text({"nodes_total": 3, "nodes_at_fp32": 3, "casts_inserted": 4}) == \
        "fp32: all 3 nodes (ONNX Runtime inserted 4 Cast nodes)"


def test_no_block_for_fp32_models_and_no_guess_for_other_providers(tmp_path, half):
    fp32 = tmp_path / "fp32.onnx"
    fp32.write_bytes(mobilenet_v2(width_multiplier=0.35, resolution=32).SerializeToString())
    assert precision_facts(fp32, ["CPUExecutionProvider"]) is None
    cuda = precision_facts(half, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert cuda["model"] == "fp16" and cuda["executed"] is None
    assert cuda["missing_reason"] == ("only the CPU execution provider's casts are inspected; "
                                      "CUDAExecutionProvider ran this job")


def test_host_run_records_and_reports_it(tmp_path, half):
    import npubench

    result = npubench.run_suite(
        None, device="host", workloads=[str(half)], backends=["ort:cpu"], out=tmp_path / "out",
        settings={"min_iterations": 3, "min_seconds": 0, "max_seconds": 1,
                  "warmup_iterations": 1, "idle_baseline_s": 0})
    (record,) = result.records
    assert record["status"] == "ok", record["error"]
    precision = record["precision"]
    assert (precision["model"], precision["nodes_at_fp32"], precision["nodes_total"]) == (
        "fp16", 2, 4)
    assert precision["provider"] == "CPUExecutionProvider"
    html = result.report.read_text(encoding="utf-8")
    assert '<div class="sub">fp16 model: fp32 for 2/4 nodes</div>' in html
    details = html.split('id="details"', 1)[1].split("</section>", 1)[0]
    assert "<th>Precision</th>" in details
    assert ("fp16 model on CPUExecutionProvider: fp32 for 2 of 4 nodes (ONNX Runtime inserted "
            "3 Cast nodes); the others as stored; no fp16 kernel for Pow, Sin" in details)
