"""Backend specs, measurement settings and suite files: good input parses, bad input names
what is wrong."""

import pytest

from npubench.errors import ConfigError
from npubench.harness.backends import parse_backend
from npubench.harness.settings import MeasureSettings
from npubench.harness.suites import builtin_suite_names, load_suite, parse_suite


def test_backend_spec_round_trip():
    spec = parse_backend("tflite:xnnpack?threads=2")
    assert (spec.runtime, spec.accelerator, spec.options) == ("tflite", "xnnpack", {"threads": 2})
    assert str(spec) == "tflite:xnnpack?threads=2"
    assert spec.base == "tflite:xnnpack"
    assert spec.format == "tflite"
    assert parse_backend("ort:cpu").format == "onnx"


def test_with_options_keeps_explicit_ones():
    assert str(parse_backend("ort:cpu?threads=1").with_options(threads=8)) == "ort:cpu?threads=1"
    assert str(parse_backend("ort:cpu").with_options(threads=8)) == "ort:cpu?threads=8"


@pytest.mark.parametrize("text", ["tflite", "foo:cpu", "tflite:", ":cpu"])
def test_malformed_backend(text):
    with pytest.raises(ConfigError, match="unknown backend"):
        parse_backend(text)


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        parse_backend("tflite:npu9000", known=["tflite:cpu", "tflite:xnnpack", "ort:cpu"])
    assert "tflite:cpu, tflite:xnnpack" in str(info.value)


def test_bad_option():
    with pytest.raises(ConfigError, match="unknown option 'thread'"):
        parse_backend("ort:cpu?thread=2")
    with pytest.raises(ConfigError, match="not a int"):
        parse_backend("ort:cpu?threads=many")


def test_settings_validation_names_the_field():
    assert MeasureSettings.from_mapping({"max_seconds": 3}).max_seconds == 3.0
    with pytest.raises(ConfigError, match="unknown field 'max_secs'"):
        MeasureSettings.from_mapping({"max_secs": 3})
    with pytest.raises(ConfigError, match="'min_iterations' must be a number"):
        MeasureSettings.from_mapping({"min_iterations": "ten"})
    with pytest.raises(ConfigError, match="min_seconds is larger"):
        MeasureSettings.from_mapping({"min_seconds": 5, "max_seconds": 1})


def test_suite_with_a_wrong_field_names_it():
    with pytest.raises(ConfigError, match="unknown field 'workload'"):
        parse_suite("name: x\nworkload: [a]\n")
    with pytest.raises(ConfigError, match="settings: unknown field 'warmup'"):
        parse_suite("name: x\nworkloads: [a]\nsettings: {warmup: 3}\n")
    with pytest.raises(ConfigError, match="'workloads' must be a non-empty list"):
        parse_suite("name: x\nworkloads: []\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_suite("name: [x\n")


def test_suite_file_by_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nworkloads:\n  - okay_nabu\n  - name: ocr_det_ppocrv4\n"
        "    input_shapes: {x: [1, 3, 320, 320]}\nbackends: [ort:cpu]\n"
        "settings: {max_seconds: 2, target_precision: 0.02}\n"
    )
    suite = load_suite(str(path))
    assert suite.workloads == ("okay_nabu", "ocr_det_ppocrv4")
    assert suite.input_shapes["ocr_det_ppocrv4"] == {"x": (1, 3, 320, 320)}
    assert suite.settings.max_seconds == 2.0
    assert suite.backends == ("ort:cpu",)


def test_builtin_suites_load():
    assert {"quick", "full"} <= set(builtin_suite_names())
    for name in builtin_suite_names():
        suite = load_suite(name)
        assert suite.workloads or suite.pipelines


def test_unknown_suite_lists_builtins():
    with pytest.raises(ConfigError, match="built-in suites: .*quick"):
        load_suite("quik")


def test_all_means_what_the_device_can_run_and_a_named_missing_backend_is_skipped():
    """``all`` plans no ort:cuda where no CUDA provider exists; named, it is a skipped job."""
    from npubench.devices.host import HostDevice
    from npubench.harness.plan import expand_backends

    host = HostDevice()
    known = {"tflite:cpu": None, "ort:cpu": None, "ort:cuda": "CUDAExecutionProvider is not "
             "available in this onnxruntime build"}
    assert [str(b) for b, _ in expand_backends(host, ["all"], known)] == [
        "tflite:cpu", "ort:cpu"]
    (named, reason), = expand_backends(host, ["ort:cuda"], known)
    assert str(named) == "ort:cuda" and "CUDAExecutionProvider" in reason


def test_a_missing_onnx_file_is_planned_on_an_onnx_backend(tmp_path):
    from npubench.devices.host import HostDevice
    from npubench.harness.plan import make_plan
    from npubench.workloads.registry import resolve_path_or_failure

    missing = resolve_path_or_failure(str(tmp_path / "gone.onnx"))
    (job,) = make_plan([HostDevice()], [missing], ["tflite:xnnpack", "ort:cpu"])
    assert job.backend.runtime == "ort" and job.skip_reason is None
    (job,) = make_plan([HostDevice()], [missing], ["tflite:xnnpack"])  # none of its format
    assert job.backend.runtime == "tflite"  # still one job, which fails with the reason
