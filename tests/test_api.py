"""The Python face of the package: ``npubench.run_suite`` and ``npubench.load_results``, as a
user calls them from a script or a notebook."""

from __future__ import annotations

import pytest

import npubench
from npubench.results import read_run_info


@pytest.mark.network
def test_run_suite_writes_a_run_and_load_results_reads_it(tmp_path):
    result = npubench.run_suite(None, workloads=["okay_nabu"], backends=["tflite:xnnpack"],
                                settings={"min_seconds": 0.2, "max_seconds": 0.5},
                                out=tmp_path / "run")
    assert result.exit_code == 0 and result.run_dir == tmp_path / "run"
    assert [r["status"] for r in result.records] == ["ok"]
    assert result.report is not None and result.report.exists()
    frame = npubench.load_results(result.run_dir)
    assert len(frame) == 1 and frame.loc[0, "job_id"] == result.records[0]["job_id"]
    assert frame.loc[0, "median_ms"] == result.records[0]["latency_ms"]["median"]
    # run.json says how the run was asked for: the call, not the test runner's command line
    argv = read_run_info(result.run_dir)["argv"]
    assert argv[0].startswith("npubench.run_suite(") and "okay_nabu" in argv[0]


def test_run_suite_refuses_what_a_user_must_change(tmp_path):
    with pytest.raises(npubench.ConfigError, match="unknown backend"):
        npubench.run_suite(None, workloads=["okay_nabu"], backends=["tflite:warp9"],
                           out=tmp_path / "run")
