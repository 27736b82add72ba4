"""int8 post-training quantization of generated models, by the runtimes' own quantizers.

- ONNX: ``onnxruntime.quantization`` (``qdq``: static, QDQ format, uint8 activations, int8
  weights; ``dynamic``: int8 weights, activations quantized at run time).
- TFLite: TFLite's own calibrator and quantizer as LiteRT ships it (the ``CalibrationWrapper``
  that TensorFlow's ``lite/python/optimize/calibrator.py`` drives): full integer, int8
  activations, per-channel int8 weights, int32 biases; input and output stay float32 (QUANTIZE /
  DEQUANTIZE at the edges).

Calibration feeds ``CALIBRATION_SAMPLES`` seeded random inputs (within ``value_range`` when
given). A network that is the same at any frame size (a fully convolutional camera net) may be
calibrated on ``calibration``: the same network built at a small frame, with the same weights and
tensor names. Its activation ranges are then carried over to the full-size model, which is
quantized without running it (running a 1080p denoiser eight times through the calibrators'
reference kernels takes many minutes; ORT's MinMax calibrator would also keep every activation
of every sample in memory).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from npubench.workloads.ort_session import inspection_session

CALIBRATION_SAMPLES = 8


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization warns on the root logger about pre-processing; hide that."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def calibration_samples(specs, seed: int, value_range=None) -> list[dict[str, np.ndarray]]:
    """``CALIBRATION_SAMPLES`` input dicts, floats uniform in ``value_range`` if given."""
    from npubench.workloads.inputs import InputSpec, make_inputs

    overrides = {}
    if value_range is not None:
        overrides = {s.name: InputSpec(low=value_range[0], high=value_range[1]) for s in specs
                     if np.issubdtype(s.dtype, np.floating)}
    return [make_inputs(specs, overrides, seed=seed + i) for i in range(CALIBRATION_SAMPLES)]


# --- TFLite ------------------------------------------------------------------------------------


def _tflite_ranges(data: bytes, seed: int, value_range) -> dict[bytes, tuple[list, list]]:
    """Calibrate ``data`` and return each tensor's observed (min, max) by tensor name."""
    from ai_edge_litert import schema_py_generated as s

    calibrated = _calibrator(data, seed, value_range).Calibrate()
    model = s.ModelT.InitFromPackedBuf(bytes(calibrated), 0)
    return {t.name: (list(t.quantization.min), list(t.quantization.max))
            for t in model.subgraphs[0].tensors
            if t.quantization is not None and t.quantization.min is not None
            and len(t.quantization.min)}


def _with_ranges(data: bytes, ranges: dict[bytes, tuple[list, list]]) -> bytes:
    """``data`` with the (min, max) of every tensor named in ``ranges`` written into it."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT.InitFromPackedBuf(data, 0)
    for tensor in model.subgraphs[0].tensors:
        if tensor.name in ranges:
            params = s.QuantizationParametersT()
            params.min, params.max = ranges[tensor.name]
            tensor.quantization = params
    builder = flatbuffers.Builder(len(data) + (1 << 16))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _calibrator(data: bytes, seed: int, value_range):
    from ai_edge_litert import _pywrap_tensorflow_lite_calibration_wrapper as calibration
    from ai_edge_litert.interpreter import Interpreter

    from npubench.workloads.inputs import specs_from_litert

    details = Interpreter(model_content=data).get_input_details()
    specs = specs_from_litert(details)
    calibrator = calibration.CalibrationWrapper(data, [], [])
    calibrator.Prepare([list(d["shape"]) for d in details])
    for sample in calibration_samples(specs, seed, value_range):
        calibrator.FeedTensor([sample[s.name] for s in specs])
    return calibrator


def quantize_tflite(data: bytes, seed: int, value_range=None,
                    calibration: bytes | None = None) -> bytes:
    """Full-integer int8 TFLite from float ``data`` (see the module docstring)."""
    from ai_edge_litert import _pywrap_tensorflow_lite_calibration_wrapper as wrapper

    if calibration is None:
        calibrator = _calibrator(data, seed, value_range)
    else:  # ranges from the small frame; the quantizer keeps ranges already in the model
        # (the wrapper reads the model from these bytes without copying them, as TFLite's
        # interpreter does: they must outlive it, so they are held here, not a temporary)
        ranged = _with_ranges(data, _tflite_ranges(calibration, seed, value_range))
        calibrator = wrapper.CalibrationWrapper(ranged, [], [])
        calibrator.Prepare()
    f32, i8, i32 = (np.dtype(t).num for t in (np.float32, np.int8, np.int32))
    # input type, output type, allow float, activations, biases, disable per-channel,
    # disable per-channel for dense layers
    return bytes(calibrator.QuantizeModel(f32, f32, False, i8, i32, False, False))


# --- ONNX --------------------------------------------------------------------------------------


def quantize_onnx(data: bytes, mode: str, seed: int, value_range=None,
                  calibration: bytes | None = None) -> bytes:
    """int8 ONNX from float ``data`` with onnxruntime.quantization (see the module docstring).
    ``calibration`` is used where this ONNX Runtime has ``calibration_cache_path`` (1.24+);
    older ones calibrate on ``data`` itself."""
    from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static

    with tempfile.TemporaryDirectory(prefix="npubench-quant-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(data)
        with _quiet_root_logger():
            if mode == "dynamic":
                quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
                return dst.read_bytes()
            cached = "calibration_cache_path" in inspect.signature(quantize_static).parameters
            if calibration is None or not cached:
                quantize_static(src, dst, _reader(data, seed, value_range), **_qdq_options())
                return dst.read_bytes()
            small, cache = Path(tmp) / "small.onnx", Path(tmp) / "ranges.json"
            small.write_bytes(calibration)
            quantize_static(small, Path(tmp) / "small_int8.onnx",
                            _reader(calibration, seed, value_range),
                            calibration_cache_path=cache, **_qdq_options())
            quantize_static(src, dst, None, calibration_cache_path=cache, **_qdq_options())
        return dst.read_bytes()


def _qdq_options() -> dict:
    from onnxruntime.quantization import QuantFormat, QuantType

    return {"quant_format": QuantFormat.QDQ, "activation_type": QuantType.QUInt8,
            "weight_type": QuantType.QInt8}


def _reader(data: bytes, seed: int, value_range):
    from onnxruntime.quantization import CalibrationDataReader

    from npubench.workloads.inputs import specs_from_ort

    session = inspection_session(data)
    specs = specs_from_ort(session.get_inputs())
    del session
    samples = iter(calibration_samples(specs, seed, value_range))

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict | None:
            return next(samples, None)

    return Reader()
