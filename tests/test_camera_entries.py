"""The camera_models matrix of builtin.yaml: its expansion into registry entries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from npubench.errors import ConfigError
from npubench.workloads import camera_arch
from npubench.workloads.camera_entries import SIZES, camera_entries
from npubench.workloads.registry import BUILTIN_YAML, load_registry

SUITE = Path(BUILTIN_YAML).parent / "suites" / "camera.yaml"
MODEL = {"task": "super-resolution", "builder": "espcn", "config": {"scale": 2},
         "sizes": ["1080p"], "description": "ESPCN x{scale}, {low} -> {frame}",
         "reference": "arXiv:1609.05158"}


def builtin_entries() -> list[dict]:
    data = yaml.safe_load(BUILTIN_YAML.read_text(encoding="utf-8"))
    return camera_entries(data["camera_models"], "builtin.yaml")


def test_the_matrix_gives_the_camera_suite():
    names = [e["name"] for e in builtin_entries()]
    suite = yaml.safe_load(SUITE.read_text(encoding="utf-8"))["workloads"]
    assert len(names) == len(set(names)) == 48
    assert set(names) == set(suite) - {"seg_selfie_1080p_fp16_tflite"}  # a real, written model


def test_each_precision_and_format_is_made_its_own_way():
    made = {"fp32_onnx": (None, None, "NCHW"), "fp16_onnx": (True, None, "NCHW"),
            "int8_onnx": (None, "qdq", "NCHW"), "fp32_tflite": (None, None, "NHWC"),
            "fp16_tflite": (True, None, "NHWC"), "int8_tflite": (None, "int8", "NHWC")}
    for entry in builtin_entries():
        size, variant = re.fullmatch(r".*_(720p|1080p|4k)_(\w+_\w+)", entry["name"]).groups()
        fp16, quantize, layout = made[variant]
        generate = entry["generate"]
        assert variant == f"{entry['precision']}_{entry['format']}"
        assert generate["config"].get("fp16") is fp16
        assert generate.get("quantize") is quantize
        assert (generate["config"]["width"], generate["config"]["height"]) == SIZES[size]
        assert f"Input image {layout} [1," in entry["description"]
        assert ("quantized" in entry["tags"]) == (entry["precision"] == "int8")
        config = {k: v for k, v in generate["config"].items() if k != "fp16"}
        net = camera_arch.ARCHITECTURES[generate["builder"]](seed=generate["seed"], **config)
        assert f", {2 * net.macs() / 1e9:.1f} GFLOP per frame." in entry["description"]


def test_the_registry_turns_a_section_into_workloads():
    doc = {"workloads": [], "camera_models": {"sr_tiny": {**MODEL, "precisions": ["int8"],
                                                            "formats": ["tflite"]}}}
    table = load_registry(yaml.safe_dump(doc), "test")
    workload = table["sr_tiny_1080p_int8_tflite"]
    assert list(table) == ["sr_tiny_1080p_int8_tflite"]
    assert workload.description.startswith("ESPCN x2, 960x540 -> 1920x1080, 27.7 GFLOP")
    assert workload.origin.quantize == "int8" and workload.synthetic
    assert workload.tags == ("synthetic", "vision", "camera", "quantized")
    assert workload.reference == "arXiv:1609.05158"


@pytest.mark.parametrize(("change", "field"), [
    ({"colour": "red"}, "unknown field(s) colour"),
    ({"sizes": ["8k"]}, "camera_models.m.sizes: unknown size(s) 8k"),
    ({"sizes": "1080p"}, "camera_models.m.sizes: expected a list"),
    ({"precisions": ["int4"]}, "camera_models.m.precisions: unknown precision(s) int4"),
    ({"formats": ["gguf"]}, "camera_models.m.formats: unknown format(s) gguf"),
    ({"builder": "unet"}, "camera_models.m.builder: unknown camera network 'unet'"),
    ({"config": {"width": 640}}, "camera_models.m.config"),
    ({"config": {"scale": 2, "layers": 3}}, "camera_models.m.config: espcn cannot be built"),
    ({"config": {"scale": 7}}, "camera_models.m.config: espcn cannot be built"),
    ({"config": {"scale": [2]}}, "camera_models.m.config: espcn cannot be built"),
    ({"seed": "one"}, "camera_models.m.seed"),
    ({"description": "ESPCN at {fps}"}, "camera_models.m.description: bad placeholder 'fps'"),
])
def test_a_bad_section_names_the_field(change, field):
    with pytest.raises(ConfigError) as err:
        camera_entries({"m": {**MODEL, **change}}, "test")
    assert field in str(err.value)


def test_missing_fields_and_bad_shapes_are_config_errors():
    spec = {k: v for k, v in MODEL.items() if k != "reference"}
    with pytest.raises(ConfigError, match=r"camera_models\.m: missing field\(s\) reference"):
        camera_entries({"m": spec}, "test")
    with pytest.raises(ConfigError, match=r"camera_models\.m: expected a mapping"):
        camera_entries({"m": ["espcn"]}, "test")
    with pytest.raises(ConfigError, match="'camera_models' must map"):
        camera_entries(["m"], "test")
    assert camera_entries(None, "test") == []


def test_a_name_made_twice_is_refused():
    written = {"name": "m_1080p_fp32_onnx", "task": "t", "format": "onnx", "precision": "fp32",
               "generate": {"builder": "espcn", "config": {"scale": 2}}}
    doc = {"workloads": [written], "camera_models": {"m": MODEL}}
    with pytest.raises(ConfigError, match="'m_1080p_fp32_onnx' is defined twice"):
        load_registry(yaml.safe_dump(doc), "test")
