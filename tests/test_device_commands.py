"""Tool command lines per backend, and the shell line that runs them: pure."""

import shlex

import pytest

from npubench.errors import BackendUnavailable
from npubench.harness import device_commands as cmds
from npubench.harness.backends import parse_backend


def bm(backend, **kw):
    base = dict(threads=4, num_runs=20, min_secs=0.5, warmup_runs=3)
    return cmds.benchmark_model("/d/m.tflite", parse_backend(backend), **{**base, **kw})


def test_cpu_and_xnnpack():
    cpu = bm("tflite:cpu")
    assert "--use_xnnpack=false" in cpu.args and cpu.delegate is None
    assert "--graph=/d/m.tflite" in cpu.args and "--num_threads=4" in cpu.args
    assert "--warmup_min_secs=0" in cpu.args
    assert "--use_xnnpack=true" in bm("tflite:xnnpack").args


def test_nnapi_uses_the_chosen_accelerator():
    inv = bm("tflite:nnapi", nnapi_accelerator="qti-dsp", require_full_delegation=True)
    assert "--use_nnapi=true" in inv.args
    assert "--nnapi_accelerator_name=qti-dsp" in inv.args
    assert "--require_full_delegation=true" in inv.args
    assert (inv.delegate, inv.accelerator) == ("NNAPI", "npu")


def test_qnn_external_delegate_and_library_paths():
    inv = bm("tflite:qnn-htp", qnn_dir="/d/qnn")
    assert "--external_delegate_path=/d/qnn/libQnnTFLiteDelegate.so" in inv.args
    options = next(a for a in inv.args if a.startswith("--external_delegate_options="))
    assert "backend_type:htp" in options and "htp_performance_mode:2" in options
    assert "library_path:/d/qnn/libQnnHtp.so" in options
    assert inv.env["LD_LIBRARY_PATH"] == "/d/qnn"
    assert inv.env["ADSP_LIBRARY_PATH"].split(";")[0] == "/d/qnn"
    assert ":" not in inv.env["ADSP_LIBRARY_PATH"]  # ';'-separated, never ':'
    with pytest.raises(BackendUnavailable, match="QNN SDK"):
        bm("tflite:qnn-htp")


def test_accuracy_inputs_and_outputs():
    inv = bm("tflite:gpu", inputs=[("a", (1, 3), "/d/a.bin"), ("b", (2,), "/d/b.bin")],
             output_file="/d/out.bin")
    assert "--input_layer=a,b" in inv.args
    assert "--input_layer_shape=1,3:2" in inv.args
    assert "--input_layer_value_files=a:/d/a.bin,b:/d/b.bin" in inv.args
    assert "--output_filepath=/d/out.bin" in inv.args


def test_value_files_escape_colons_in_tensor_names():
    # benchmark_model splits NAME:PATH at the one undoubled ':' (SplitInputLayerNameAndValueFile)
    inv = bm("tflite:cpu", inputs=[("serving_default_input:0", (1, 5, 64), "/d/in:0.bin"),
                                   ("x", (2,), "/d/x.bin")])
    assert "--input_layer=serving_default_input:0,x" in inv.args
    assert "--input_layer_shape=1,5,64:2" in inv.args
    assert ("--input_layer_value_files=serving_default_input::0:/d/in::0.bin,x:/d/x.bin"
            in inv.args)
    # the phone's tool reads back the names and paths given
    from npubench.devices.sim.tools.benchmark_model import split_value_file_item

    items = next(a for a in inv.args if a.startswith("--input_layer_value_files="))
    assert [split_value_file_item(i) for i in items.split("=", 1)[1].split(",")] == [
        ("serving_default_input:0", "/d/in:0.bin"), ("x", "/d/x.bin")]


def test_neuron_uses_its_own_binary():
    inv = bm("tflite:neuron")
    assert inv.tool == "benchmark_model_plus_neuron_delegate"
    assert "--use_neuron=true" in inv.args


def test_ort_perf_test():
    inv = cmds.ort_perf_test("/d/m.onnx", parse_backend("ort:qnn-htp"), threads=2, runs=50,
                             qnn_dir="/d/qnn", require_full_delegation=True)
    assert inv.args[-1] == "/d/m.onnx"
    joined = " ".join(inv.args)
    assert "-e qnn" in joined and "-r 50" in joined and "-m times" in joined
    assert "backend_path|/d/qnn/libQnnHtp.so" in joined
    assert "session.disable_cpu_ep_fallback|1" in joined
    assert "-I" in inv.args  # random inputs unless the test data is beside the model
    plain = cmds.ort_perf_test("/d/m.onnx", parse_backend("ort:cpu"), threads=1, runs=5,
                               random_inputs=False)
    assert plain.delegate is None and "-I" not in plain.args


def test_shell_line_quotes_everything():
    inv = bm("tflite:qnn-htp", qnn_dir="/d/q n'n")
    line = cmds.shell_line("/data/local/tmp/npubench", "/d/bench mark", inv, "/d/p.pid")
    words = shlex.split(line)
    assert words[:3] == ["cd", "/data/local/tmp/npubench", "&&"]
    env = dict(w.split("=", 1) for w in words[3:5])
    assert env["LD_LIBRARY_PATH"] == "/d/q n'n"
    assert words[5:7] == ["sh", "-c"]
    inner = shlex.split(words[7])
    assert inner[:5] == ["echo", "$$", ">", "/d/p.pid;", "exec"]
    assert inner[5] == "/d/bench mark"
    assert inner[6:] == inv.args


@pytest.mark.parametrize("available, preferred, chosen", [
    (["qti-default", "qti-dsp", "qti-gpu", "nnapi-reference"], ("qti-dsp", "qti-gpu"), "qti-dsp"),
    (["google-edgetpu", "nnapi-reference"], ("google-edgetpu",), "google-edgetpu"),
    (["mtk-gpu", "mtk-neuron"], ("mtk-neuron",), "mtk-neuron"),
    (["vendor-x", "nnapi-reference"], ("qti-dsp",), "vendor-x"),
    (["nnapi-reference"], ("qti-dsp",), None),
])
def test_nnapi_accelerator_choice(available, preferred, chosen):
    assert cmds.choose_nnapi_accelerator(available, preferred) == chosen
