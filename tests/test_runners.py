"""The host runners on real models: LiteRT (or tflite-runtime, in its tox environment) and
ONNX Runtime. Each opens a model, sets seeded inputs and invokes it for real."""

from __future__ import annotations

import numpy as np
import pytest

from npubench.errors import RuntimeFailure, WorkloadError
from npubench.harness.backends import parse_backend
from npubench.harness.runners import open_session
from npubench.harness.runners.tflite import load_interpreter_module
from npubench.workloads.inputs import InputSpec
from npubench.workloads.registry import resolve

pytestmark = pytest.mark.network  # the real models come from PyPI wheels (cached after once)


def session_for(name: str, backend: str, inputs=None):
    workload = resolve(name)
    return open_session(workload.path(), parse_backend(backend),
                        inputs if inputs is not None else workload.inputs, seed=0)


@pytest.mark.parametrize("backend", ["tflite:cpu?threads=1", "tflite:xnnpack?threads=2"])
def test_tflite_runs_a_real_float_model(backend):
    session = session_for("face_detection_short_range", backend)
    session.invoke()
    _, library, _ = load_interpreter_module()
    assert session.library == library
    assert session.details["inputs"] == {"input": [1, 128, 128, 3]}
    assert session.init_ms > 0


def test_tflite_int8_model_gets_int8_inputs():
    session = session_for("okay_nabu", "tflite:xnnpack")
    session.invoke()
    assert session.details["inputs"] and session.library


def test_tflite_cpu_is_xnnpack_off():
    cpu = session_for("face_landmark", "tflite:cpu?threads=1")
    xnn = session_for("face_landmark", "tflite:xnnpack?threads=1")
    assert cpu.details["op_resolver"] == "BUILTIN_WITHOUT_DEFAULT_DELEGATES"
    assert xnn.details["op_resolver"] == "AUTO"


def test_unsupported_custom_ops_are_a_runtime_failure():
    with pytest.raises(RuntimeFailure, match="custom op"):
        session_for("face_landmark_with_attention", "tflite:xnnpack")


def test_ort_runs_a_real_model_with_state_and_sample_rate_inputs():
    session = session_for("silero_vad", "ort:cpu?threads=1")
    outputs = session.invoke()
    assert all(np.isfinite(o).all() for o in outputs)
    assert session.details["providers"] == ["CPUExecutionProvider"]


def test_dynamic_dims_need_an_input_shape():
    with pytest.raises(WorkloadError, match="--input-shape"):
        session_for("ocr_det_ppocrv4", "ort:cpu", inputs={})
    session = session_for("ocr_det_ppocrv4", "ort:cpu",
                          inputs={"x": InputSpec(shape=(1, 3, 96, 160))})
    assert session.details["inputs"]["x"] == [1, 3, 96, 160]
    (probability_map,) = session.invoke()
    assert probability_map.shape[-2:] == (96, 160)


def test_corrupt_onnx_is_a_workload_error(tmp_path):
    real = resolve("ocr_cls_ppocr_mobile").path().read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(real[: len(real) // 2])
    with pytest.raises(WorkloadError, match="not a valid ONNX model"):
        open_session(cut, parse_backend("ort:cpu"), {}, seed=0)


def test_an_unregistered_onnx_op_is_a_runtime_failure_not_a_corrupt_model(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from npubench.errors import RuntimeFailure

    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in ("x", "y")]
    graph = helper.make_graph([helper.make_node("FancyOp", ["x"], ["y"], domain="com.example")],
                              "g", value[:1], value[1:])
    path = tmp_path / "custom.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                      helper.make_opsetid("com.example", 1)]),
              path)
    with pytest.raises(RuntimeFailure, match="an operator this onnxruntime does not have "
                                             r"\(com.example:FancyOp") as caught:
        open_session(path, parse_backend("ort:cpu"), {}, seed=0)
    assert "corrupt" not in str(caught.value)


def test_corrupt_tflite_is_a_workload_error(tmp_path):
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\0" * 64)
    with pytest.raises(WorkloadError, match="not a valid TFLite model"):
        open_session(garbage, parse_backend("tflite:xnnpack"), {}, seed=0)
