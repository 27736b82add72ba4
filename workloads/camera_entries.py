"""The camera workloads of ``builtin.yaml``: one ``camera_models`` entry per network, expanded
over its sizes, precisions and formats into registry entries.

Pure: YAML data in, the registry's entry mappings out (``registry._entry`` checks and turns
them into Workloads, like every written-out entry). A model named ``sr_espcn_x2`` at size
``1080p``, precision ``int8``, format ``tflite`` becomes ``sr_espcn_x2_1080p_int8_tflite``.
Its description is the model's own text (``{frame}``, ``{low}`` and the config's keys filled
in) followed by the facts of the variant: GFLOPs per frame (2 x ``camera_arch`` MACs), the
input layout of the format and how the precision is made.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from npubench.errors import ConfigError
from npubench.workloads import camera_arch

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
PRECISIONS = ("fp32", "fp16", "int8")
FORMATS = ("onnx", "tflite")
_FIELDS = {"task", "builder", "config", "description", "reference", "sizes", "precisions",
           "formats", "inputs", "input_note", "seed", "license"}
_REQUIRED = ("task", "builder", "description", "reference", "sizes")
_DEFAULT_INPUTS = {"image": {"low": 0.0, "high": 1.0}}
_LAYOUT = {"onnx": "NCHW [1,3,H,W]", "tflite": "NHWC [1,H,W,3]"}
# (format, precision) -> (extra config, quantize mode, how the precision is made)
_MAKING = {
    ("onnx", "fp32"): ({}, None, "fp32 weights"),
    ("onnx", "fp16"): ({"fp16": True}, None,
                       "fp16 weights and compute between Casts at input and output"),
    ("onnx", "int8"): ({}, "qdq", "static int8 QDQ (onnxruntime.quantization, calibrated on "
                                  "seeded random frames)"),
    ("tflite", "fp32"): ({}, None, "fp32 weights"),
    ("tflite", "fp16"): ({"fp16": True}, None,
                         "fp16 weights with DEQUANTIZE (TFLite float16 quantization)"),
    ("tflite", "int8"): ({}, "int8", "full-integer int8 by TFLite's own calibrator/quantizer "
                                     "(seeded random frames), float32 input and output"),
}
TAGS = ("vision", "camera")


def camera_entries(models: Any, where: str = "registry") -> list[dict[str, Any]]:
    """Registry entries for ``camera_models`` (None: none), in the order model, size, format,
    precision. A bad field is a ConfigError naming it."""
    if models is None:
        return []
    if not isinstance(models, dict):
        raise ConfigError(f"{where}: 'camera_models' must map model names to mappings")
    entries = []
    for model, spec in models.items():
        at = f"{where}: camera_models.{model}"
        entries.extend(_model_entries(str(model), spec, at))
    return entries


def _model_entries(model: str, spec: Any, at: str) -> list[dict[str, Any]]:
    if not isinstance(spec, dict):
        raise ConfigError(f"{at}: expected a mapping of {', '.join(_REQUIRED)}, ...")
    unknown = set(spec) - _FIELDS
    if unknown:
        raise ConfigError(f"{at}: unknown field(s) {', '.join(sorted(map(str, unknown)))}",
                          hint="fields: " + ", ".join(sorted(_FIELDS)))
    missing = [key for key in _REQUIRED if key not in spec]
    if missing:
        raise ConfigError(f"{at}: missing field(s) {', '.join(missing)}")
    builder = spec["builder"]
    if builder not in camera_arch.ARCHITECTURES:
        raise ConfigError(f"{at}.builder: unknown camera network {builder!r}",
                          hint="known: " + ", ".join(camera_arch.ARCHITECTURES))
    config = spec.get("config") or {}
    if not isinstance(config, dict) or {"width", "height", "fp16"} & set(config):
        raise ConfigError(f"{at}.config: expected a mapping of the network's options",
                          hint="width and height come from 'sizes', fp16 from 'precisions'")
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{at}.seed: expected a whole number, not {seed!r}")
    sizes = _names(spec["sizes"], SIZES, f"{at}.sizes", "size")
    precisions = _names(spec.get("precisions", list(PRECISIONS)), PRECISIONS,
                        f"{at}.precisions", "precision")
    formats = _names(spec.get("formats", list(FORMATS)), FORMATS, f"{at}.formats", "format")
    inputs = spec.get("inputs", _DEFAULT_INPUTS)
    note = str(spec.get("input_note", "")).strip()
    entries = []
    for size in sizes:
        width, height = SIZES[size]
        sized = {**config, "width": width, "height": height}
        gflop = _gflop(builder, seed, sized, f"{at}.config")
        head = _fill(str(spec["description"]).strip(), sized, f"{at}.description")
        for fmt in formats:
            for precision in precisions:
                extra, quantize, making = _MAKING[fmt, precision]
                generate: dict[str, Any] = {"builder": builder, "seed": seed,
                                            "config": {**sized, **extra}}
                if quantize is not None:
                    generate["quantize"] = quantize
                entries.append({
                    "name": f"{model}_{size}_{precision}_{fmt}", "task": spec["task"],
                    "format": fmt, "precision": precision,
                    "license": spec.get("license", "Apache-2.0"), "generate": generate,
                    "inputs": inputs,
                    "description": f"{head}, {gflop:.1f} GFLOP per frame. Input image "
                                   f"{_LAYOUT[fmt]} float32 in [0,1]"
                                   + (f", {note}" if note else "")
                                   + f". {making}; random weights (architecture-real, not "
                                     "trained).",
                    "reference": spec["reference"],
                    "tags": [*TAGS, "quantized"] if precision == "int8" else list(TAGS),
                })
    return entries


def _names(values: Any, known, where: str, what: str) -> list[str]:
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: expected a list of {what}s", hint="known: "
                          + ", ".join(known))
    unknown = [str(v) for v in values if v not in known]
    if unknown:
        raise ConfigError(f"{where}: unknown {what}(s) {', '.join(unknown)}",
                          hint="known: " + ", ".join(known))
    return list(values)


def _fill(text: str, config: dict[str, Any], where: str) -> str:
    """``text`` with ``{frame}`` (WxH), ``{low}`` (the frame divided by the config's scale)
    and the config's keys filled in."""
    width, height, scale = config["width"], config["height"], config.get("scale", 1)
    values = {**config, "frame": f"{width}x{height}",
              "low": f"{width // scale}x{height // scale}"}
    try:
        return text.format_map(values)
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(f"{where}: bad placeholder {exc}",
                          hint="placeholders: " + ", ".join(sorted(values))) from None


def _gflop(builder: str, seed: int, config: dict[str, Any], where: str) -> float:
    """GFLOPs of one frame: 2 x the network's multiply-accumulates."""
    try:
        return 2 * _macs(builder, seed, tuple(sorted(config.items()))) / 1e9
    except (TypeError, ValueError) as exc:  # unknown option, unhashable value, bad frame
        raise ConfigError(f"{where}: {builder} cannot be built with {config}: {exc}") from None


@lru_cache(maxsize=64)
def _macs(builder: str, seed: int, config: tuple[tuple[str, Any], ...]) -> int:
    return camera_arch.ARCHITECTURES[builder](seed=seed, **dict(config)).macs()
