"""The registry: builtin.yaml is complete and consistent; names, paths and --input-shape."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from npubench.errors import ConfigError, WorkloadError
from npubench.workloads.fetch import WheelModel
from npubench.workloads.generated import GeneratedModel
from npubench.workloads.inputs import InputSpec
from npubench.workloads.registry import builtin, load_registry, parse_input_shapes, resolve

REAL = ["face_detection_short_range", "face_detection_full_range_sparse", "face_landmark",
        "face_landmark_with_attention", "hand_landmark_lite", "hand_landmark_full",
        "palm_detection_lite", "palm_detection_full", "pose_detection", "pose_landmark_full",
        "selfie_segmentation", "iris_landmark", "okay_nabu", "hey_jarvis", "ocr_det_ppocrv4",
        "ocr_det_ppocrv4_320", "ocr_rec_ppocrv4", "ocr_cls_ppocr_mobile", "silero_vad"]
SYNTHETIC = ["mobilenet_v2_synth", "mobilenet_v2_synth_int8", "tiny_bert_synth",
             "tiny_bert_synth_int8"]


@pytest.fixture(scope="module")
def table():
    return builtin()


def test_every_expected_workload_is_there(table):
    assert set(REAL + SYNTHETIC) <= set(table)


def test_every_builtin_has_its_fields(table):
    for name, w in table.items():
        assert w.name == name
        assert w.task and w.license and w.source and w.description, name
        assert w.format in ("tflite", "onnx")
        assert w.precision in ("fp32", "fp16", "int8", "int4")
        assert (w.llm is not None) == (w.task == "text-generation"), name
        assert ("synthetic" in w.tags) == w.synthetic and ("real" in w.tags) != w.synthetic
        record = w.to_record()
        assert {"name", "format", "sha256", "task", "precision", "source", "license",
                "synthetic"} <= set(record)


def test_real_models_are_pinned_wheel_files(table):
    for name in REAL:
        w = table[name]
        assert not w.synthetic and isinstance(w.origin, WheelModel)
        assert len(w.sha256) == 64 and w.sha256 == w.origin.sha256
        assert w.source.startswith("pypi:") and "==" in w.source and "!" in w.source
        assert w.origin.wheel.url.startswith("https://files.pythonhosted.org/")
        assert w.source.endswith("." + w.format)
        # every model from the same wheel is extracted together
        assert (w.origin.member, w.sha256) in w.origin.siblings


def test_synthetic_models_say_so(table):
    for name in SYNTHETIC:
        w = table[name]
        assert w.synthetic and isinstance(w.origin, GeneratedModel)
        assert w.source == f"generated:{name}"
    assert table["mobilenet_v2_synth_int8"].precision == "int8"


def test_the_unsupported_model_is_tagged(table):
    assert "unsupported-ops" in table["face_landmark_with_attention"].tags


def test_dynamic_inputs_of_builtins_are_fixed(table):
    assert table["ocr_det_ppocrv4"].inputs["x"].shape == (1, 3, 640, 640)
    assert table["ocr_det_ppocrv4_320"].inputs["x"].shape == (1, 3, 320, 320)
    vad = table["silero_vad"].inputs
    assert vad["sr"].value == 16000 and vad["input"].shape == (1, 512)


def test_every_suite_workload_is_a_builtin(table):
    folder = Path(__file__).parents[1] / "workloads" / "suites"
    for suite in folder.glob("*.yaml"):
        data = yaml.safe_load(suite.read_text())
        for entry in data.get("workloads") or []:
            name = entry if isinstance(entry, str) else entry["name"]
            assert name in table, f"{suite.name}: {name}"
        for pipeline in data.get("pipelines") or []:  # workloads.pipelines
            for role, stage in pipeline["stages"].items():
                assert stage["workload"] in table, f"{suite.name}: {role}: {stage['workload']}"


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(WorkloadError) as info:
        resolve("face_detection_short")
    text = str(info.value)
    assert "unknown workload 'face_detection_short'" in text
    assert "did you mean face_detection_short_range" in text
    for name in ("okay_nabu", "mobilenet_v2_synth", "silero_vad"):
        assert name in text


def test_resolve_applies_input_shapes_and_keeps_other_settings():
    w = resolve("silero_vad", {"input": (1, 1024), "extra": (3,)})
    assert w.inputs["input"] == InputSpec(shape=(1, 1024))
    assert w.inputs["sr"].value == 16000
    assert w.inputs["extra"].shape == (3,)
    assert builtin()["silero_vad"].inputs["input"].shape == (1, 512)  # builtin untouched
    assert w.to_record()["inputs"]["input"] == {"shape": [1, 1024]}


@pytest.mark.parametrize("texts,expected", [
    ([], {}),
    (["x=1,3,640,640"], {"x": (1, 3, 640, 640)}),
    (["x=1,3,640,640", "y=1,10"], {"x": (1, 3, 640, 640), "y": (1, 10)}),
    (["serving_default_input:0=1, 3, 40"], {"serving_default_input:0": (1, 3, 40)}),
    (["gpu_0/data_0=1,3,224,224"], {"gpu_0/data_0": (1, 3, 224, 224)}),
    (["sr="], {"sr": ()}),
])
def test_parse_input_shapes(texts, expected):
    assert parse_input_shapes(texts) == expected


@pytest.mark.parametrize("text", ["x", "=1,2", "x=1,a", "x=1,,2", "x=0,3", "x=-1,3", "x=1.5"])
def test_parse_input_shapes_refuses_bad_text_with_the_expected_form(text):
    with pytest.raises(ConfigError) as info:
        parse_input_shapes([text])
    assert "NAME=d0,d1" in str(info.value)


def test_parse_input_shapes_refuses_a_name_given_twice():
    with pytest.raises(ConfigError, match="twice"):
        parse_input_shapes(["x=1", "x=2"])


SHA = "a" * 64
WHEEL = f'wheels: {{w: {{package: p==1, license: MIT, url: "https://x/p.whl", sha256: "{SHA}"}}}}\n'
FIELDS = "name: a, task: t"
PINNED = f'path: m.onnx, sha256: "{SHA}"'


@pytest.mark.parametrize("entry,message", [
    (f"{{{FIELDS}, format: onnx, precision: fp32, wheel: w, {PINNED}, colour: red}}",
     "unknown field"),
    (f"{{{FIELDS}, format: tflite, precision: fp32, wheel: w, {PINNED}}}", "does not match"),
    (f'{{{FIELDS}, format: onnx, precision: fp32, wheel: w, path: m.onnx, sha256: "abc"}}',
     "not a sha256"),
    (f"{{{FIELDS}, format: onnx, precision: fp33, wheel: w, {PINNED}}}", "unknown precision"),
    (f"{{{FIELDS}, format: onnx, precision: fp32}}", "exactly one of"),
    (f"{{{FIELDS}, format: onnx, precision: fp32, wheel: v, {PINNED}}}", "must name a wheel"),
    (f"{{{FIELDS}, format: onnx, precision: fp32, generate: {{builder: resnet}}}}",
     "unknown builder"),
    ("{name: a, format: onnx, precision: fp32, generate: {builder: tiny_bert}}", "missing field"),
])
def test_registry_validation(entry, message):
    with pytest.raises((ConfigError, WorkloadError), match=message):
        load_registry(WHEEL + f"workloads:\n  - {entry}\n")


def test_registry_refuses_a_name_defined_twice():
    entry = "{name: a, task: t, format: onnx, precision: fp32, generate: {builder: tiny_bert}}"
    with pytest.raises(ConfigError, match="defined twice"):
        load_registry(f"workloads:\n  - {entry}\n  - {entry}\n")
