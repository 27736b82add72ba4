"""LLM jobs on a phone through llama-bench (harness/device_llm.py): the command lines per
accelerator (run through a real shell and the emulated tool's own option parser), the record
fields from llama-bench's JSON, which llama backends a phone offers, and whole jobs on the
simulated phone (llama:cpu, llama:htp; a phone without Hexagon; a crashing tool)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from npubench.errors import BackendUnavailable, ToolError
from npubench.harness import device_commands as cmds
from npubench.harness.backends import BackendSpec
from npubench.harness.device_job import DelegateFailed, DeviceJobOptions, phone_backends
from npubench.harness.device_llm import (
    DELEGATION_SOURCE,
    DEVICES_SOURCE,
    check,
    delegation_block,
    energy_per_token,
    json_fields,
    library_version,
    llm_figures,
    model_sizes,
    pick_test,
)
from npubench.harness.parsers.llama_bench import parse_llama_bench
from npubench.harness.record import finish_record
from npubench.harness.tools import ToolConfig
from npubench.workloads.llm_config import DecoderConfig

FIXTURE = Path(__file__).parent / "fixtures" / "tool-output" / "llama_bench_json_readme.json"
CPU, GPU, HTP = (BackendSpec("llama", a) for a in ("cpu", "gpu", "htp"))
CONFIG = DecoderConfig(layers=2, hidden=64, heads=4, kv_heads=2, intermediate=128, vocab=300,
                       context=256)
PHONE_CONFIG = DecoderConfig(layers=4, hidden=256, heads=8, kv_heads=4, intermediate=512,
                             vocab=2048, context=256)
"""The GGUF that the simulated phone runs: large enough that each llama-bench run lasts a few
samples of the phone's sampler (its VmHWM is the peak memory)."""


def _bench_json() -> tuple[str, dict, dict]:
    """The README's JSON (a pp512 test) plus a tg128 test made from it: text, pp and tg."""
    pp = json.loads(FIXTURE.read_text())[0]
    tg = copy.deepcopy(pp)
    tg.update(n_prompt=0, n_gen=128, samples_ns=[1_280_000_000, 1_600_000_000, 1_400_000_000],
              samples_ts=[100.0, 80.0, 91.428571])
    text = "llama-bench log line\n" + json.dumps([pp, tg], indent=2) + "\n"
    return text, pp, tg


# --- command lines -------------------------------------------------------------------------------

def test_tool_for_llama_backends_is_llama_bench():
    for spec in (CPU, GPU, HTP):
        assert cmds.tool_for(spec) == "llama-bench"
    with pytest.raises(BackendUnavailable, match="llama:vulkan"):
        cmds.llama_bench("m.gguf", BackendSpec("llama", "vulkan"), threads=4, n_prompt=1,
                         n_gen=1, repetitions=1)


def _flag(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.mark.parametrize(("spec", "ngl", "device", "delegate", "accelerator"), [
    (CPU, "0", "none", None, "cpu"),
    (GPU, "99", "GPUOpenCL", "OpenCL", "gpu"),
    (HTP, "99", "HTP0", "HTP", "npu"),
])
def test_flags_per_accelerator(spec, ngl, device, delegate, accelerator):
    inv = cmds.llama_bench("/p/m.gguf", spec, threads=6, n_prompt=512, n_gen=0, repetitions=3,
                           lib_dir="/data/local/tmp/npubench/files/abc")
    args = inv.args
    assert (_flag(args, "-m"), _flag(args, "-p"), _flag(args, "-n")) == ("/p/m.gguf", "512", "0")
    assert (_flag(args, "-r"), _flag(args, "-t"), _flag(args, "-o")) == ("3", "6", "json")
    assert (_flag(args, "-ngl"), _flag(args, "-dev")) == (ngl, device)
    assert (inv.tool, inv.delegate, inv.accelerator) == ("llama-bench", delegate, accelerator)
    assert inv.env["LD_LIBRARY_PATH"] == "/data/local/tmp/npubench/files/abc"
    # FastRPC finds libggml-htp-vNN.so for the DSP through ADSP_LIBRARY_PATH (NPU only)
    assert inv.env.get("ADSP_LIBRARY_PATH") == (
        "/data/local/tmp/npubench/files/abc" if spec is HTP else None)


def test_no_lib_folder_means_no_environment():
    inv = cmds.llama_bench("m.gguf", HTP, threads=4, n_prompt=8, n_gen=4, repetitions=1)
    assert inv.env == {}


def test_the_emulated_llama_bench_accepts_every_command_line():
    """The emulation parses options as llama-bench's parse_cmd_params does: what it accepts,
    with the devices of a Snapdragon phone, is what a real build accepts."""
    from npubench.devices.sim.tools import llama_bench as lb

    devices = [lb.Device("GPUOpenCL", "QUALCOMM Adreno(TM) 750", "OpenCL", "gpu", 8192),
               lb.Device("HTP0", "Hexagon", "HTP", "npu", 2048)]
    for spec, device in ((CPU, ()), (GPU, (devices[0],)), (HTP, (devices[1],))):
        inv = cmds.llama_bench("m.gguf", spec, threads=4, n_prompt=0, n_gen=16, repetitions=2)
        params = lb.parse(inv.args, devices, threads=8)
        assert params.devices == [device] and params.output == "json" and params.reps == 2
        (test,) = lb.instances(params)
        assert (test["n_prompt"], test["n_gen"]) == (0, 16)


def test_a_model_path_with_spaces_and_quotes_reaches_the_tool_intact(tmp_path):
    """The line goes through a real POSIX shell to a tool that prints its arguments."""
    tool = tmp_path / "llama-bench"
    tool.write_text('#!/bin/sh\nprintf "%s\\n" "LD=$LD_LIBRARY_PATH" "ADSP=$ADSP_LIBRARY_PATH" '
                    '"$@"\n')
    tool.chmod(0o755)
    model = str(tmp_path / "my models" / "it's a \"q4\" $HOME `x`.gguf")
    lib = str(tmp_path / "lib dir; rm -rf /")
    inv = cmds.llama_bench(model, HTP, threads=4, n_prompt=8, n_gen=4, repetitions=1,
                           lib_dir=lib)
    line = cmds.shell_line(str(tmp_path), str(tool), inv, str(tmp_path / "tool.pid"))
    out = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, check=True)
    printed = out.stdout.splitlines()
    assert printed == [f"LD={lib}", f"ADSP={lib}", *inv.args]
    assert _flag(printed, "-m") == model
    assert (tmp_path / "tool.pid").read_text().strip().isdigit()


# --- from llama-bench's JSON to the record -------------------------------------------------------

def test_record_fields_from_llama_bench_json():
    text, _, _ = _bench_json()
    parsed = parse_llama_bench(text)
    phone = SimpleNamespace(device=SimpleNamespace(spec="sim:x"))
    pp, tg = pick_test(parsed, "pp", phone), pick_test(parsed, "tg", phone)
    figures = llm_figures(pp, tg)
    # the README's pp512 samples: median 71745200 ns; tokens/s median 7136.37
    assert figures["ttft_ms"] == pytest.approx(71.7452)
    assert figures["prefill_tokens_per_s"] == pytest.approx(7136.37)
    assert figures["decode_tokens_per_s"] == pytest.approx(91.428571)
    assert figures["llm"]["ttft_ms"]["n"] == 5 and figures["llm"]["decode_tokens_per_s"]["n"] == 3
    # per generated token, one figure per repetition: 1.28 s / 128 = 10 ms, 12.5 ms, 10.9375 ms
    assert figures["samples"]["latency_ms"] == pytest.approx([10.0, 12.5, 10.9375])
    assert figures["latency_ms"] == figures["llm"]["token_latency_ms"]
    assert figures["latency_ms"]["median"] == pytest.approx(10.9375)
    assert figures["samples"]["tg_samples_ns"] == tg["samples_ns"]
    assert figures["samples"]["pp_samples_ns"][0] == 74601900
    assert library_version(tg) == "8cf427ff (5163)"

    extra = json_fields(text)
    assert extra["type_k"] == "f16" and extra["devices"] == "auto"
    sizes = model_sizes(tg, SimpleNamespace(config=CONFIG, params=1, size_bytes=2), 40, extra)
    assert sizes["params"] == 7615616512 and sizes["weight_bytes"] == 4677120000
    # K and V, f16: 2 layers x 32 (kv_heads x head_dim) x 40 positions x (2 + 2) bytes
    assert sizes["kv_cache_bytes"] == 2 * 32 * 40 * 4 == CONFIG.kv_cache_bytes(40, "fp16")
    quantized = model_sizes({}, SimpleNamespace(config=CONFIG, params=11, size_bytes=22), 40,
                            {"type_k": "q8_0", "type_v": "q8_0"})
    assert quantized == {"params": 11, "weight_bytes": 22, "kv_cache_bytes": 2 * 32 * 40 * 2 * 34
                         // 32}


def test_delegation_from_the_backends_llama_bench_names():
    htp = cmds.llama_bench("m", HTP, threads=4, n_prompt=8, n_gen=4, repetitions=1)
    full = delegation_block({"backend": "OpenCL,HTP", "n_gpu_layers": 99}, htp, HTP)
    assert (full["status"], full["fallback"], full["delegate"], full["expected"]) == (
        "full", False, "HTP", "npu")
    assert full["source"] == DELEGATION_SOURCE and full["n_gpu_layers"] == 99
    on_cpu = delegation_block({"backend": "CPU"}, htp, HTP)
    assert (on_cpu["status"], on_cpu["fallback"]) == ("none", True)
    cpu = cmds.llama_bench("m", CPU, threads=4, n_prompt=8, n_gen=4, repetitions=1)
    assert delegation_block({"backend": "CPU"}, cpu, CPU)["fallback"] is False


def test_delegation_from_the_devices_llama_bench_names():
    """A real build's `backends` lists every backend it has ("OpenCL,HTP" on Snapdragon), so
    only `devices` tells a run on the Hexagon NPU from one on the CPU or the GPU."""
    htp = cmds.llama_bench("m", HTP, threads=4, n_prompt=8, n_gen=4, repetitions=1)
    test = {"backend": "OpenCL,HTP", "n_gpu_layers": 99}
    on_npu = delegation_block({**test, "devices": "HTP0"}, htp, HTP)
    assert (on_npu["status"], on_npu["fallback"], on_npu["ran_on"]) == ("full", False, "HTP0")
    assert (on_npu["placement_from"], on_npu["source"]) == ("devices", DEVICES_SOURCE)
    assert on_npu["expected_on"] == "HTP0" and on_npu["backends"] == "OpenCL,HTP"
    for devices, ran_on in (("none", "CPU"), ("GPUOpenCL", "GPUOpenCL")):
        block = delegation_block({**test, "devices": devices}, htp, HTP)
        assert (block["status"], block["fallback"], block["ran_on"]) == ("none", True, ran_on)
        assert block["placement_from"] == "devices"
    # `auto` or no field: the build's list is all there is, and the record says so
    auto = delegation_block({**test, "devices": "auto"}, htp, HTP)
    assert (auto["status"], auto["placement_from"], auto["source"]) == (
        "full", "backends", DELEGATION_SOURCE)
    cpu = cmds.llama_bench("m", CPU, threads=4, n_prompt=8, n_gen=4, repetitions=1)
    on_cpu = delegation_block({**test, "devices": "none", "n_gpu_layers": 0}, cpu, CPU)
    assert (on_cpu["status"], on_cpu["fallback"], on_cpu["ran_on"]) == ("none", False, "CPU")


def test_failures_say_what_llama_bench_said():
    phone = SimpleNamespace(device=SimpleNamespace(spec="sim:x"),
                            backend=HTP)
    htp = cmds.llama_bench("m", HTP, threads=4, n_prompt=8, n_gen=4, repetitions=1)
    with pytest.raises(DelegateFailed, match="HTP0 device: error: invalid device: HTP0"):
        check(parse_llama_bench("error: invalid device: HTP0\nusage: ...\n"), 1, phone, htp)
    with pytest.raises(ToolError, match=r"crashed \(SIGSEGV, exit 139\)") as crash:
        check({}, 139, phone, htp)
    assert not isinstance(crash.value, DelegateFailed)
    failed = (Path(__file__).parent / "fixtures" / "tool-output"
              / "synthetic_llama_bench_failed.txt").read_text()
    phone.backend = CPU
    cpu = cmds.llama_bench("m", CPU, threads=4, n_prompt=8, n_gen=4, repetitions=1)
    with pytest.raises(ToolError, match="failed to load model from /data/local/tmp/gguf/missing"):
        check(parse_llama_bench(failed), 1, phone, cpu)
    check(parse_llama_bench(_bench_json()[0]), 0, phone, cpu)  # a good run passes
    with pytest.raises(ToolError, match="no tg test"):
        pick_test({"tests": [{"n_prompt": 8, "n_gen": 0, "samples_ns": [1]}]}, "tg", phone)


def test_energy_per_token_or_the_reason():
    assert energy_per_token({"power": {"energy_mj_per_inference": 3.5}}) == (3.5, None)
    assert energy_per_token({"power": None, "power_missing_reason": "no fuel gauge"}) == (
        None, "no fuel gauge")
    assert energy_per_token({"power": {"energy_mj_per_inference": None,
                                       "energy_missing_reason": "active below idle"}}) == (
        None, "active below idle")


def test_finish_record_keeps_the_llm_fields():
    llm = {"prompt_tokens": 32, "gen_tokens": 8, "source": "llama-bench"}
    result = {"status": "ok", "latency_ms": {"n": 2}, "power": None, "ttft_ms": 5.0,
              "prefill_tokens_per_s": 100.0, "decode_tokens_per_s": 20.0,
              "energy_mj_per_token": None, "energy_missing_reason": "no fuel gauge", "llm": llm}
    record = finish_record({"backend": {}}, result)
    assert (record["ttft_ms"], record["decode_tokens_per_s"], record["llm"]) == (5.0, 20.0, llm)
    assert record["energy_missing_reason"] == "no fuel gauge"
    plain = finish_record({"backend": {}}, {"status": "ok", "latency_ms": {"n": 2},
                                            "power": None})
    assert "ttft_ms" not in plain and "llm" not in plain


# --- which llama backends a phone offers ---------------------------------------------------------

def test_simulated_phones_offer_llama_backends_where_the_soc_has_them(android):
    snapdragon = phone_backends(android("sm8650"), ToolConfig())
    assert {b: snapdragon[b] for b in ("llama:cpu", "llama:gpu", "llama:htp")} == {
        "llama:cpu": None, "llama:gpu": None, "llama:htp": None}
    dimensity = phone_backends(android("mt6989"), ToolConfig())
    assert dimensity["llama:cpu"] is None
    assert "Hexagon" in dimensity["llama:htp"] and "MediaTek" in dimensity["llama:htp"]


def test_a_real_phone_needs_llama_bench_and_its_lib_folder(sim_phone, adb_home, tmp_path):
    from npubench.devices.android import AndroidDevice
    from npubench.devices.hashcache import HashCache
    from npubench.devices.sim.tools.stub import stub_binary
    from npubench.devices.transport import AdbShellTransport

    host, port = sim_phone("sm8650").address
    phone = AndroidDevice(AdbShellTransport("tcp", host, port), f"tcp:{host}:{port}",
                          hash_cache=HashCache(tmp_path / "hashes.json")).connect()
    phone.run("rm -rf /data/local/tmp/llama.cpp")  # a phone without llama.cpp installed
    none = phone_backends(phone, ToolConfig())
    assert "--tool llama-bench=PATH" in none["llama:cpu"]
    assert "build llama.cpp for Android" in none["llama:htp"]
    tool = tmp_path / "llama.cpp" / "bin" / "llama-bench"
    tool.parent.mkdir(parents=True)
    tool.write_bytes(stub_binary("llama-bench"))
    no_lib = phone_backends(phone, ToolConfig({"llama-bench": tool}))
    assert no_lib["llama:cpu"] is None
    assert "--tool llama_cpp_lib=PATH" in no_lib["llama:htp"]
    (tool.parent.parent / "lib").mkdir()
    ready = phone_backends(phone, ToolConfig({"llama-bench": tool}))
    assert ready["llama:htp"] is None and ready["llama:gpu"] is None
    phone.close()


# --- whole jobs on the simulated phone -----------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    """A tiny llama GGUF (int4), and a private cache for the emulated tool's decoders."""
    gguf_files = pytest.importorskip("npubench.workloads.gguf_files")
    folder = tmp_path_factory.mktemp("llm-phone")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NPUBENCH_CACHE", str(folder / "cache"))
        mp.delenv("NPUBENCH_MEMORY_AVAILABLE_MB", raising=False)
        path = folder / "tiny llama.gguf"
        gguf_files.write_gguf(path, PHONE_CONFIG, "int4", seed=0)
        yield path


def _run(device, tmp_path, model: Path, backends, prompt=64, generate=64, on_done=None,
         **settings):
    from npubench.harness.plan import make_plan
    from npubench.harness.run import PhoneContext, execute, new_run_id, start_run
    from npubench.harness.settings import MeasureSettings
    from npubench.results import read_records
    from npubench.workloads.registry import resolve

    workload = resolve(str(model)).with_tokens(prompt, generate)
    tools = ToolConfig()
    jobs = make_plan([device], [workload], backends,
                     known_backends=lambda d: phone_backends(d, tools))
    run_id = new_run_id()
    store = start_run(tmp_path / "run", run_id, {}, None)
    fast = dict(llm_repetitions=2, idle_baseline_s=0.5, job_timeout_s=120)
    execute(jobs, store, run_id, MeasureSettings(**{**fast, **settings}),
            on_done=on_done or (lambda job, record: None),
            phone=PhoneContext(tools, DeviceJobOptions(cooldown_timeout_s=30)))
    return read_records(store.run_dir), store.run_dir


def test_llm_jobs_on_a_simulated_snapdragon(android, tiny_gguf, tmp_path):
    phone = android("sm8650")
    records, run_dir = _run(phone, tmp_path, tiny_gguf, ["llama:cpu", "llama:htp"])
    assert [r["backend"]["spec"].split("?")[0] for r in records] == ["llama:cpu", "llama:htp"]
    for record in records:
        assert record["status"] == "ok", record["error"]
        assert record["device"]["simulated"] is True
        assert record["workload"]["task"] == "text-generation"
        assert record["ttft_ms"] > 0
        assert record["prefill_tokens_per_s"] > 0 and record["decode_tokens_per_s"] > 0
        llm = record["llm"]
        assert (llm["prompt_tokens"], llm["gen_tokens"], llm["repetitions"]) == (64, 64, 2)
        assert llm["ttft_ms"]["n"] == 2 and llm["token_latency_ms"]["n"] == 2
        assert llm["load_ms"] is None and llm["load_ms_missing_reason"]
        assert llm["params"] > 0
        assert llm["kv_cache_bytes"] == PHONE_CONFIG.kv_cache_bytes(128, "fp16")
        assert "tokenization" in llm["source"]
        # ms per generated token, one figure per repetition: the decode rate's inverse
        assert record["latency_ms"]["max"] == pytest.approx(
            1000 / llm["decode_tokens_per_s"]["min"], rel=1e-4)
        energy, reason = record["energy_mj_per_token"], record["energy_missing_reason"]
        assert (energy is not None and energy > 0 and reason is None) or (
            energy is None and reason), (energy, reason)
        assert record["memory_peak_mb"] > 0
        assert record["backend"]["library_version"] == "6a8cf8914 (6733)"  # the emulated build
        assert record["backend"]["library"] == "llama-bench"
        assert record["tool"]["name"] == "llama-bench"
        assert record["thermal"] is not None
        samples = json.loads((run_dir / record["samples_path"]).read_text())
        assert samples["latency_ms"] == pytest.approx([ns / 64 / 1e6
                                                       for ns in samples["tg_samples_ns"]])
        assert len(samples["pp_samples_ns"]) == 2
    cpu, htp = records
    assert cpu["delegation"]["fallback"] is False and cpu["delegation"]["delegate"] is None
    assert (htp["delegation"]["status"], htp["delegation"]["backends"]) == ("full", "HTP")
    assert (htp["delegation"]["ran_on"], htp["delegation"]["placement_from"]) == ("HTP0",
                                                                                "devices")
    assert cpu["delegation"]["ran_on"] == "CPU" and cpu["backend"]["details"]["devices"] == "none"
    env = htp["backend"]["details"]["env"]
    assert env["LD_LIBRARY_PATH"] == env["ADSP_LIBRARY_PATH"]
    assert "-dev" in htp["backend"]["details"]["command"]


def test_llama_htp_on_a_phone_without_hexagon_is_skipped_with_the_reason(android, tiny_gguf,
                                                                        tmp_path):
    (record,) = _run(android("mt6989"), tmp_path, tiny_gguf, ["llama:htp"])[0]
    assert record["status"] == "skipped"
    assert "Hexagon" in record["error"]["message"]


def test_a_prompt_longer_than_the_context_fails_before_running(android, tiny_gguf, tmp_path):
    (record,) = _run(android("sm8650"), tmp_path, tiny_gguf, ["llama:cpu"], prompt=250,
                     generate=10)[0]
    assert record["status"] == "failed" and record["error"]["kind"] == "workload"
    assert "250 + 10 = 260" in record["error"]["message"]
    assert "context of 256" in record["error"]["message"]


def test_a_crashing_llama_bench_is_a_failed_job_and_the_run_goes_on(android, tiny_gguf,
                                                                     tmp_path):
    phone = android("sm8650")
    faults = phone.phone.userland.tool_faults
    faults.crash = True

    def heal(job, record):
        faults.crash = False

    crashed, ok = _run(phone, tmp_path, tiny_gguf, ["llama:cpu", "llama:htp"], on_done=heal)[0]
    assert crashed["status"] == "failed" and crashed["error"]["kind"] == "tool"
    assert "crashed (SIGSEGV, exit 139)" in crashed["error"]["message"]
    assert ok["status"] == "ok", ok["error"]
    assert not phone.phone.userland.physics.input_suspended  # charging restored
