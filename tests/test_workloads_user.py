"""User model files: resolved by path, checked, and refused with a clear message when broken."""

from __future__ import annotations

import os

import numpy as np
import pytest
from tflite_models import add_model

from npubench.errors import WorkloadError
from npubench.workloads.fetch import sha256_file
from npubench.workloads.inputs import make_inputs, specs_from_litert
from npubench.workloads.onnx_builders import mobilenet_v2
from npubench.workloads.registry import resolve
from npubench.workloads.user import check_model_file


def _tflite_add_model() -> bytes:
    """A valid TFLite model (y = x + c, [1,64]) written with LiteRT's flatbuffer schema."""
    return add_model("x", 64, output_name="y", dynamic=False)


def test_a_user_tflite_model_resolves_and_runs(tmp_path, monkeypatch):
    from ai_edge_litert.interpreter import Interpreter

    (tmp_path / "adder.tflite").write_bytes(_tflite_add_model())
    monkeypatch.chdir(tmp_path)
    w = resolve("adder.tflite")  # a relative path
    assert w.name == "adder" and w.task == "user" and w.format == "tflite"
    assert w.source == f"user:{tmp_path / 'adder.tflite'}" and not w.synthetic
    assert w.sha256 == sha256_file(tmp_path / "adder.tflite") and w.precision == "fp32"
    interpreter = Interpreter(model_path=str(w.path()))
    interpreter.allocate_tensors()
    x = make_inputs(specs_from_litert(interpreter.get_input_details()))["x"]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    y = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(y, x + np.arange(64, dtype=np.float32))
    record = w.to_record()
    assert record["size_bytes"] == (tmp_path / "adder.tflite").stat().st_size


def test_a_user_onnx_model_resolves_with_shapes(tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(mobilenet_v2(width_multiplier=0.35, resolution=96).SerializeToString())
    w = resolve(str(path), {"input": (1, 3, 96, 96)})
    assert (w.name, w.format, w.precision) == ("net", "onnx", "fp32")
    assert w.inputs["input"].shape == (1, 3, 96, 96)
    assert w.path() == path


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(WorkloadError, match="model file not found: .*nope.onnx"):
        resolve(str(tmp_path / "nope.onnx"))


def test_a_wrong_extension_is_refused(tmp_path):
    path = tmp_path / "model.pb"
    path.write_bytes(b"x")
    with pytest.raises(WorkloadError) as info:
        resolve(str(path))
    assert "unsupported model file extension '.pb'" in str(info.value)
    assert ".tflite, .onnx and .gguf" in str(info.value)


@pytest.mark.parametrize("suffix,kind", [(".tflite", "TFLite"), (".onnx", "ONNX")])
def test_random_bytes_are_not_a_model(tmp_path, suffix, kind):
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(np.random.default_rng(0).bytes(20000))
    with pytest.raises(WorkloadError, match=f"not a valid {kind} model .*truncated, corrupt"):
        resolve(str(path))


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, 0.99])
def test_a_truncated_tflite_model_is_refused(tmp_path, keep):
    data = _tflite_add_model()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(WorkloadError, match="not a valid TFLite model"):
        resolve(str(path))


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.999])
def test_a_truncated_onnx_model_is_refused(tmp_path, keep):
    data = mobilenet_v2(width_multiplier=0.35, resolution=96).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(WorkloadError, match="not a valid ONNX model"):
        resolve(str(path))


def test_an_onnx_graph_with_undefined_values_is_refused(tmp_path):
    model = mobilenet_v2(width_multiplier=0.35, resolution=96)
    del model.graph.initializer[5]
    path = tmp_path / "holes.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(WorkloadError, match="never defined"):
        check_model_file(path, "onnx")


def test_a_model_changed_after_resolve_is_noticed(tmp_path):
    path = tmp_path / "adder.tflite"
    path.write_bytes(_tflite_add_model())
    w = resolve(str(path))
    path.write_bytes(_tflite_add_model() + b"\0" * 8)
    with pytest.raises(WorkloadError, match="changed since it was resolved"):
        w.path()
    os.remove(path)
    with pytest.raises(WorkloadError, match="not found"):
        w.path()


def test_a_folder_is_not_a_model(tmp_path):
    folder = tmp_path / "dir.onnx"
    folder.mkdir()
    with pytest.raises(WorkloadError, match="not a file"):
        resolve(str(folder))
