"""A whole run from what a user asks for: suite, workloads, backends, device and settings ->
plan -> jobs -> results folder -> report. ``npubench run`` and ``npubench.run_suite`` both
come through here; what is printed on the way is the listener's business."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from npubench.errors import (
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_OK,
    EXIT_REGRESSION,
    ConfigError,
)


class RunListener:
    """What a run tells its caller as it goes; every method is optional."""

    def planned(self, run_id: str, run_dir: Path, jobs: Sequence, device_info) -> None:
        """The plan is made and the run folder exists."""

    def started(self, job) -> None:
        """A job starts."""

    def finished(self, job, record: dict) -> None:
        """A job's record is on disk."""


@dataclass
class RunRequest:
    """Everything a run needs to know, as a user would say it (see ``npubench run --help``)."""

    suite: str | None = None
    device: str | None = None
    workloads: Sequence[str] = ()
    backends: Sequence[str] = ()
    input_shapes: Sequence[str] = ()
    settings: Mapping[str, float | int] = field(default_factory=dict)
    threads: int | None = None
    prompt_tokens: int | None = None
    gen_tokens: int | None = None
    fps: float | None = None
    """Frame-rate (sustained) mode (``--fps``): settings ``fps``."""
    duration: str | float | None = None
    """Frame-rate mode's length (``--duration``: 300s, 5m, 300): settings ``duration_s``."""
    tools: Sequence[str] = ()
    require_npu: bool = False
    measure_power: bool = True
    cooldown_c: float = 40.0
    out: str | Path | None = None
    resume: str | Path | None = None
    """A run folder to finish (``--resume RUN_DIR``): its plan is made again from its run.json,
    and only the jobs without a record in its results.jsonl run, their records appended."""
    report: bool = True
    argv: Sequence[str] | None = None
    """How the run was asked for, for run.json (default: this process's command line)."""
    store: str | Path | bool | None = None
    """The results store the run is also written to: None or True for the default one
    (``NPUBENCH_STORE``, else the user's SQLite file), a path or URL, or False for none."""
    baseline: str | Path | None = None
    """Compare the finished run with this run (folder, store run id, ``latest``,
    ``previous``; resolved before the run starts) and set ``RunResult.comparison``."""


@dataclass
class RunResult:
    """A finished run: where its files are, its records, and the exit code it earns."""

    run_id: str
    run_dir: Path
    records: list[dict[str, Any]]
    interrupted: bool = False
    report: Path | None = None
    comparison: dict[str, Any] | None = None
    """The comparison with ``RunRequest.baseline`` (``Comparison.to_dict()``), if asked."""

    @property
    def exit_code(self) -> int:
        """Interrupted 130; failed jobs 4 (3 when every failure is infrastructure), which
        win over a regression against the baseline (2): a failed job has no numbers."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        failed = [r for r in self.records if r["status"] == "failed"]
        if failed and all((r.get("error") or {}).get("infrastructure") for r in failed):
            return EXIT_INFRA
        if failed:
            return EXIT_JOBS_FAILED
        return EXIT_REGRESSION if self.comparison and self.comparison["regressed"] else EXIT_OK


def parse_overrides(texts: Sequence[str]) -> dict[str, float | int]:
    """``--set KEY=VALUE`` strings -> a settings mapping (numbers only)."""
    out: dict[str, float | int] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep:
            raise ConfigError(f"--set {text!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = float(value) if "." in value else int(value)
        except ValueError:
            raise ConfigError(f"--set {text!r}: {value!r} is not a number") from None
    return out


def parse_duration_s(value: str | float) -> float:
    """``300s``, ``5m``, ``1h30m`` (the farm's duration syntax) or plain seconds."""
    from npubench.harness.farm.config import parse_duration

    if isinstance(value, (int, float)) or str(value).strip().replace(".", "", 1).isdigit():
        seconds = float(value)
        if seconds <= 0:
            raise ConfigError(f"--duration {value!r} must be positive")
        return seconds
    return float(parse_duration(str(value)))


def suite_workloads(suite, request: RunRequest, shapes: dict) -> list:
    """The workloads to plan: the ones asked for (``--workload``: a built-in, a file, a decoder
    spec or one of the suite's pipelines), else the suite's workloads and pipelines."""
    from npubench.workloads.pipelines import pipeline_workload
    from npubench.workloads.registry import resolve_path_or_failure

    workloads = []
    for n in list(request.workloads) or suite.job_names():
        if suite.pipeline(n) is not None:
            workloads.append(pipeline_workload(suite.pipeline(n)))
            continue
        workload = resolve_path_or_failure(n, {**suite.input_shapes.get(n, {}), **shapes})
        tokens = suite.llm_tokens.get(n, {})
        workloads.append(workload.with_tokens(request.prompt_tokens or tokens.get("prompt_tokens"),
                                              request.gen_tokens or tokens.get("gen_tokens")))
    return workloads


def make_settings(suite, request: RunRequest):
    from npubench.harness.settings import MeasureSettings

    data = {**suite.settings.to_dict(), **request.settings}
    if request.threads is not None:
        data["threads"] = request.threads
    if request.fps is not None:
        data["fps"] = request.fps
    if request.duration is not None:
        data["duration_s"] = parse_duration_s(request.duration)
    if request.duration is not None and not data.get("fps"):
        raise ConfigError("--duration is for frame-rate mode", hint="add --fps, e.g. --fps 30")
    for name in ("prompt_tokens", "gen_tokens"):
        value = getattr(request, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
    return MeasureSettings.from_mapping(data, where="settings")


def run(request: RunRequest, listener: RunListener | None = None) -> RunResult:
    """Plan and run ``request``; every record is on disk as soon as its job ends, and a
    Ctrl-C stops the run with what was measured kept (``interrupted``)."""
    from npubench.devices.host import HostDevice
    from npubench.devices.registry import resolve_device
    from npubench.harness.plan import make_plan
    from npubench.harness.run import execute, new_run_id, resume_run, start_run
    from npubench.harness.suites import load_suite
    from npubench.workloads.registry import parse_input_shapes

    listener = listener or RunListener()
    resumed = _resumed(request)
    if resumed is not None:
        request = resumed.request
    run_id = resumed.run_id if resumed else new_run_id()
    run_dir = resumed.run_dir if resumed else _new_run_dir(request, run_id)
    suite = load_suite(request.suite or "quick")
    settings = make_settings(suite, request)
    shapes = parse_input_shapes(list(request.input_shapes))
    workloads = suite_workloads(suite, request, shapes)
    backends = list(request.backends) or list(suite.backends)
    baseline = _baseline(request)
    device = resolve_device(request.device)
    try:
        phone = _phone_context(request, device)
        known = None
        if phone.tools is not None:
            from npubench.harness.device_job import phone_backends

            known = lambda d: phone_backends(d, phone.tools)  # noqa: E731
        jobs = make_plan([device], workloads, backends, threads=settings.threads,
                         known_backends=known, frame_rate=bool(settings.fps))
        if resumed is not None:
            jobs = [job for job in jobs if job.job_id not in resumed.done]
            store = resume_run(run_dir, resumed.info)
        else:
            store = start_run(run_dir, run_id, HostDevice().info().to_dict(),
                              None if request.workloads else suite.name, argv=request.argv,
                              plan=_plan_of(request))
        listener.planned(run_id, run_dir, jobs, device.info())
        from npubench.harness.store_writer import StoreWriter

        outcome = execute(jobs, store, run_id, settings, on_start=listener.started,
                          on_done=listener.finished, phone=phone,
                          results=StoreWriter(request.store, run_dir),
                          resumed=resumed is not None)
    finally:
        getattr(device, "close", lambda: None)()
    records = outcome.records
    if resumed is not None:  # the exit code and the summary are the whole run's
        from npubench.results import read_records

        records = read_records(run_dir)
    result = RunResult(run_id, run_dir, records, outcome.interrupted)
    if baseline is not None:
        from npubench.reports.compare.files import compare_to_baseline

        store = request.store if isinstance(request.store, (str, Path)) else None
        result.comparison = compare_to_baseline(baseline, run_dir, store=store)
    if request.report:
        from npubench.reports.html import write_report

        result.report = write_report(run_dir)
    return result


PLAN_OPTIONS = {
    "suite": "--suite", "device": "--device", "workloads": "--workload", "backends": "--backend",
    "input_shapes": "--input-shape", "settings": "--set", "threads": "--threads",
    "prompt_tokens": "--prompt-tokens", "gen_tokens": "--gen-tokens", "fps": "--fps",
    "duration": "--duration", "tools": "--tool", "require_npu": "--require-npu",
    "measure_power": "--no-power", "cooldown_c": "--cooldown-c"}
"""What a run is planned and measured from (``RunRequest`` field -> option): kept in run.json
as ``plan``, where ``--resume`` reads it back."""


def _plan_of(request: RunRequest) -> dict[str, Any]:
    return {name: _plain(getattr(request, name)) for name in PLAN_OPTIONS}


def _plain(value):
    if isinstance(value, Mapping):
        return dict(value)
    return list(value) if isinstance(value, (list, tuple)) else value


def _new_run_dir(request: RunRequest, run_id: str) -> Path:
    """The new run's folder, which must not hold a run already (a re-run never writes over
    one)."""
    from npubench.results import holds_run

    run_dir = Path(request.out) if request.out else Path("runs") / run_id
    if holds_run(run_dir):
        raise ConfigError(f"--out {run_dir} holds a run already; a new run does not write over "
                          "it", hint=f"give another --out, or finish that run with --resume "
                          f"{run_dir}")
    return run_dir


@dataclass
class _Resumed:
    run_id: str
    run_dir: Path
    info: dict[str, Any]
    done: set[str]
    """The job ids that have a record already."""
    request: RunRequest
    """The request as the run was planned, with this call's report, store and baseline."""


def _resumed(request: RunRequest) -> _Resumed | None:
    """The run folder ``request.resume`` to finish, or None for a new run."""
    if not request.resume:
        return None
    from npubench.results import RUN_FILE, holds_run, read_records, read_run_info

    run_dir = Path(request.resume)
    if not holds_run(run_dir):
        raise ConfigError(f"--resume {run_dir}: no run there (no run.json, no results.jsonl)",
                          hint="give the folder a run wrote: its --out, or runs/RUN_ID")
    defaults = RunRequest()
    given = [option for name, option in PLAN_OPTIONS.items()
             if _plain(getattr(request, name)) != _plain(getattr(defaults, name))]
    given += ["--out"] * bool(request.out)
    if given:
        raise ConfigError(f"--resume runs the plan of {run_dir / RUN_FILE}; "
                          f"{', '.join(given)} cannot change it",
                          hint="leave them out, or start a new run into another --out")
    info = read_run_info(run_dir)
    plan = info.get("plan")
    if not isinstance(plan, dict) or not info.get("run_id"):
        raise ConfigError(f"--resume {run_dir}: its run.json does not say how the run was "
                          "planned (an older npubench wrote it, or it is damaged)",
                          hint="run it again into another --out")
    known = {name: plan[name] for name in PLAN_OPTIONS if name in plan}
    done = {record.get("job_id") for record in read_records(run_dir)}
    return _Resumed(info["run_id"], run_dir, info, done,
                    replace(request, resume=None, **known))


def _baseline(request: RunRequest):
    """The baseline run, read before anything runs so that a bad reference fails fast."""
    if not request.baseline:
        return None
    from npubench.reports.compare.inputs import load_run

    store = request.store if isinstance(request.store, (str, Path)) else None
    return load_run(request.baseline, store)


def _phone_context(request: RunRequest, device):
    from npubench.harness.run import PhoneContext

    if getattr(device, "kind", "host") != "android":
        if request.tools or request.require_npu:
            raise ConfigError("--tool and --require-npu are for phones: give --device SPEC")
        return PhoneContext()
    from npubench.harness.device_job import DeviceJobOptions
    from npubench.harness.tools import ToolConfig

    return PhoneContext(ToolConfig.load(list(request.tools)), DeviceJobOptions(
        require_npu=request.require_npu, measure_power=request.measure_power,
        cooldown_c=request.cooldown_c))
