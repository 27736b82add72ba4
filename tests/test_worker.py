"""Each job runs in its own worker process: a crash, a hang or an exception is a record."""

import ctypes
import os
import time

from npubench.errors import WorkloadError
from npubench.harness.worker import run_isolated


def answer(job):
    return {"status": "ok", "pid": os.getpid(), "echo": job["x"]}


def segfault(job):
    print("about to crash", flush=True)
    ctypes.string_at(0)  # a real SIGSEGV, like a crashing delegate


def hang(job):
    time.sleep(60)


def raise_workload_error(job):
    raise WorkloadError("model.tflite is not a valid TFLite model")


def raise_bug(job):
    return {}["missing"]


def test_result_comes_back_from_another_process(tmp_path):
    result = run_isolated(answer, {"x": 42}, timeout_s=60, log_path=tmp_path / "log")
    assert result["echo"] == 42
    assert result["pid"] != os.getpid()


def test_segfault_becomes_a_failed_result_with_the_log_tail(tmp_path):
    log = tmp_path / "job.log"
    result = run_isolated(segfault, {}, timeout_s=60, log_path=log)
    assert result["status"] == "failed"
    assert result["error"]["kind"] == "crash"
    assert "SIGSEGV" in result["error"]["message"]
    assert "about to crash" in result["error"]["message"]
    assert "about to crash" in log.read_text()
    # and the harness is still alive to run the next job
    assert run_isolated(answer, {"x": 1}, timeout_s=60)["echo"] == 1


def test_hung_worker_is_killed_at_the_timeout():
    start = time.monotonic()
    result = run_isolated(hang, {}, timeout_s=1.0)
    assert time.monotonic() - start < 10
    assert result["status"] == "failed"
    assert result["error"]["kind"] == "timeout"


def test_npubench_error_keeps_its_kind_and_message():
    result = run_isolated(raise_workload_error, {}, timeout_s=60)
    assert result["status"] == "failed"
    assert result["error"]["kind"] == "workload"
    assert "not a valid TFLite model" in result["error"]["message"]


def test_unexpected_exception_is_recorded_with_its_type(tmp_path):
    log = tmp_path / "job.log"
    result = run_isolated(raise_bug, {}, timeout_s=60, log_path=log)
    assert result["status"] == "failed"
    assert result["error"]["kind"] == "internal"
    assert "KeyError" in result["error"]["message"]
    assert "Traceback" in log.read_text()
