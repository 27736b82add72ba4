"""benchmark_model parser: every fixture with literal values, and the variants no sample shows
(DEVICE_TOOLS.md §1.3-1.6)."""

from pathlib import Path

import pytest

from npubench.harness.parsers.benchmark_model import parse_benchmark_model
from npubench.harness.parsers.tflite_ops import is_delegated_op, parse_op_profile

FIXTURES = Path(__file__).parent / "fixtures" / "tool-output"


def parsed(name: str) -> dict:
    return parse_benchmark_model((FIXTURES / name).read_text(encoding="utf-8"))


def test_modern_xnnpack_summary():
    r = parsed("tflite_modern_x86_xnnpack_summary.txt")
    assert r["init_ms"] == 52.687
    assert r["first_inference_ms"] == 19.105
    assert r["warmup_mean_ms"] == 14.4525
    assert r["latency_ms"] == {"n": 70, "mean": 14.2909, "std": 0.452, "min": 13.728,
                               "max": 16.145}
    assert (r["memory_init_mb"], r["memory_overall_mb"]) == (21.9492, 34.5234)
    assert "peak_memory_mb" not in r
    assert r["graph"] == "../tflite/efficientdet-tflite-lite0-detection-default-v1/1.tflite"
    assert r["delegation"]["delegate"] == "XNNPACK"
    assert r["delegation"]["status"] is None
    assert r["tool_version_hint"] == "current"
    assert r["failed"] is False and "error" not in r


def test_android_gpu_fully_delegated():
    r = parsed("tflite_android_gpu_issue43541_excerpt.txt")
    assert (r["init_ms"], r["first_inference_ms"], r["warmup_mean_ms"]) == (870.557, 130.565,
                                                                            122.373)
    assert r["latency_ms"] == {"n": 50, "mean": 119.375, "std": 1.948, "min": 113.737,
                               "max": 124.776}
    d = r["delegation"]
    assert (d["delegate"], d["status"], d["kernels"]) == ("GPU", "full", 1)
    assert r["threads"] == 4
    assert r["graph"] == "/data/local/tmp/tflite/denoising_32bit.tflite"
    assert r["failed"] is False


def test_v24_cpu_single_count_line_and_old_memory_wording():
    r = parsed("tflite_v2.4_android_cpu_summary.txt")
    # Only one count= line: it matches "Inference (avg)", so it is the regular run.
    assert r["latency_ms"] == {"n": 50, "mean": 249.684, "std": 1.442, "min": 247.067,
                               "max": 254.474}
    assert (r["init_ms"], r["first_inference_ms"], r["warmup_mean_ms"]) == (16.242, 360.262,
                                                                            304.586)
    assert (r["memory_init_mb"], r["memory_overall_mb"]) == (4.92969, 138.809)
    assert r["tool_version_hint"] == "legacy"
    assert "delegation" not in r and r["failed"] is False


def test_v24_nnapi_qti_dsp_failure():
    r = parsed("tflite_v2.4_android_nnapi_qti-dsp_failure.txt")
    assert r["failed"] is True
    assert r["error"] == ("NN API returned error ANEURALNETWORKS_BAD_DATA at line 1068 while "
                          "adding operation.")
    assert r["delegation"]["delegate"] == "NNAPI"
    assert r["delegation"]["status"] == "failed"
    assert r["nnapi_accelerators"] == ["qti-default", "qti-dsp", "qti-gpu", "nnapi-reference"]
    assert r["threads"] == 4
    assert "latency_ms" not in r


def test_qnn_external_delegate_nothing_delegated():
    r = parsed("tflite_qnn_external_delegate_issue83344_excerpt.txt")
    # "EXTERNAL delegate created." names the delegate; its kernel reports the counts
    assert r["delegation"] == {"delegate": "EXTERNAL", "kernel": "TfLiteQnnDelegate",
                               "nodes_total": 31, "nodes_delegated": 0, "kernels": 0,
                               "status": "none", "source": "log"}
    assert r["failed"] is False


def test_xnnpack_op_profile_spaces_instead_of_tabs():
    r = parsed("tflite_modern_xnnpack_opprofile_excerpt.txt")
    assert [(op["node_type"], op["avg_ms"], op["percent"], op["times_called"], op["delegated"])
            for op in r["ops"]] == [
        ("QUANTIZE", 0.203, 1.328, 1, False),
        ("Convolution (NHWC, QC8) IGEMM", 0.407, 2.658, 1, True),
        ("Convolution (NHWC, QC8) DWConv", 0.051, 4.317, 13, True),
    ]
    assert r["ops"][1]["name"] == "Delegate/Convolution (NHWC, QC8) IGEMM:0"
    assert r["ops"][0]["name"] == "[tfl.quantize]:0"
    # Only the op profile speaks of delegation: rows are counted.
    assert r["delegation"] == {"delegate": "XNNPACK", "kernel": None, "nodes_total": 3,
                               "nodes_delegated": 2, "kernels": None, "status": "partial",
                               "source": "op_profile"}
    # The "Timings (microseconds): count=..." line of the profile is not a run.
    assert "latency_ms" not in r


def test_legacy_2019_summary():
    r = parsed("synthetic_tflite_legacy_2019_summary.txt")
    assert (r["init_ms"], r["warmup_mean_ms"], r["first_inference_ms"]) == (38.467, 83.235,
                                                                            83.235)
    assert r["latency_ms"] == {"n": 50, "mean": 79.7609, "std": 0.791, "min": 78.75,
                               "max": 82.441}
    assert r["threads"] == 1
    assert r["tool_version_hint"] == "legacy"


def test_legacy_2018_no_stats_and_all_same():
    r = parsed("synthetic_tflite_legacy_2018_nostats.txt")
    assert (r["init_ms"], r["warmup_mean_ms"]) == (9.933, 76.6059)
    assert r["latency_ms"] == {"n": 50, "mean": 66.7676, "std": 0.0, "min": 66.7676,
                               "max": 66.7676}


def test_exponent_floats_and_all_same():
    r = parsed("synthetic_tflite_all_same_exponent.txt")
    assert r["init_ms"] == 2512.34
    assert r["warmup_mean_ms"] == 1234.57
    assert r["latency_ms"] == {"n": 5, "mean": 1234.57, "std": 0.0, "min": 1234.57,
                               "max": 1234.57}
    assert (r["memory_init_mb"], r["memory_overall_mb"]) == (1020.0, 1500.0)


def test_count_zero_regular_run():
    r = parsed("synthetic_tflite_count0.txt")
    assert r["latency_ms"] == {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    assert r["warmup_mean_ms"] == 8.123 and r["first_inference_ms"] == 8.123
    assert r["failed"] is False


def test_invoke_failure():
    r = parsed("synthetic_tflite_invoke_failed.txt")
    assert r["failed"] is True
    assert r["error"] == "Node number 3 (CONV_2D) failed to invoke."
    assert "latency_ms" not in r


def test_logcat_apk_output():
    r = parsed("synthetic_tflite_apk_logcat_gpu.txt")
    assert r["init_ms"] == 739.402
    assert r["latency_ms"] == {"n": 341, "mean": 2.93107, "std": 0.088, "min": 2.788,
                               "max": 3.604}
    assert r["peak_memory_mb"] == 181.5
    assert r["delegation"] == {"delegate": "GPU", "kernel": "TfLiteGpuDelegateV2",
                               "nodes_total": 31, "nodes_delegated": 31, "kernels": 1,
                               "status": "full", "source": "log"}
    assert r["graph"] == "/data/local/tmp/mobilenet_v1_1.0_224.tflite"


def test_logcat_brief_format_and_error_level():
    text = ("I/tflite  ( 8123): Initialized session in 5.5ms.\n"
            "E/tflite  ( 8123): Failed to apply GPU delegate.\n"
            "E/tflite  ( 8123): Benchmarking failed.\n")
    r = parse_benchmark_model(text)
    assert r["init_ms"] == 5.5
    assert r["error"] == "Failed to apply GPU delegate."
    assert r["delegation"]["status"] == "failed" and r["failed"] is True


def test_start_column_table_skips_initialization_section():
    r = parsed("synthetic_tflite_v2.4_nnapi_partial_start_column.txt")
    assert [op["node_type"] for op in r["ops"]] == ["TfLiteNnapiDelegate", "AVERAGE_POOL_2D",
                                                    "TfLiteNnapiDelegate", "RESHAPE"]
    assert r["ops"][0]["name"] == ("[MobilenetV2/Conv/Relu6, MobilenetV2/expanded_conv/"
                                   "depthwise/Relu6]:65")
    assert (r["ops"][0]["avg_ms"], r["ops"][0]["percent"]) == (6.105, 77.38)
    assert [op["delegated"] for op in r["ops"]] == [True, False, True, False]
    d = r["delegation"]
    assert (d["delegate"], d["kernel"], d["nodes_delegated"], d["nodes_total"]) == (
        "NNAPI", "TfLiteNnapiDelegate", 61, None)
    assert (d["kernels"], d["status"]) == (2, "partial")
    assert r["nnapi_accelerators"] == ["qti-default", "qti-dsp", "qti-gpu", "nnapi-reference"]
    assert r["latency_ms"]["n"] == 126 and r["latency_ms"]["mean"] == 7.89017
    assert (r["memory_init_mb"], r["memory_overall_mb"]) == (9.10547, 14.3008)
    assert r["tool_version_hint"] == "legacy"


def test_subgraphs_and_delegate_internal():
    r = parsed("synthetic_tflite_gpu_subgraphs_delegate_internal.txt")
    assert [(op["node_type"], op["subgraph"]) for op in r["ops"]] == [
        ("TfLiteGpuDelegateV2", 0), ("WHILE", 0), ("TfLiteGpuDelegateV2", 1)]
    assert r["ops"][2]["times_called"] == 10
    d = r["delegation"]  # Replacing lines summed over the subgraphs
    assert (d["nodes_delegated"], d["nodes_total"], d["kernels"], d["status"]) == (17, 19, 2,
                                                                                  "partial")
    assert r["latency_ms"]["n"] == 96
    assert r["peak_memory_mb"] == 140.75 and r["memory_overall_mb"] == 131.5


def test_csv_op_profile():
    r = parsed("synthetic_tflite_op_profile_csv.txt")
    assert [(op["node_type"], op["avg_ms"], op["percent"], op["delegated"]) for op in r["ops"]] \
        == [("QUANTIZE", 0.203, 1.32812, False),
            ("Convolution (NHWC, QC8) IGEMM", 0.407, 2.65817, True),
            ("Fully Connected (NC, QS8) GEMM", 0.019, 0.124, True),
            ("TFLite_Detection_PostProcess", 3.653, 23.973, False)]
    assert r["ops"][3]["name"] == "[detections, scores, classes]:2"
    assert r["ops"][1]["name"] == "Delegate/Convolution (NHWC, QC8) IGEMM:0"


def test_whitespace_fallback_node_type_ending_in_a_number():
    lines = ["============================== Run Order ==============================",
             "  [node type]  [first]  [avg ms]  [%]  [cdf%]  [mem KB]  [times called]  [Name]",
             "  Fully Connected 2   0.100   0.200   10.000%   10.000%   0.000   3   fc 7:1",
             ""]
    (op,) = parse_op_profile(lines)
    assert (op["node_type"], op["avg_ms"], op["times_called"], op["name"]) == (
        "Fully Connected 2", 0.2, 3, "fc 7:1")


@pytest.mark.parametrize("node_type, name, delegated", [
    ("CONV_2D", "[conv]:0", False),
    ("TfLiteNnapiDelegate", "[a, b]:5", True),
    ("TfLiteGpuDelegateV2", "x:1", True),
    ("DELEGATE", "x:1", True),
    ("Convolution (NHWC, QC8) GEMM", "Delegate/Convolution (NHWC, QC8) GEMM:2", True),
    ("TFLite_Detection_PostProcess", "[d]:9", False),
    ("FlexConv3D", "x:1", False),
    ("SomeVendorKernel", "x:1", True),
])
def test_delegated_row_rules(node_type, name, delegated):
    assert is_delegated_op(node_type, name) is delegated


@pytest.mark.parametrize("name, delegate, status, error", [
    ("synthetic_tflite_nnapi_accelerator_not_found.txt", "NNAPI", "failed",
     "Could not find the specified NNAPI accelerator: qti-htp. Must be one of: "
     "{nnapi-reference}."),
    ("synthetic_tflite_neuron_failed.txt", "NeuronDelegate", "failed",
     "NeuronApi error: unable to open library libneuron_adapter.so"),
])
def test_delegate_failures(name, delegate, status, error):
    r = parsed(name)
    assert (r["delegation"]["delegate"], r["delegation"]["status"]) == (delegate, status)
    assert r["error"] == error and r["failed"] is True


def test_accelerators_from_not_found_message():
    assert parsed("synthetic_tflite_nnapi_accelerator_not_found.txt")["nnapi_accelerators"] \
        == ["nnapi-reference"]


def test_qnn_though_external_runs_on_cpu():
    r = parsed("synthetic_tflite_qnn_though_external.txt")
    assert r["delegation"] == {"delegate": "EXTERNAL", "kernel": "TfLiteQnnDelegate",
                               "nodes_total": 31, "nodes_delegated": 0, "kernels": 0,
                               "status": "none", "source": "log"}
    assert r["latency_ms"]["mean"] == 9.51933 and r["failed"] is False


def test_qnn_full_delegation_not_double_counted():
    r = parsed("synthetic_tflite_qnn_htp_full.txt")
    d = r["delegation"]
    assert (d["delegate"], d["kernel"], d["nodes_delegated"], d["nodes_total"], d["status"]) \
        == ("EXTERNAL", "TfLiteQnnDelegate", 31, 31, "full")
    assert r["latency_ms"] == {"n": 2210, "mean": 0.4479, "std": 0.015, "min": 0.428,
                               "max": 0.913}


def test_pixel_edgetpu_nnapi_full():
    r = parsed("synthetic_tflite_pixel_edgetpu_nnapi.txt")
    assert r["nnapi_accelerators"] == ["google-edgetpu", "nnapi-reference"]
    d = r["delegation"]
    assert (d["delegate"], d["nodes_delegated"], d["nodes_total"], d["kernels"], d["status"]) \
        == ("NNAPI", 31, 31, 1, "full")
    assert r["peak_memory_mb"] == 12.5078


def test_require_full_delegation_failure():
    text = ("INFO: Replacing 20 out of 31 node(s) with delegate (TfLiteGpuDelegateV2) node, "
            "yielding 2 partitions.\n"
            "ERROR: Disallowed CPU fallback detected.\nERROR: Benchmarking failed.\n")
    r = parse_benchmark_model(text)
    assert r["failed"] is True and r["error"] == "Disallowed CPU fallback detected."
    d = r["delegation"]
    assert (d["delegate"], d["nodes_delegated"], d["nodes_total"], d["status"]) == (
        "TfLiteGpuDelegateV2", 20, 31, "partial")


def test_though_nnapi_not_executed():
    r = parse_benchmark_model("Though NNAPI delegate is explicitly applied, the model graph "
                              "will not be executed by the delegate.\n")
    assert r["delegation"]["status"] == "none" and r["delegation"]["kernels"] == 0


def test_two_count_lines_without_running_lines_and_crlf():
    text = "count=3 first=10 curr=11 min=9 max=12 avg=10.5 std=1\r\n" \
           "count=7 first=20 curr=21 min=19 max=22 avg=20.5 std=1\r\n"
    r = parse_benchmark_model(text)
    assert r["warmup_mean_ms"] == 0.0105 and r["first_inference_ms"] == 0.01
    assert r["latency_ms"]["n"] == 7 and r["latency_ms"]["mean"] == 0.0205


def test_empty_and_unrelated_text():
    assert parse_benchmark_model("") == {}
    assert parse_benchmark_model("hello\nworld\n[1, 2]\n") == {}


def test_info_lines_are_not_errors_but_hard_markers_are():
    r = parse_benchmark_model("INFO: Loaded model x.tflite\n"
                              "INFO: [vendor] could not enable fast path, using defaults\n"
                              "INFO: Failed to apply GPU delegate.\n")
    assert r["error"] == "Failed to apply GPU delegate." and r["failed"] is True
