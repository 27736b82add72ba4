"""Input generation: shapes, dtypes, ranges, determinism (pure numpy, no runtime needed)."""

from __future__ import annotations

import numpy as np
import pytest

from npubench.errors import WorkloadError
from npubench.workloads.inputs import (
    InputSpec,
    TensorSpec,
    concrete_shape,
    make_inputs,
    ort_dtype,
    specs_from_litert,
    specs_from_ort,
)

IMAGE = TensorSpec("image", (1, 3, 32, 32), np.float32)


def test_same_seed_gives_identical_arrays():
    specs = [IMAGE, TensorSpec("ids", (1, 16), np.int64), TensorSpec("mask", (1, 16), np.bool_)]
    a, b = make_inputs(specs, seed=7), make_inputs(specs, seed=7)
    assert a.keys() == b.keys() == {"image", "ids", "mask"}
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    c = make_inputs(specs, seed=8)
    assert not np.array_equal(a["image"], c["image"])


def test_an_input_does_not_depend_on_the_other_inputs():
    alone = make_inputs([IMAGE], seed=3)["image"]
    with_others = make_inputs([TensorSpec("other", (5,), np.float32), IMAGE], seed=3)["image"]
    np.testing.assert_array_equal(alone, with_others)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64, np.int64, np.int32,
                                   np.uint8, np.int8, np.bool_])
def test_arrays_have_the_spec_dtype_and_shape(dtype):
    array = make_inputs([TensorSpec("x", (2, 3), dtype)])["x"]
    assert array.dtype == np.dtype(dtype)
    assert array.shape == (2, 3)


def test_floats_are_in_minus_one_to_one_by_default_and_follow_low_high():
    x = make_inputs([TensorSpec("x", (10000,), np.float32)])["x"]
    assert -1.0 <= x.min() < -0.99 and 0.99 < x.max() <= 1.0
    y = make_inputs([TensorSpec("x", (10000,), np.float32)], {"x": InputSpec(low=0, high=255)})["x"]
    assert 0.0 <= y.min() < 1.0 and 254.0 < y.max() <= 255.0


@pytest.mark.parametrize("dtype,low,high", [(np.int8, -128, 127), (np.uint8, 0, 255)])
def test_quantized_inputs_cover_the_whole_integer_range(dtype, low, high):
    spec = TensorSpec("audio", (1, 3, 40 * 100), dtype, quantization=(0.1019, -128))
    x = make_inputs([spec])["audio"]
    assert x.dtype == np.dtype(dtype)
    assert x.min() == low and x.max() == high


def test_unquantized_integers_are_small_and_non_negative():
    x = make_inputs([TensorSpec("ids", (1, 4096), np.int64)])["ids"]
    assert x.min() == 0 and x.max() == 9
    # a scale of 0 means "not quantized" in LiteRT's details
    y = make_inputs([TensorSpec("q", (4096,), np.int8, quantization=(0.0, 0))])["q"]
    assert y.min() == 0 and y.max() == 9
    z = make_inputs([TensorSpec("ids", (4096,), np.int32)], {"ids": InputSpec(low=5, high=6)})
    assert set(np.unique(z["ids"])) == {5, 6}


def test_bool_inputs_hold_both_values():
    x = make_inputs([TensorSpec("m", (256,), np.bool_)])["m"]
    assert x.dtype == np.bool_ and x.any() and not x.all()


def test_value_fills_a_constant_of_the_input_dtype():
    specs = [TensorSpec("sr", (), np.int64), TensorSpec("state", (2, "batch", 128), np.float32)]
    out = make_inputs(specs, {"sr": InputSpec(value=16000),
                              "state": InputSpec(shape=(2, 1, 128), value=0.0)})
    assert out["sr"].shape == () and out["sr"].dtype == np.int64 and int(out["sr"]) == 16000
    assert out["state"].shape == (2, 1, 128) and not out["state"].any()


@pytest.mark.parametrize("batch", [None, -1, "batch_size", "p2o.DynamicDimension.0"])
def test_a_dynamic_first_dim_becomes_one(batch):
    assert concrete_shape(TensorSpec("x", (batch, 3, 8, 8), np.float32), None) == (1, 3, 8, 8)


@pytest.mark.parametrize("dim", [None, -1, "height"])
def test_another_dynamic_dim_asks_for_input_shape(dim):
    spec = TensorSpec("x", ("n", 3, dim, 320), np.float32)
    with pytest.raises(WorkloadError) as info:
        concrete_shape(spec, None)
    text = str(info.value)
    assert "'x'" in text and "dim 2" in text and "--input-shape x=" in text


def test_an_override_shape_wins_and_must_fit_the_model():
    spec = TensorSpec("x", (None, 3, "h", "w"), np.float32)
    assert concrete_shape(spec, InputSpec(shape=(2, 3, 64, 96))) == (2, 3, 64, 96)
    no_shape = InputSpec(value=1.0)  # an override without a shape: the batch rule still applies
    assert concrete_shape(TensorSpec("y", (None, 4), np.float32), no_shape) == (1, 4)
    with pytest.raises(WorkloadError, match="rank"):
        concrete_shape(spec, InputSpec(shape=(3, 64, 96)))
    with pytest.raises(WorkloadError, match="dim 1 is fixed to 3"):
        concrete_shape(spec, InputSpec(shape=(1, 4, 64, 96)))


def test_settings_for_an_input_the_model_lacks_are_refused():
    with pytest.raises(WorkloadError, match="the model's inputs are: image"):
        make_inputs([IMAGE], {"imgae": InputSpec(shape=(1, 3, 32, 32))})


def test_unsupported_dtype_is_refused_with_a_hint():
    with pytest.raises(WorkloadError, match="cannot make inputs"):
        make_inputs([TensorSpec("s", (1,), np.str_)])


def test_bad_input_spec_values_are_refused():
    with pytest.raises(WorkloadError):
        InputSpec(shape=(1, -2))
    with pytest.raises(WorkloadError):
        InputSpec(low=2, high=1)


@pytest.mark.parametrize("text,dtype", [
    ("tensor(float)", np.float32), ("tensor(float16)", np.float16), ("tensor(int64)", np.int64),
    ("tensor(uint8)", np.uint8), ("tensor(bool)", np.bool_), ("tensor(double)", np.float64),
])
def test_ort_dtype(text, dtype):
    assert ort_dtype(text) == np.dtype(dtype)


def test_ort_dtype_refuses_unknown_types():
    with pytest.raises(WorkloadError, match="not supported"):
        ort_dtype("seq(tensor(float))")


def test_specs_from_runtime_descriptions():
    details = [{"name": "in:0", "index": 0, "shape": np.array([1, 3, 40]),
                "shape_signature": np.array([-1, 3, 40]), "dtype": np.int8,
                "quantization": (0.1, -128)},
               {"name": "f", "index": 1, "shape": np.array([1, 4]),
                "shape_signature": np.array([1, 4]), "dtype": np.float32,
                "quantization": (0.0, 0)}]
    q, f = specs_from_litert(details)
    assert q == TensorSpec("in:0", (-1, 3, 40), np.dtype(np.int8), (0.1, -128))
    assert f.quantization is None and f.shape == (1, 4)

    import onnxruntime as ort
    from onnx import TensorProto, helper

    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, None, 320])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x_info],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (x,) = specs_from_ort(session.get_inputs())
    assert x.name == "x" and x.dtype == np.float32
    assert x.shape[0] == "batch" and x.shape[1] == 3 and x.shape[3] == 320
    feeds = make_inputs([x], {"x": InputSpec(shape=(1, 3, 48, 320))})
    (y,) = session.run(None, feeds)
    np.testing.assert_array_equal(y, feeds["x"])
