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


def run_suite(suite: str | None = None, *, device: str | None = None,
              workloads: list[str] | None = None, backends: list[str] | None = None,
              settings: dict[str, float | int] | None = None, out: str | Path | None = None,
              report: bool = True, **options: Any) -> RunResult:
    """Run a suite (a built-in name or a YAML path; default ``quick``) like ``npubench run`` and
    return the finished run: ``run_id``, ``run_dir``, ``records``, ``report`` and ``exit_code``.
    ``resume=RUN_DIR`` finishes a cut-off run (``npubench run --resume``).

    ``workloads`` / ``backends`` replace the suite's; ``settings`` overrides its measurement
    settings (``min_iterations``, ``max_seconds``, ...). Further options are those of
    ``npubench run``: ``input_shapes``, ``threads``, ``prompt_tokens``, ``gen_tokens``,
    ``tools`` (``["benchmark_model=PATH"]``), ``require_npu``, ``measure_power``,
    ``cooldown_c``, ``store`` (the results store it also goes into: a path or URL, or False
    for none; default ``NPUBENCH_STORE`` or the user's SQLite file), ``baseline`` (a run to
    compare with afterwards: ``comparison`` and an exit code of 2 on a regression). Raises
    ``NpubenchError`` for what a user must change; a job that fails is
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


def load_results(*run_dirs: str | Path, status: str | None = None,
                 store: str | Path | bool | None = None, **filters: Any) -> pd.DataFrame:
    """Records as one pandas DataFrame, one row per job (columns as in the report:
    ``workload``, ``backend``, ``median_ms``, ..., plus ``run_id``, ``started_at`` and
    ``cell``, the comparable cell as text).

    From run folders (``load_results("runs/A", "runs/B")``), or from the results store:
    ``store=True`` for the default one (``NPUBENCH_STORE``, else the user's SQLite file), or a
    path or ``postgresql://`` URL. Filters: ``status`` (``ok``, ``failed``, ``skipped``),
    ``device_model``, ``soc``, ``workload``, ``backend``, ``run_id``, ``simulated``, and
    ``since`` / ``until`` (ISO text or datetimes: ``since <= started_at < until``); a list
    matches any of its values.
    """
    from npubench.reports.store.rows import RECORD_FILTERS

    filters = {k: v for k, v in {**filters, "status": status}.items() if v is not None}
    unknown = sorted(set(filters) - set(RECORD_FILTERS))
    if unknown:
        raise ConfigError(f"load_results: unknown filter(s) {', '.join(unknown)}",
                          hint=f"filters are: {', '.join(RECORD_FILTERS)}")
    if store is not None and store is not False:
        if run_dirs:
            raise ConfigError("load_results: give run folders or store=, not both")
        from npubench.reports.store import open_store

        with open_store(None if store is True else store) as opened:
            return opened.records_frame(**filters)
    from npubench.reports.cell_key import cell_key
    from npubench.reports.frame import records_frame
    from npubench.reports.store.rows import timestamp

    records = [record for run_dir in run_dirs for record in read_records(run_dir)]
    records = [r for r in records if _matches(r, filters, cell_key, timestamp)]
    frame = records_frame(records)
    frame["cell"] = [cell_key(r).as_text() for r in records]
    return frame


def _matches(record: dict[str, Any], filters: dict[str, Any], cell_key, timestamp) -> bool:
    """The store's filters (``npubench.reports.store.rows``) applied to one record."""
    cell = cell_key(record)
    device = record.get("device") if isinstance(record.get("device"), dict) else {}
    spec = str((record.get("backend") or {}).get("spec") or cell.backend)
    values = {"device_model": cell.device_model, "soc": cell.soc, "workload": cell.workload,
              "run_id": str(record.get("run_id")), "status": str(record.get("status"))}
    for name, wanted in filters.items():
        wanted_list = [str(w) for w in wanted] if isinstance(wanted, (list, tuple, set)) else [
            str(wanted)]
        if name in values and values[name] not in wanted_list:
            return False
        if name == "backend" and not any(
                spec == w if "?" in w else spec.partition("?")[0] == w for w in wanted_list):
            return False
        if name == "simulated" and bool(device.get("simulated")) != bool(wanted):
            return False
        started = str(record.get("started_at") or "")
        if name == "since" and started < timestamp(wanted, "since"):
            return False
        if name == "until" and started >= timestamp(wanted, "until"):
            return False
    return True
