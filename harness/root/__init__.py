"""npubench: benchmark AI inference on phones (NPU, GPU, CPU) and on this host.

The package's face. From Python::

    import npubench

    result = npubench.run_suite("quick", device="sim:sm8650")   # or device=None: a phone or host
    frame = npubench.load_results(result.run_dir)                 # one row per job (pandas)

Rooms: ``npubench.harness`` (CLI, plans, jobs, runners, statistics), ``npubench.devices`` (the
host, phones over ADB, ``npubench.devices.sim`` the simulated phone), ``npubench.workloads``
(models, inputs, suites), ``npubench.reports`` (HTML report, exports). Shared by all of them
and owned by none: ``npubench.errors`` (the error tree and exit codes), ``npubench.energy``
(power and energy maths) and ``npubench.results`` (the results schema: run folders and
``results.jsonl``). Importing this module imports nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from npubench.errors import (
    ConfigError,
    DeviceError,
    DeviceLost,
    NpubenchError,
    ResultsError,
    ToolError,
    WorkloadError,
)

if TYPE_CHECKING:
    import pandas as pd

    from npubench.harness.suite_run import RunResult

__version__ = "0.1.0"
__all__ = ["ConfigError", "DeviceError", "DeviceLost", "NpubenchError", "ResultsError",
           "ToolError", "WorkloadError", "__version__", "load_results", "read_records",
           "run_suite"]


def run_suite(suite: str | None = "quick", *, device: str | None = None,
              workloads: list[str] | None = None, backends: list[str] | None = None,
              settings: dict[str, float | int] | None = None, out: str | Path | None = None,
              report: bool = True, **options: Any) -> RunResult:
    """Run a suite (a built-in name or a YAML path) like ``npubench run`` and return the
    finished run: ``run_id``, ``run_dir``, ``records``, ``report`` and ``exit_code``.

    ``workloads`` / ``backends`` replace the suite's; ``settings`` overrides its measurement
    settings (``min_iterations``, ``max_seconds``, ...). Further options are those of
    ``npubench run``: ``input_shapes``, ``threads``, ``prompt_tokens``, ``gen_tokens``,
    ``tools`` (``["benchmark_model=PATH"]``), ``require_npu``, ``measure_power``,
    ``cooldown_c``. Raises ``NpubenchError`` for what a user must change; a job that fails is
    a record with ``status: failed``, not an exception.
    """
    from npubench.harness.suite_run import RunRequest, run

    said = {"suite": suite, "device": device, "workloads": workloads, "backends": backends,
            "settings": settings, "out": out, "report": report, **options}
    argv = ["npubench.run_suite(" + ", ".join(f"{k}={v!r}" for k, v in said.items()
                                              if v is not None) + ")"]
    request = RunRequest(suite=suite, device=device, workloads=workloads or (),
                         backends=backends or (), settings=settings or {}, out=out,
                         report=report, argv=argv, **options)
    return run(request)


def read_records(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of one run folder, as written (schema-checked dicts)."""
    from npubench.results import read_records as read

    return read(Path(run_dir))


def load_results(*run_dirs: str | Path, status: str | None = None) -> pd.DataFrame:
    """The records of one or more run folders as one pandas DataFrame, one row per job
    (columns as in the report: ``workload``, ``backend``, ``latency_median_ms``, ...);
    ``status`` keeps only records with that status (``ok``, ``failed``, ``skipped``)."""
    from npubench.reports.frame import records_frame

    records = [record for run_dir in run_dirs for record in read_records(run_dir)]
    if status is not None:
        records = [r for r in records if r.get("status") == status]
    return records_frame(records)
