"""benchmark_model with several delegates: one verdict per delegate, from the log through the
record to the report. A later delegate's "Though X delegate is explicitly applied, the model
graph will not be executed" speaks of X only (the earlier one had already taken the graph)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import report_fixtures as demo
from test_report import summary_row
from tflite_models import add_model

from npubench.harness.device_commands import ToolInvocation
from npubench.harness.device_run import delegation_block
from npubench.harness.parsers.benchmark_model import parse_benchmark_model
from npubench.harness.parsers.cli import summary
from npubench.harness.parsers.tflite_delegation import delegate_verdicts, verdict_for

FIXTURES = Path(__file__).parent / "fixtures" / "tool-output"


def parsed(name: str) -> dict:
    return parse_benchmark_model((FIXTURES / name).read_text(encoding="utf-8"))


def inv(delegate: str | None, accelerator: str) -> ToolInvocation:
    return ToolInvocation("benchmark_model", [], {}, delegate, accelerator)


def verdict(name: str, status, delegated=None, total=None, kernels=None, kernel=None,
            applied_by="tool") -> dict:
    return {"delegate": name, "kernel": kernel, "nodes_total": total,
            "nodes_delegated": delegated, "kernels": kernels, "status": status,
            "applied_by": applied_by, "source": "log"}


# --- the parser -------------------------------------------------------------------------------

def test_gpu_full_is_not_undone_by_nnapi_that_found_nothing_left():
    r = parsed("synthetic_tflite_gpu_then_nnapi.txt")
    assert r["delegates"] == [
        verdict("GPU", "full", 31, 31, 1, "TfLiteGpuDelegateV2"),
        verdict("NNAPI", "none", kernels=0)]
    # the headline: the first delegate the tool applied, as before the second existed
    assert r["delegation"] == {"delegate": "GPU", "kernel": "TfLiteGpuDelegateV2",
                               "nodes_total": 31, "nodes_delegated": 31, "kernels": 1,
                               "status": "full", "source": "log"}
    assert r["latency_ms"]["n"] == 331 and r["failed"] is False


def test_default_xnnpack_beside_nnapi_is_reported():
    r = parsed("synthetic_tflite_nnapi_partial_xnnpack.txt")
    assert r["delegates"] == [
        verdict("NNAPI", "partial", 42, 61, 2, "TfLiteNnapiDelegate"),
        verdict("XNNPACK", "partial", 6, 21, 2, "TfLiteXNNPackDelegate", "runtime default")]
    assert (r["delegation"]["delegate"], r["delegation"]["status"]) == ("NNAPI", "partial")


def test_order_of_the_lines_does_not_matter():
    text = ("INFO: Explicitly applied NNAPI delegate, and the model graph will be completely "
            "executed by the delegate.\n"
            "INFO: Though GPU delegate is explicitly applied, the model graph will not be "
            "executed by the delegate.\n")
    r = parse_benchmark_model(text)
    assert [(v["delegate"], v["status"]) for v in r["delegates"]] == [("NNAPI", "full"),
                                                                     ("GPU", "none")]
    assert r["delegation"]["delegate"] == "NNAPI" and r["delegation"]["status"] == "full"


def test_a_second_delegate_that_fails_is_the_headline_and_the_first_keeps_its_verdict():
    text = ("INFO: Going to apply 2 delegates one after another.\n"
            "INFO: Explicitly applied GPU delegate, and the model graph will be partially "
            "executed by the delegate w/ 2 delegate kernels.\n"
            "ERROR: Restored original execution plan after delegate application failure.\n"
            "ERROR: Failed to apply NNAPI delegate.\n"
            "ERROR: Benchmarking failed.\n")
    r = parse_benchmark_model(text)
    assert r["failed"] is True
    assert (r["delegation"]["delegate"], r["delegation"]["status"]) == ("NNAPI", "failed")
    assert verdict_for(r["delegates"], "GPU")["status"] == "partial"
    assert verdict_for(r["delegates"], "GPU")["kernels"] == 2


def test_single_delegate_logs_keep_one_verdict():
    r = parsed("tflite_android_gpu_issue43541_excerpt.txt")  # a real log, GPU only
    assert r["delegates"] == [verdict("GPU", "full", kernels=1)]
    r = parsed("tflite_qnn_external_delegate_issue83344_excerpt.txt")  # a real log, QNN
    assert r["delegates"] == [verdict("EXTERNAL", "none", 0, 31, 0, "TfLiteQnnDelegate", None)]


def test_verdict_for_a_log_that_names_only_kernels():
    lines = [(None, "Replacing 20 out of 31 node(s) with delegate (TfLiteGpuDelegateV2) node, "
                    "yielding 2 partitions.")]
    verdicts = delegate_verdicts(lines)
    assert verdict_for(verdicts, "GPU")["nodes_delegated"] == 20
    assert verdict_for(verdicts, "NNAPI") is None
    assert verdict_for(verdicts, None) is None


def test_parse_summary_lists_every_delegate():
    text = summary("benchmark_model", parsed("synthetic_tflite_nnapi_partial_xnnpack.txt"))
    assert "delegation: NNAPI partial, 42/61 nodes (from log)" in text
    assert "  delegate 1: NNAPI partial 42/61 nodes, applied for its flag" in text
    assert "  delegate 2: XNNPACK partial 6/21 nodes, the runtime's default" in text
    one = summary("benchmark_model", parsed("tflite_android_gpu_issue43541_excerpt.txt"))
    assert "delegate 1:" not in one


# --- the record ---------------------------------------------------------------------------------

def test_record_headline_is_the_backends_own_delegate():
    r = parsed("synthetic_tflite_gpu_then_nnapi.txt")
    gpu = delegation_block(r, inv("GPU", "gpu"))
    assert (gpu["delegate"], gpu["status"], gpu["fallback"]) == ("GPU", "full", False)
    assert (gpu["nodes_delegated"], gpu["nodes_total"], gpu["kernels"]) == (31, 31, 1)
    assert [(d["delegate"], d["status"]) for d in gpu["delegates"]] == [("GPU", "full"),
                                                                       ("NNAPI", "none")]
    # asked for NNAPI: it took nothing, so the NPU backend fell back (to the GPU here)
    nnapi = delegation_block(r, inv("NNAPI", "npu"))
    assert (nnapi["delegate"], nnapi["status"], nnapi["fallback"]) == ("NNAPI", "none", True)


def test_record_lists_the_default_xnnpack():
    block = delegation_block(parsed("synthetic_tflite_nnapi_partial_xnnpack.txt"),
                             inv("NNAPI", "npu"))
    assert (block["status"], block["fallback"], block["nodes_delegated"]) == ("partial", True, 42)
    assert block["delegates"][1] == {"delegate": "XNNPACK", "kernel": "TfLiteXNNPackDelegate",
                                     "nodes_total": 21, "nodes_delegated": 6, "kernels": 2,
                                     "status": "partial", "applied_by": "runtime default"}


def test_record_of_a_delegate_the_log_does_not_name():
    block = delegation_block(parsed("synthetic_tflite_gpu_then_nnapi.txt"),
                             inv("NeuronDelegate", "npu"))
    assert (block["status"], block["fallback"]) == ("not reported", None)
    assert block["delegate"] == "NeuronDelegate" and len(block["delegates"]) == 2


def test_record_without_delegates_from_onnxruntime():
    block = delegation_block({"latency_ms": {"n": 3}}, inv("QNN", "npu"))
    assert (block["status"], block["fallback"], block["delegates"]) == ("not reported", None, [])


# --- the simulated phone's benchmark_model ------------------------------------------------------

@pytest.fixture(scope="module")
def phone():
    from npubench.devices.sim.tools import stub_binary
    from npubench.devices.sim.userland import Userland

    p = Userland("sm8650")
    p.run("mkdir -p /data/local/tmp/npubench")
    for path, data, mode in (("benchmark_model", stub_binary("benchmark_model"), 0o755),
                             ("add.tflite", add_model(), 0o644)):
        with p.fs.open_write(f"/data/local/tmp/npubench/{path}", mode) as fh:
            fh.write(data)
    yield p
    p.close()


@pytest.mark.parametrize("flags, first, second", [
    (("--use_gpu=true", "--use_nnapi=true"), "GPU", "NNAPI"),
    (("--use_nnapi=true", "--use_gpu=true"), "NNAPI", "GPU"),
])
def test_simulated_two_delegates(phone, flags, first, second):
    inner = ("exec ./benchmark_model --graph=add.tflite --num_runs=3 --min_secs=0 "
             "--warmup_runs=1 --warmup_min_secs=0 " + " ".join(flags))
    out, err, code = phone.run(f"cd /data/local/tmp/npubench && sh -c {shlex.quote(inner)}",
                               timeout_s=60)
    assert code == 0, err
    assert b"Going to apply 2 delegates one after another." in out
    r = parse_benchmark_model(out.decode() + err.decode())
    assert [(v["delegate"], v["status"], v["nodes_delegated"], v["nodes_total"])
            for v in r["delegates"]] == [(first, "full", 1, 1), (second, "none", None, None)]
    block = delegation_block(r, inv(first, "gpu"))
    assert (block["status"], block["fallback"]) == ("full", False)
    assert delegation_block(r, inv(second, "npu"))["fallback"] is True


# --- the report ---------------------------------------------------------------------------------

def test_report_shows_every_delegate(tmp_path):
    from npubench.reports.html import write_report

    record, samples = demo.phone_ok_record("mobilenet_v2", "tflite:nnapi", 6.1, seed=10,
                                           nodes_total=61, nodes_delegated=42)
    record["delegation"]["delegates"] = [
        {"delegate": "NNAPI", "kernel": "TfLiteNnapiDelegate", "nodes_total": 61,
         "nodes_delegated": 42, "kernels": 2, "status": "partial", "applied_by": "tool"},
        {"delegate": "XNNPACK", "kernel": "TfLiteXNNPackDelegate", "nodes_total": 21,
         "nodes_delegated": 6, "kernels": 2, "status": "partial",
         "applied_by": "runtime default"}]
    single, single_samples = demo.phone_ok_record("mobilenet_v2", "tflite:gpu", 9.5, seed=9,
                                                  nodes_total=66)
    run_dir = demo.write_run(tmp_path, [(record, samples), (single, single_samples)])
    html = write_report(run_dir).read_text(encoding="utf-8")
    row = summary_row(html, ">tflite:nnapi<")
    assert '<div class="sub">NNAPI partial 42/61</div>' in row
    assert '<div class="sub">XNNPACK partial 6/21 (runtime default)</div>' in row
    assert "delegates applied, in order: NNAPI partial 42/61, XNNPACK partial 6/21" in row
    assert 'class="sub">GPU' not in summary_row(html, ">tflite:gpu<")
    details = html.split('id="details"', 1)[1].split("</section>", 1)[0]
    assert ("delegates applied: NNAPI partial 42/61, XNNPACK partial 6/21 (runtime default)"
            in details)
    assert "<th>Precision</th>" not in details  # no fp16 model on ONNX Runtime here
