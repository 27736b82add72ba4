"""devices/sim/tools: the simulated phone's benchmark_model and onnxruntime_perf_test, run
through ``Userland.run`` on real models (LiteRT / ONNX Runtime on the host), their output
formats, delegation per profile, faults, the ELF check, /proc/<pid>/status and the physics."""

from __future__ import annotations

import os
import re
import shlex
import struct
import sys

import numpy as np
import pytest
from sim_tool_process import running_pid, wait_for
from tflite_models import COLON_INPUT, add_model

from npubench.devices.sim.profiles import load_profile
from npubench.devices.sim.shell import SH
from npubench.devices.sim.tools import stub_binary
from npubench.devices.sim.tools.benchmark_model import split_value_file_item
from npubench.devices.sim.tools.delegation import (
    Node,
    delegate_specs,
    nnapi_devices,
    partition,
    plan,
)
from npubench.devices.sim.tools.stub import elf_ident, runs_on
from npubench.devices.sim.tools.tfstats import Row, profile_report, stat_line
from npubench.devices.sim.userland import Userland

T = "/data/local/tmp/npubench"
QNN = (f"--external_delegate_path={T}/libQnnTFLiteDelegate.so",
       f"--external_delegate_options=backend_type:htp;library_path:{T}/libQnnHtp.so;"
       f"skel_library_dir:{T};htp_performance_mode:2")
RUNS = ("--num_runs=3", "--min_secs=0", "--warmup_runs=1", "--warmup_min_secs=0")
MODELS = {"nabu.tflite": "okay_nabu", "face.tflite": "face_detection_short_range",
          "mnv2.onnx": "mobilenet_v2_synth", "vad.onnx": "silero_vad"}


def put(phone: Userland, path: str, data: bytes, mode: int = 0o644) -> None:
    with phone.fs.open_write(path, mode) as fh:
        fh.write(data)


def make_phone(profile: str, models: bool) -> Userland:
    phone = Userland(profile)
    phone.run(f"mkdir -p {T}")
    for name in ("benchmark_model", "onnxruntime_perf_test", "libQnnTFLiteDelegate.so",
                 "libQnnHtp.so"):
        put(phone, f"{T}/{name}", stub_binary(name), 0o755)
    if models:
        from npubench.workloads.registry import resolve

        for file, workload in MODELS.items():
            put(phone, f"{T}/{file}", resolve(workload).path().read_bytes())
    return phone


@pytest.fixture(scope="module", params=["sm8650", "mt6989"])
def phone(request):
    p = make_phone(request.param, models=True)
    yield p
    p.close()


@pytest.fixture
def bare():
    p = make_phone("sm8650", models=False)
    yield p
    p.close()


def line(tool: str, *args: str) -> str:
    """How the harness starts a tool: its pid goes to a file, exec keeps it."""
    inner = f"echo $$ > tool.pid; exec ./{tool} " + " ".join(shlex.quote(a) for a in args)
    return f"cd {T} && sh -c {shlex.quote(inner)}"


def bm(phone: Userland, *args: str, model: str = "face.tflite") -> tuple[str, str, int]:
    out, err, code = phone.run(line("benchmark_model", f"--graph={model}", *RUNS, *args),
                               timeout_s=60)
    return out.decode(), err.decode(), code


def perf(phone: Userland, *args: str) -> tuple[str, str, int]:
    out, err, code = phone.run(line("onnxruntime_perf_test", *args), timeout_s=60)
    return out.decode(), err.decode(), code


KEY_LINES = [
    r"INFO: STARTING!", r"INFO: Graph: \[face\.tflite\]", r"INFO: Loaded model face\.tflite",
    r"INFO: The input model file size \(MB\): [\d.]+",
    r"INFO: Initialized session in [\d.]+ms\.",
    r"INFO: Running benchmark for at least 1 iterations and at least 0 seconds but terminate "
    r"if exceeding 150 seconds\.",
    r"INFO: count=1 curr=\d+",
    r"INFO: Running benchmark for at least 3 iterations and at least 0 seconds but terminate "
    r"if exceeding 150 seconds\.",
    r"INFO: count=3 (first=\d+ curr=\d+ min=\d+ max=\d+ avg=[\d.e+]+ std=\d+|curr=\d+\(all "
    r"same\))",
    r"INFO: Inference timings in us: Init: \d+, First inference: \d+, Warmup \(avg\): "
    r"[\d.e+]+, Inference \(avg\): [\d.e+]+",
    r"INFO: Memory footprint delta from the start of the tool \(MB\): init=[\d.]+ "
    r"overall=[\d.]+",
]


def assert_lines(text: str, patterns: list[str]) -> None:
    for pattern in patterns:
        assert re.search(f"^{pattern}$", text, re.M), (pattern, text)


# --- pure parts ------------------------------------------------------------------------------

def test_stub_binary_is_a_minimal_elf_for_the_abi():
    arm64, x86_64, arm = (stub_binary("benchmark_model", m)
                          for m in ("aarch64", "x86_64", "armeabi-v7a"))
    assert arm64[:4] == b"\x7fELF" and arm64[4:6] == b"\x02\x01"
    assert struct.unpack_from("<HH", arm64, 16) == (3, 183)  # ET_DYN, EM_AARCH64
    assert struct.unpack_from("<H", arm64, 52)[0] == 64  # e_ehsize
    assert arm64[64:] == b"NPUBENCH-SIM-STUB benchmark_model\n"
    assert elf_ident(x86_64[:20]) == (2, 62) and elf_ident(arm[:20]) == (1, 40)
    assert arm[52:] == b"NPUBENCH-SIM-STUB benchmark_model\n"
    assert runs_on(arm64, "arm64-v8a") and not runs_on(x86_64, "arm64-v8a")
    assert runs_on(arm, "arm64-v8a,armeabi-v7a") and not runs_on(arm, "arm64-v8a")
    assert elf_ident(b"#!/system/bin/sh\n") is None
    with pytest.raises(ValueError):
        stub_binary("benchmark_model", "mips")


def test_partition_follows_tflite():
    # 0 -> 1 -> 2 -> 3, and 4 reads 0's output: 1 and 4 are supported
    nodes = [Node(0, "CONV_2D", (10,), (11,)), Node(1, "ADD", (11,), (12,)),
             Node(2, "CUSTOM", (12,), (13,)), Node(3, "ADD", (13,), (14,)),
             Node(4, "ADD", (11,), (15,))]
    subsets = partition(nodes, {1, 3, 4})
    assert [(s.delegated, s.nodes) for s in subsets] == [
        (False, (0,)), (True, (1, 4)), (False, (2,)), (True, (3,))]
    assert plan(nodes, {1, 3, 4}, max_partitions=1).delegated_nodes == (1, 4)
    full = plan(nodes, {0, 1, 2, 3, 4})
    assert full.fully_delegated and full.kernels == 1
    assert plan(nodes, set()).kernels == 0


def test_stat_line_edge_cases():
    assert stat_line([]) == "count=0"
    assert stat_line([729391]) == "count=1 curr=729391"
    assert stat_line([100] * 5) == "count=5 curr=100(all same)"
    samples = [19105, 13909, 13585]  # std: the population deviation, truncated to an integer
    assert stat_line(samples) == (f"count=3 first=19105 curr=13585 min=13585 max=19105 "
                                  f"avg=15533 std={int(np.std(samples))}")
    assert stat_line([1, 2]) == "count=2 first=1 curr=2 min=1 max=2 avg=1.5 std=0"


def test_op_profile_table_format():
    text = profile_report([Row("CONV_2D", "[a]:0", (300, 100)),
                           Row("TfLiteGpuDelegateV2", "[b, c]:5", (700, 900))])
    lines = text.splitlines()
    assert lines[0] == "============================== Run Order =============================="
    assert lines[1].split("\t")[1:] == [f"{'[node type]':>40}", "  [first]", " [avg ms]",
                                        "     [%]", "  [cdf%]", "  [mem KB]",
                                        "[times called]", "[Name]"]
    assert lines[2].split("\t")[1:] == [f"{'CONV_2D':>40}", "    0.300", "    0.200",
                                        " 20.000%", " 20.000%", "     0.000", "        1",
                                        "[a]:0"]
    assert "Number of nodes executed: 2" in lines
    assert lines[-4:-1] == ["Timings (microseconds): count=2 curr=1000(all same)",
                            "Memory (bytes): count=0", "2 nodes observed"]
    assert text.endswith("Memory (bytes): count=0\n2 nodes observed\n\n")


@pytest.mark.parametrize("name", ["sm8650", "mt6989"])
def test_profile_delegates_section(name):
    profile = load_profile(name)
    specs = delegate_specs(profile.delegates)
    assert list(nnapi_devices(profile.delegates)) == profile.accelerators["nnapi"]
    assert "gpu" in specs and "nnapi" in specs
    assert ("qnn_htp" in specs) == (name == "sm8650")
    assert ("neuron" in specs) == (name == "mt6989")


# --- starting like a program -----------------------------------------------------------------

def test_only_an_elf_for_the_phones_abi_runs(bare):
    tool = f"{T}/benchmark_model"
    for machine, bits in (("x86_64", 64), ("armeabi-v7a", 32)):
        put(bare, tool, stub_binary("benchmark_model", machine), 0o755)
        assert bare.run(f"cd {T} && ./benchmark_model --graph=x") == (
            b"", f"{SH}: ./benchmark_model: not executable: {bits}-bit ELF file\n".encode(),
            126)
    put(bare, tool, b"\x1f\x8b\x08\x00junk", 0o755)
    assert bare.run(f"cd {T} && ./benchmark_model")[1:] == (
        f"{SH}: ./benchmark_model: not executable: magic 1F8B\n".encode(), 126)
    put(bare, tool, b"echo not a tool\n", 0o755)  # no magic: mksh runs it as a script
    assert bare.run(f"cd {T} && ./benchmark_model") == (b"not a tool\n", b"", 0)
    put(bare, tool, stub_binary("benchmark_model"), 0o755)
    out, err, code = bare.run(f"cd {T} && ./benchmark_model")
    assert (out, code) == (b"INFO: STARTING!\n", 1)
    assert err == (b"ERROR: Please specify the name of your TF Lite input file with --graph\n"
                   b"ERROR: Benchmarking failed.\n")


def test_flags_unknown_and_bad_values(bare):
    out, err, code = bare.run(f"cd {T} && ./benchmark_model --graph=none.tflite --bogus=1 x")
    assert out.decode().startswith("INFO: STARTING!\nWARN: Unconsumed cmdline flags: "
                                   "--bogus=1 x\nINFO: Log parameter values verbosely: [0]\n")
    assert err.decode() == ("ERROR: Could not open 'none.tflite'.\n"
                            "ERROR: Failed to load model none.tflite\n"
                            "ERROR: Benchmarking failed.\n") and code == 1
    out, err, code = bare.run(f"cd {T} && ./benchmark_model --graph=x --num_runs=many")
    assert err.decode().startswith("ERROR: Failed to parse flag 'num_runs' against argv "
                                   "'--num_runs=many'\nERROR: usage: ./benchmark_model\n")
    assert code == 1


def fake_model(phone: Userland) -> None:
    put(phone, f"{T}/fake.tflite", b"\x1c\x00\x00\x00TFL3" + bytes(64))


def test_hang_proc_status_and_kill(bare):
    fake_model(bare)
    bare.tool_faults.hang = True
    proc = bare.start(line("benchmark_model", "--graph=fake.tflite"), stdin=b"")
    pid = running_pid(bare)
    status = bare.run(f"cat /proc/$(cat {T}/tool.pid)/status")[0].decode()
    assert re.search(r"^Name:\tbenchmark_model\n", status)
    assert re.search(rf"^Pid:\t{pid}$", status, re.M)
    rss = int(re.search(r"^VmRSS:\t +(\d+) kB$", status, re.M).group(1))
    hwm = int(re.search(r"^VmHWM:\t +(\d+) kB$", status, re.M).group(1))
    assert 1000 < rss <= hwm
    assert bare.run(f"ls /proc/{pid}") == (b"status\n", b"", 0)
    assert bare.run(f"kill {pid}") == (b"", b"", 0)
    events = []
    while (event := proc.next_event(10)) is not None and event[0] != "exit":
        events.append(event)
    assert event == ("exit", 143)
    assert b"".join(v for k, v in events if k == "stdout").endswith(
        b"INFO: Loaded model fake.tflite\n")
    assert bare.run(f"cat /proc/{pid}/status")[2] == 1  # gone with the process
    # killed by the host closing the stream: 137
    proc = bare.start(line("benchmark_model", "--graph=fake.tflite"), stdin=b"")
    running_pid(bare)
    proc.kill()
    while (event := proc.next_event(10)) is not None and event[0] != "exit":
        pass
    assert event == ("exit", 137)


# --- benchmark_model on real models -------------------------------------------------------------

def backends(profile: str) -> list[tuple[str, tuple[str, ...]]]:
    npu = ("qnn", QNN) if profile == "sm8650" else ("neuron", ("--use_neuron=true",))
    return [("cpu", ("--use_xnnpack=false",)), ("xnnpack", ("--use_xnnpack=true",)),
            ("gpu", ("--use_gpu=true",)), ("nnapi", ("--use_nnapi=true",)), npu]


@pytest.mark.network
def test_every_backend_runs_and_parses(phone):
    profile = phone.profile.name
    for backend, args in backends(profile):
        out, err, code = bm(phone, "--num_threads=2", *args)
        assert code == 0, (backend, err)
        assert_lines(out, KEY_LINES)
        if backend != "cpu":
            name = {"xnnpack": "XNNPACK", "gpu": "GPU", "nnapi": "NNAPI", "qnn": "EXTERNAL",
                    "neuron": "NeuronDelegate"}[backend]
            assert_lines(out, [f"INFO: {name} delegate created.",
                               f"INFO: Explicitly applied {name} delegate, and the model graph "
                               "will be completely executed by the delegate."])
            assert_lines(err, [r"INFO: Replacing 164 out of 164 node\(s\) with delegate "
                               r"\(\w+\) node, yielding 1 partitions for subgraph 0 \(.+\)\."])
        if backend == "qnn":
            assert_lines(err, ["INFO: TfLiteQnnDelegate delegate: 164 nodes delegated out of "
                               "164 nodes with 1 partitions."])
        if backend == "nnapi":
            devices = ",".join(phone.profile.accelerators["nnapi"])
            assert_lines(out, [rf"INFO: NNAPI accelerators available: \[{devices}\]"])
        if backend == "cpu":
            assert "XNNPACK" not in err


@pytest.mark.network
def test_parsed_by_the_harness_parser(phone):
    parsers = pytest.importorskip("npubench.harness.parsers.benchmark_model")
    out, err, code = bm(phone, "--use_gpu=true", "--num_threads=4", model="nabu.tflite")
    parsed = parsers.parse_benchmark_model(out + err)
    assert code == 0 and parsed["latency_ms"]["n"] == 3 and parsed["threads"] == 4
    assert parsed["delegation"]["delegate"] == "GPU"
    assert parsed["delegation"]["status"] == "partial"
    assert parsed["delegation"]["nodes_delegated"] == 42
    assert parsed["delegation"]["nodes_total"] == 61
    assert parsed["graph"] == "nabu.tflite" and parsed["memory_overall_mb"] > 0


@pytest.mark.network
def test_partial_delegation(phone):
    """okay_nabu keeps resource variables (VAR_HANDLE, READ/ASSIGN_VARIABLE, CALL_ONCE) that no
    delegate takes: 42 of its 61 nodes go to the NNAPI delegate, in one kernel."""
    out, err, code = bm(phone, "--use_nnapi=true", model="nabu.tflite")
    assert code == 0
    assert_lines(out, ["INFO: Explicitly applied NNAPI delegate, and the model graph will be "
                       "partially executed by the delegate w/ 1 delegate kernels."])
    assert_lines(err, [r"INFO: Replacing 42 out of 61 node\(s\) with delegate "
                       r"\(TfLiteNnapiDelegate\) node, yielding 3 partitions for subgraph 0 "
                       r"\(main\)\."])
    out, err, code = bm(phone, "--use_gpu=true", "--require_full_delegation=true",
                        model="nabu.tflite")
    assert code == 1 and "Explicitly applied" not in out
    assert err.endswith("ERROR: Disallowed CPU fallback detected.\n"
                        "ERROR: Benchmarking failed.\n")
    assert_lines(err, ["ERROR: Following operations are not supported by GPU delegate:",
                       "VAR_HANDLE: Operation is not supported."])


@pytest.mark.network
def test_nnapi_accelerators(phone):
    name = phone.profile.accelerators["nnapi"][0]
    out, err, code = bm(phone, "--use_nnapi=true", f"--nnapi_accelerator_name={name}")
    assert code == 0 and "completely executed" in out
    devices = ",".join(phone.profile.accelerators["nnapi"])
    out, err, code = bm(phone, "--use_nnapi=true", "--nnapi_accelerator_name=qti-htp")
    assert code == 1
    assert err == (f"INFO: Created TensorFlow Lite delegate for NNAPI.\n"
                   f"ERROR: Could not find the specified NNAPI accelerator: qti-htp. Must be one "
                   f"of: {{{devices}}}.\n"
                   "ERROR: Restored original execution plan after delegate application "
                   "failure.\nERROR: Failed to apply NNAPI delegate.\n"
                   "ERROR: Benchmarking failed.\n")


@pytest.mark.network
def test_vendor_delegates_exist_only_on_their_soc(phone):
    out, err, code = bm(phone, *QNN)
    if phone.profile.name == "sm8650":
        assert code == 0
    else:
        assert code == 1 and "INFO: EXTERNAL delegate created." in out
        assert err.endswith("ERROR: Failed to apply EXTERNAL delegate.\n"
                            "ERROR: Benchmarking failed.\n")
    out, err, code = bm(phone, "--use_neuron=true")
    assert code == (0 if phone.profile.name == "mt6989" else 1)
    if code:
        assert err.startswith("NeuronApi error: unable to open library "
                              "libneuron_adapter.so/libneuronusdk_adapter.mtk.so\n")
    out, err, code = bm(phone, f"--external_delegate_path={T}/missing.so")
    assert code == 1
    assert err.startswith(f"INFO: Unable to load external delegate from : {T}/missing.so\n")
    assert "ERROR: Failed to apply EXTERNAL delegate." in err


@pytest.mark.network
def test_refused_delegate_fault(phone):
    phone.tool_faults.refuse_delegates = {"gpu"}
    try:
        out, err, code = bm(phone, "--use_gpu=true")
    finally:
        phone.tool_faults.refuse_delegates = set()
    assert code == 1 and "ERROR: Failed to apply GPU delegate.\n" in err


@pytest.mark.network
def test_output_filepath_holds_the_output_tensors(phone):
    from ai_edge_litert.interpreter import Interpreter

    from npubench.workloads.registry import resolve

    interp = Interpreter(model_path=str(resolve(MODELS["face.tflite"]).path()))
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    data = np.random.default_rng(7).uniform(-1, 1, inp["shape"]).astype(np.float32)
    put(phone, f"{T}/in.bin", data.tobytes())
    out, err, code = bm(phone, f"--input_layer={inp['name']}", "--input_layer_shape=1,128,128,3",
                        f"--input_layer_value_files={inp['name']}:{T}/in.bin",
                        f"--output_filepath={T}/out.bin")
    assert code == 0, err
    interp.set_tensor(inp["index"], data)
    interp.invoke()
    expected = b"".join(interp.get_tensor(o["index"]).tobytes()
                        for o in interp.get_output_details())
    assert phone.fs.read_bytes(f"{T}/out.bin") == expected
    put(phone, f"{T}/short.bin", b"\0" * 12)
    out, err, code = bm(phone, f"--input_layer={inp['name']}", "--input_layer_shape=1,128,128,3",
                        f"--input_layer_value_files={inp['name']}:{T}/short.bin")
    assert code == 134 and err.endswith(f"FATAL: The size of {T}/short.bin is 12 bytes. It "
                                        f"should be 196608 bytes.\nAborted \n")


@pytest.mark.parametrize("item, expected", [
    # tensorflow/lite/tools/benchmark/benchmark_test.cc, SplitInputLayerNameAndValueFile
    ("input:/tmp/input", ("input", "/tmp/input")),
    ("input::0:/tmp/input", ("input:0", "/tmp/input")),
    ("input::0::0:/tmp/input", ("input:0:0", "/tmp/input")),
    ("input::::0:/tmp::input", ("input::0", "/tmp:input")),
])
def test_value_file_items_split_like_the_real_tool(item, expected):
    assert split_value_file_item(item) == expected


@pytest.mark.parametrize("item, message", [("a:b:c", "a:b:c contains more than one delimiter."),
                                           ("abc", "abc doesn't contain any delimiter.")])
def test_value_file_items_the_real_tool_refuses(item, message):
    with pytest.raises(ValueError) as info:
        split_value_file_item(item)
    assert str(info.value) == message


def test_input_names_with_colons_need_escaping_in_value_files(bare):
    put(bare, f"{T}/colon.tflite", add_model(COLON_INPUT))
    x = np.random.default_rng(3).uniform(-1, 1, (1, 5, 64)).astype(np.float32)
    put(bare, f"{T}/in.bin", x.tobytes())
    layer = (f"--input_layer={COLON_INPUT}", "--input_layer_shape=1,5,64",
             f"--output_filepath={T}/out.bin")
    out, err, code = bm(bare, *layer, f"--input_layer_value_files=serving_default_input::0:"
                        f"{T}/in.bin", model="colon.tflite")
    assert code == 0, err
    y = np.frombuffer(bare.fs.read_bytes(f"{T}/out.bin"), dtype=np.float32)
    np.testing.assert_array_equal(y, (x + np.arange(64, dtype=np.float32)).ravel())
    # written plainly, the item has two delimiters: the real tool refuses it (no random data)
    item = f"{COLON_INPUT}:{T}/in.bin"
    out, err, code = bm(bare, *layer, f"--input_layer_value_files={item}", model="colon.tflite")
    assert code == 1
    assert (f"ERROR: {item} contains more than one delimiter.\n"
            f"ERROR: Wrong input value file item specified: {item}\nERROR: 1\n") in err
    assert err.endswith("ERROR: Benchmarking failed.\n")
    # a name that --input_layer does not list is FATAL (FindLayerInfoIndex)
    out, err, code = bm(bare, *layer, f"--input_layer_value_files=input:{T}/in.bin",
                        model="colon.tflite")
    assert code == 134
    assert err.endswith(f"FATAL: Cannot find the corresponding input_layer name(input) in "
                        f"--input_layer as {COLON_INPUT}\nAborted \n")


@pytest.mark.network
def test_op_profiling_tables(phone):
    out, err, code = bm(phone, "--enable_op_profiling=true", "--use_gpu=true", "--num_threads=1",
                        "--report_peak_memory_footprint=true", model="nabu.tflite")
    assert code == 0
    assert_lines(out, [r"INFO: Overall peak memory footprint \(MB\) via periodic monitoring: "
                       r"[\d.]+", "INFO: Memory status at the end of exeution:",
                       r"INFO: - VmRSS              : \d+ MB"])
    table = out.split("INFO: Operator-wise Profiling Info for Regular Benchmark Runs:\n")[1]
    rows = [r.split("\t") for r in table.split("\n\n")[0].splitlines()[2:]]
    assert [r[1].strip() for r in rows].count("TfLiteGpuDelegateV2") == 1
    assert all(len(r) == 9 and r[6].strip() == "0.000" and r[7].strip() == "1" for r in rows)
    assert rows[-1][5].strip() == "100.000%"
    assert re.search(r"^Timings \(microseconds\): count=3 ", table, re.M)
    assert out.endswith("nodes observed\n\n\n\n")


@pytest.mark.network
def test_a_run_loads_the_physics_and_has_a_proc_entry(phone):
    idle = phone.physics.snapshot().current_a
    proc = phone.start(line("benchmark_model", "--graph=face.tflite", "--num_threads=4",
                            "--min_secs=2", "--warmup_min_secs=0"), stdin=b"")
    pid = running_pid(phone)
    busy = wait_for(lambda: phone.physics.snapshot().current_a > idle + 0.1 and
                    phone.physics.snapshot().current_a)
    assert busy > idle
    status = phone.run(f"cat /proc/{pid}/status")[0].decode()
    assert re.search(r"^VmHWM:\t +\d+ kB$", status, re.M)
    while (event := proc.next_event(30)) is not None and event[0] != "exit":
        pass
    assert event == ("exit", 0)


@pytest.mark.network
def test_crash_fault(phone):
    phone.tool_faults.crash = True
    try:
        out, err, code = bm(phone)
    finally:
        phone.tool_faults.crash = False
    assert code == 139 and err.endswith("Segmentation fault \n")
    assert out.endswith("INFO: Running benchmark for at least 1 iterations and at least 0 "
                        "seconds but terminate if exceeding 150 seconds.\n")


# --- onnxruntime_perf_test -------------------------------------------------------------------

ORT_LINES = [r"Session creation time cost: [\d.e-]+ s", r"First inference time cost: \d+ ms",
             r"Total inference time cost: [\d.e-]+ s", "Total inference requests: 10",
             r"Average inference time cost: [\d.e-]+ ms", r"Total inference run time: [\d.e-]+ s",
             r"Number of inferences per second: [\d.e+]+ ", r"Avg CPU usage: \d+ %",
             r"Peak working set size: \d+ bytes", r"Avg CPU usage:\d+",
             r"Peak working set size:\d+", "Runs:10"]


@pytest.mark.network
def test_perf_test_output_and_percentiles(phone):
    out, err, code = perf(phone, "-I", "-m", "times", "-r", "10", "--x", "2", "-y", "1",
                          "-e", "cpu", "-S", "1", "-s", "mnv2.onnx")
    assert (err, code) == ("", 0)
    assert_lines(out, ["Setting intra_op_num_threads to 2", *ORT_LINES])
    latency = {m[1]: float(m[2]) for m in re.finditer(r"^(\w+) Latency: ([\d.e-]+) s$", out,
                                                      re.M)}
    assert list(latency) == ["Min", "Max", "P50", "P90", "P95", "P99", "P999"]
    assert latency["Min"] <= latency["P50"] <= latency["P90"] <= latency["Max"]
    assert latency["P99"] == latency["P999"] == latency["Max"]  # sorted[int(10 * q)], n < 100
    mean_ms = float(re.search(r"Average inference time cost: ([\d.e-]+) ms", out)[1])
    assert latency["Min"] * 1000 <= mean_ms <= latency["Max"] * 1000
    parser = pytest.importorskip("npubench.harness.parsers.ort_perf_test")
    assert parser.parse_ort_perf_test(out)["latency_ms"]["n"] == 10


@pytest.mark.network
def test_perf_test_disable_cpu_ep_fallback(phone):
    fallback = ("-C", "session.disable_cpu_ep_fallback|1")
    out, err, code = perf(phone, "-I", "-m", "times", "-r", "2", "-e", "nnapi", *fallback,
                          "mnv2.onnx")
    assert code == 0 and "Total inference requests: 2" in out
    out, err, code = perf(phone, "-I", "-m", "times", "-r", "2", "-e", "nnapi", *fallback,
                          "vad.onnx")  # its If node is not an NNAPI op
    assert (out, code) == ("", 255)
    assert err == ("This session contains graph nodes that are assigned to the default CPU EP, "
                   "but fallback to CPU EP has been explicitly disabled by the user.\n")
    out, err, code = perf(phone, "-I", "-m", "times", "-r", "2", "-e", "nnapi", "vad.onnx")
    assert "VerifyEachNodeIsAssignedToAnEp] Some nodes were not assigned" in err
    # with fallback the session is made; -I makes its free dimensions 1, too short for its STFT
    assert code == 255 and out.startswith("Run failed:Non-zero status code returned while ")
    out, err, code = perf(phone, "-I", "-m", "times", "-r", "2", "-e", "qnn", "-i",
                          f"backend_path|{T}/libQnnHtp.so", *fallback, "mnv2.onnx")
    assert code == (0 if phone.profile.name == "sm8650" else 255)


@pytest.mark.network
def test_perf_test_usage_errors(phone):
    out, err, code = perf(phone, "-I", "-Q", "mnv2.onnx")
    assert code == 255 and err.startswith("./onnxruntime_perf_test: unknown option -- Q\n")
    assert err.endswith("See 'onnxruntime_perf_test --help'.")
    out, err, code = perf(phone, "-m", "times", "-r", "2", "mnv2.onnx")
    assert (out, code) == ("there is no test data for model npubench\n"
                           "Run failed:failed to initialize.\n", 255)


def test_the_runtimes_own_stderr_lines_stay_out_of_the_hosts_terminal(capfd):
    from npubench.devices.sim.native_stderr import runtime_lines_held

    with runtime_lines_held():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
                    b"ERROR: something else the host must see\n")
        print("a warning from another thread", file=sys.stderr)
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == ["ERROR: something else the host must see",
                                        "a warning from another thread"]
