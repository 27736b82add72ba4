"""Re-runs into one folder (issue 14, item 3): a run never writes over another run, its files
are named by job id, and ``--resume RUN_DIR`` runs only the jobs without a record. Real models
(generated ONNX models, no network), real ONNX Runtime, real worker processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from npubench.errors import ConfigError
from npubench.harness.suite_run import RunListener, RunRequest, run
from npubench.results import job_file_stem, read_records, read_run_info, read_samples

FAST = {"min_seconds": 0.2, "max_seconds": 0.5, "warmup_iterations": 2}
WORKLOADS = ("mobilenet_v2_synth", "light_squeezenet_synth")
JOBS = [f"{w}@ort:cpu" for w in WORKLOADS]


def npubench(*args: str):
    return subprocess.run([sys.executable, "-m", "npubench", *args], capture_output=True,
                          text=True, timeout=300)


class _CtrlCAfterFirst(RunListener):
    """Ctrl-C as the first record lands: the run stops with that record kept."""

    def finished(self, job, record):
        raise KeyboardInterrupt


def _request(out, **extra) -> RunRequest:
    return RunRequest(workloads=list(WORKLOADS), backends=["ort:cpu"], settings=FAST, out=out,
                      store=False, argv=["npubench", "run"], **extra)


def test_a_run_into_a_folder_holding_a_run_is_refused_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    first = npubench("run", "--workload", WORKLOADS[0], "--backend", "ort:cpu",
                     "--set", "min_seconds=0.2", "--set", "max_seconds=0.5", "--no-store",
                     "--out", str(out))
    assert first.returncode == 0, first.stdout + first.stderr
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = npubench("run", "--workload", WORKLOADS[1], "--backend", "ort:cpu",
                     "--no-store", "--out", str(out))
    assert again.returncode == 1, again.stdout + again.stderr  # a usage error (README)
    assert str(out) in again.stderr and "holds a run already" in again.stderr
    assert "--resume" in again.stderr and "Traceback" not in again.stderr
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    # the farm refuses the same folder by the same check
    from npubench.results import holds_run

    assert holds_run(out) and not holds_run(tmp_path / "empty")


def test_resume_runs_only_the_jobs_without_a_record(tmp_path):
    out = tmp_path / "run"
    cut = run(_request(out), _CtrlCAfterFirst())
    assert cut.interrupted and cut.exit_code == 130
    [first] = read_records(out)
    assert first["status"] == "ok"
    plan = read_run_info(out)["plan"]
    assert plan["workloads"] == list(WORKLOADS) and plan["backends"] == ["ort:cpu"]
    # a kill while the next record was being written leaves half a line
    with open(out / "results.jsonl", "a") as fh:
        fh.write('{"schema_version": 1, "job_id": "half')

    seen = []

    class Seen(RunListener):
        def planned(self, run_id, run_dir, jobs, device_info):
            seen.extend(job.job_id for job in jobs)

    resumed = run(RunRequest(resume=out, store=False), Seen())
    assert not resumed.interrupted and resumed.exit_code == 0
    assert resumed.run_id == first["run_id"] and resumed.run_dir == out
    assert [j.split("?")[0] for j in seen] == JOBS[1:]  # the recorded job is not run again
    records = read_records(out)
    assert [r["job_id"].split("?")[0] for r in records] == JOBS
    assert records[0] == first  # appended after, never rewritten
    assert {r["run_id"] for r in records} == {first["run_id"]}
    assert all(r["status"] == "ok" for r in records)
    assert len(resumed.records) == 2  # the exit code and summary are the whole run's
    paths = {r["samples_path"] for r in records} | {r["log_path"] for r in records}
    assert len(paths) == 4 and all((out / p).exists() for p in paths)
    for r in records:
        assert job_file_stem(r["job_id"]) in r["samples_path"]
        assert len(read_samples(out, r)["latency_ms"]) == r["latency_ms"]["n"]
    info = read_run_info(out)
    assert len(info["resumed_at"]) == 1 and info["cut_partial_line"] is True
    assert info["interrupted"] is False
    page = (out / "report.html").read_text()
    assert all(w in page for w in WORKLOADS)
    # a finished run resumed again has nothing left to run
    again = npubench("run", "--resume", str(out), "--no-store")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(read_records(out)) == 2


def test_resume_refuses_what_would_change_the_plan_or_has_no_plan(tmp_path):
    with pytest.raises(ConfigError, match="no run there"):
        run(RunRequest(resume=tmp_path / "nothing", store=False))
    out = tmp_path / "old"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"schema_version": 1, "run_id": "r1",
                                              "argv": ["npubench", "run"]}))
    (out / "results.jsonl").write_text("")
    with pytest.raises(ConfigError, match="does not say how the run was planned"):
        run(RunRequest(resume=out, store=False))
    result = npubench("run", "--resume", str(out), "--suite", "quick", "--fps", "30",
                      "--out", str(tmp_path / "x"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for option in ("--suite", "--fps", "--out"):
        assert option in result.stderr
    assert not (tmp_path / "x").exists()


def test_files_are_named_by_job_id_and_old_index_names_still_read(tmp_path):
    assert job_file_stem("a:b") != job_file_stem("a?b")
    assert job_file_stem("m@tflite:cpu").startswith("m_tflite_cpu-")
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "000-m_tflite_cpu.json").write_text('{"latency_ms": [1.0, 2.0]}')
    record = {"job_id": "m@tflite:cpu", "samples_path": "samples/000-m_tflite_cpu.json"}
    assert read_samples(tmp_path, record) == {"latency_ms": [1.0, 2.0]}


def test_the_python_api_resumes_a_run_too(tmp_path):
    import npubench

    first = npubench.run_suite(workloads=[WORKLOADS[0]], backends=["ort:cpu"], settings=FAST,
                               out=tmp_path / "run", store=False, report=False)
    again = npubench.run_suite(resume=str(first.run_dir), store=False, report=False)
    assert again.exit_code == 0
    assert [r["job_id"] for r in read_records(first.run_dir)] == [
        r["job_id"] for r in first.records]  # nothing ran twice
