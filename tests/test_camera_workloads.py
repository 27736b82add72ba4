"""Camera image-processing workloads: the published layer shapes, deterministic builds in ONNX
and TFLite, both formats computing the same function, fp32/fp16/int8 running on LiteRT and ONNX
Runtime at small frames, and the registry's entries (trained: false, a reference)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from npubench.results import read_records
from npubench.workloads import camera_arch
from npubench.workloads.generated import GeneratedModel
from npubench.workloads.registry import builtin

# The smallest frames: 64x64 output (Zero-DCE++ needs a multiple of its 12x downscale).
SMALL = {
    "espcn": {"scale": 2, "width": 64, "height": 64},
    "srvgg": {"scale": 4, "num_conv": 4, "width": 64, "height": 64},
    "ffdnet": {"width": 64, "height": 64},
    "zero_dce_pp": {"width": 96, "height": 48},
}
PRECISIONS = {"fp32": ({}, None), "fp16": ({"fp16": True}, None), "int8": ({}, "int8")}


def _model(arch: str, fmt: str, precision: str = "fp32", seed: int = 0, **config):
    extra, quantize = PRECISIONS[precision]
    if quantize and fmt == "onnx":
        quantize = "qdq"
    return GeneratedModel(f"t_{arch}", arch, seed, {**SMALL[arch], **config, **extra}, quantize,
                          fmt)


def _run(data: bytes, fmt: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """One inference; ``feeds`` are NHWC, transposed to NCHW for ONNX. Output NHWC."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        out = session.run(None, {k: v.transpose(0, 3, 1, 2) for k, v in feeds.items()})[0]
        return out.transpose(0, 2, 3, 1)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], feeds[detail["name"]])
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _feeds(net: camera_arch.Net, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(0, 1, (1, *shape)).astype(np.float32) for name, shape in net.inputs}


# --- the published shapes ----------------------------------------------------------------------


def _convs(net: camera_arch.Net) -> list[tuple[int, int, int, bool]]:
    """(kernel, in channels per group, out channels, depthwise) of every conv, in order."""
    return [(la.weights[0].shape[1], la.weights[0].shape[3], la.weights[0].shape[0],
             la.attrs["depthwise"]) for la in net.layers if la.op == "conv"]


def test_espcn_is_three_convs_5_3_3_with_r2_times_3_outputs():
    net = camera_arch.espcn(scale=3, width=96, height=96)
    assert _convs(net) == [(5, 3, 64, False), (3, 64, 32, False), (3, 32, 27, False)]
    assert net.count("tanh") == 2 and net.count("depth_to_space") == 1
    assert net.inputs == [("image", (32, 32, 3))] and net.shapes["output"] == (96, 96, 3)


@pytest.mark.parametrize("num_conv", [16, 32])
def test_srvgg_compact_is_num_conv_plus_two_convs_of_num_feat_with_prelu(num_conv):
    net = camera_arch.srvgg(num_conv=num_conv, scale=4, width=64, height=64)
    convs = _convs(net)
    assert len(convs) == num_conv + 2 and net.count("prelu") == num_conv + 1
    assert convs[0] == (3, 3, 64, False) and convs[-1] == (3, 64, 48, False)
    assert set(convs[1:-1]) == {(3, 64, 64, False)}
    assert net.count("resize_nearest") == 1 and net.count("add") == 1  # + upsampled input


def test_ffdnet_colour_is_12_convs_of_96_on_the_half_size_frame_and_noise_map():
    net = camera_arch.ffdnet(width=1920, height=1080)
    convs = _convs(net)
    assert len(convs) == 12 and convs[0] == (3, 15, 96, False) and convs[-1] == (3, 96, 12, False)
    assert dict(net.inputs) == {"image": (1080, 1920, 3), "noise_sigma": (540, 960, 3)}
    assert 800e9 < 2 * net.macs() < 950e9  # the GFLOPs the workload's description states


def test_zero_dce_pp_is_7_depthwise_separable_convs_of_32_and_8_curve_iterations():
    net = camera_arch.zero_dce_pp(width=1920, height=1080)
    convs = _convs(net)
    assert [c[3] for c in convs] == [True, False] * 7
    assert [c[2] for c in convs[1::2]] == [32] * 6 + [3]
    assert [c[1] for c in convs[1::2]] == [3, 32, 32, 32, 64, 64, 64]  # skip concatenations
    assert net.count("sub") == 8 and net.count("tanh") == 1
    first = next(la for la in net.layers if la.op == "conv")
    assert net.shapes[first.output][:2] == (90, 160)  # curves estimated on a 12x smaller frame


# --- builds: deterministic, same function in both formats, each precision runs -----------------


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
@pytest.mark.parametrize("arch", sorted(SMALL))
def test_same_config_and_seed_same_bytes_other_seed_other_bytes(arch, fmt):
    first, again = _model(arch, fmt).build(), _model(arch, fmt).build()
    assert first == again
    assert _model(arch, fmt, seed=1).build() != first


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_int8_builds_are_deterministic(fmt):
    assert _model("espcn", fmt, "int8").build() == _model("espcn", fmt, "int8").build()


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_onnx_and_tflite_compute_the_same_function(arch):
    net = camera_arch.ARCHITECTURES[arch](seed=0, **SMALL[arch])
    feeds = _feeds(net)
    out_onnx = _run(_model(arch, "onnx").build(), "onnx", feeds)
    out_tflite = _run(_model(arch, "tflite").build(), "tflite", feeds)
    assert out_onnx.shape == out_tflite.shape == (1, *net.shapes["output"])
    np.testing.assert_allclose(out_onnx, out_tflite, atol=1e-4)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
@pytest.mark.parametrize("arch", sorted(SMALL))
def test_each_precision_runs_with_the_right_output_shape(arch, fmt, precision):
    net = camera_arch.ARCHITECTURES[arch](seed=0, **SMALL[arch])
    feeds = _feeds(net)
    reference = _run(_model(arch, fmt).build(), fmt, feeds)
    out = _run(_model(arch, fmt, precision).build(), fmt, feeds)
    h, w = SMALL[arch]["height"], SMALL[arch]["width"]
    assert out.shape == (1, h, w, 3) and out.dtype == np.float32
    scale = max(float(np.abs(reference).max()), 1.0)
    error = np.abs(out - reference)
    if precision == "int8":  # mean: Zero-DCE++'s 8 curve iterations amplify a few pixels
        assert float(error.mean()) <= 0.05 * scale
    else:
        assert float(error.max()) <= {"fp32": 1e-6, "fp16": 1e-2}[precision] * scale


def _ops(data: bytes, fmt: str) -> Counter:
    if fmt == "onnx":
        import onnx

        return Counter(n.op_type for n in onnx.load_from_string(data).graph.node)
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT.InitFromPackedBuf(data, 0)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    codes = [names[c.builtinCode] for c in model.operatorCodes]
    return Counter(codes[op.opcodeIndex] for op in model.subgraphs[0].operators)


def test_the_precisions_are_what_the_runtimes_make():
    """fp16 TFLite: float16 weights + DEQUANTIZE; int8 TFLite: full integer (QUANTIZE in,
    DEQUANTIZE out); int8 ONNX: QDQ around every conv; fp16 ONNX: Cast in and out."""
    fp16 = _ops(_model("srvgg", "tflite", "fp16").build(), "tflite")
    assert fp16["DEQUANTIZE"] == 2 * fp16["CONV_2D"] + fp16["PRELU"]
    int8 = _ops(_model("srvgg", "tflite", "int8").build(), "tflite")
    assert int8["QUANTIZE"] == 1 and int8["DEQUANTIZE"] == 1 and int8["CONV_2D"] == 6
    qdq = _ops(_model("srvgg", "onnx", "int8").build(), "onnx")
    assert qdq["Conv"] == 6 and qdq["DequantizeLinear"] > 2 * qdq["Conv"]
    assert _ops(_model("srvgg", "onnx", "fp16").build(), "onnx")["Cast"] == 2


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_a_large_frame_is_quantized_with_ranges_from_the_small_calibration_frame(fmt):
    """Above 384x216 int8 is calibrated on that frame of the same net; the ranges carry over."""
    big = {"scale": 2, "width": 768, "height": 432}
    net = camera_arch.espcn(seed=0, **big)
    feeds = _feeds(net)
    reference = _run(_model("espcn", fmt, **big).build(), fmt, feeds)
    out = _run(_model("espcn", fmt, "int8", **big).build(), fmt, feeds)
    assert out.shape == reference.shape == (1, 432, 768, 3)
    assert float(np.abs(out - reference).max()) < 0.2 * float(np.abs(reference).max())


# --- the registry and the CLI ------------------------------------------------------------------


def _npubench(*args: str, timeout: float = 300, env=None):
    return subprocess.run([sys.executable, "-m", "npubench", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_workloads_json_marks_camera_models_untrained_with_a_reference():
    items = {w["name"]: w for w in json.loads(_npubench("workloads", "--json").stdout)}
    camera = {n: w for n, w in items.items() if "camera" in w["tags"] and w["synthetic"]}
    assert len(camera) >= 40
    for name, w in camera.items():
        assert w["trained"] is False and w["synthetic"] is True, name
        assert "arXiv" in w["reference"] or "github" in w["reference"].lower() \
            or "Real-ESRGAN" in w["reference"], name
        assert name.endswith("_" + w["format"]) and f"_{w['precision']}_" in name
        assert "GFLOP per frame" in w["description"]


def test_registry_paths_follow_the_format():
    table = builtin()
    assert table["sr_espcn_x2_1080p_int8_tflite"].origin.cache_path().name == "model.tflite"
    assert table["sr_espcn_x2_1080p_int8_onnx"].origin.cache_path().name == "model.onnx"


def test_a_camera_workload_runs_on_the_host_and_on_a_simulated_phone(tmp_path):
    """Zero-DCE++ at 1080p (0.3 GFLOP per frame): TFLite on the host's XNNPACK and through
    benchmark_model on a simulated Snapdragon 8 Gen 3."""
    env = dict(os.environ, ANDROID_USER_HOME=str(tmp_path / "android-home"))
    fast = ["--no-report", "--set", "min_seconds=0.2", "--set", "max_seconds=1",
            "--set", "warmup_iterations=1", "--set", "min_iterations=3",
            "--set", "idle_baseline_s=1", "--set", "device_rounds_min=3"]
    name = "ll_zero_dce_pp_1080p_fp32_tflite"
    for device, backend in (("host", "tflite:xnnpack"), ("sim:sm8650", "tflite:cpu")):
        out = tmp_path / device.replace(":", "_")
        result = _npubench("run", "--device", device, "--workload", name, "--backend", backend,
                           "--out", str(out), *fast, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        (record,) = read_records(out)
        assert record["status"] == "ok", record["error"]
        assert record["workload"]["trained"] is False and record["workload"]["reference"]
        assert record["device"]["simulated"] is (device != "host")
        assert record["latency_ms"]["median"] > 0


# --- segmentation at the camera frame ----------------------------------------------------------


def test_resize_around_runs_a_fixed_size_model_at_a_camera_frame():
    from npubench.workloads.tflite_writer import resize_around

    small = _model("espcn", "tflite").build()  # 32x32 -> 64x64
    framed = resize_around(small, 320, 180)
    frame = np.random.default_rng(0).uniform(0, 1, (1, 180, 320, 3)).astype(np.float32)
    out = _run(framed, "tflite", {"image": frame})
    assert out.shape == (1, 180, 320, 3) and np.isfinite(out).all()
    assert _ops(framed, "tflite")["RESIZE_BILINEAR"] == 2


@pytest.mark.network
def test_selfie_segmentation_cannot_resize_to_1080p_but_runs_inside_the_camera_resize():
    from ai_edge_litert.interpreter import Interpreter

    table = builtin()
    real = Interpreter(model_path=str(table["selfie_segmentation"].path()))
    real.resize_tensor_input(real.get_input_details()[0]["index"], [1, 1080, 1920, 3])
    with pytest.raises(RuntimeError):  # its pools and resizes are fixed for 256x256
        real.allocate_tensors()
    framed = table["seg_selfie_1080p_fp16_tflite"]
    frame = np.random.default_rng(0).uniform(0, 1, (1, 1080, 1920, 3)).astype(np.float32)
    mask = _run(framed.path().read_bytes(), "tflite", {"image": frame})
    assert mask.shape == (1, 1080, 1920, 1) and np.isfinite(mask).all()
    record = framed.to_record()
    assert record["trained"] is True and record["sha256"] and "1920x1080" in record["source"]
