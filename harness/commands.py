"""The CLI's commands. Each returns an exit code (see harness/cli.py)."""

from __future__ import annotations

import json
import os
import sys
from argparse import Namespace
from pathlib import Path

from harness.cli import EXIT_INFRA, EXIT_INTERRUPTED, EXIT_JOBS_FAILED, EXIT_OK
from harness.errors import ConfigError


def _console():
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120  # a log file, not an 80-column terminal
    return console


def cmd_devices(args: Namespace) -> int:
    from devices.registry import available_devices

    devices = available_devices(args.device)
    try:
        rows = [_device_row(d) for d in devices]
    finally:
        for device in devices:
            getattr(device, "close", lambda: None)()
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK if all(r["reachable"] for r in rows) else EXIT_INFRA
    from rich.table import Table

    table = Table("id", "kind", "model", "SoC", "NPU", "RAM", "OS", "simulated")
    for row in rows:
        if not row["reachable"]:
            table.add_row(row["id"], row["kind"], f"[red]unreachable[/]: {row['error']}",
                          "", "", "", "", "")
            continue
        soc = row["soc_info"]
        table.add_row(
            row["id"], row["kind"], " ".join(filter(None, [row["manufacturer"], row["model"]])),
            soc["name"] or row["soc"] or "", row["npu"] or "",
            f"{row['ram_bytes'] / 2**30:.1f} GiB" if row["ram_bytes"] else "",
            row["os"] or "", "[yellow]yes[/]" if row["simulated"] else "no",
        )
    _console().print(table)
    return EXIT_OK if all(r["reachable"] for r in rows) else EXIT_INFRA


def _device_row(device) -> dict:
    from devices.registry import Unreachable

    if isinstance(device, Unreachable):
        return {"id": device.spec, "kind": "android", "model": None, "soc": None,
                "simulated": device.spec.startswith("sim:"), "reachable": False,
                "error": device.reason}
    info = device.info()
    data = info.to_dict()
    data["soc_info"] = data["soc"]
    data["soc"] = info.soc.part or info.soc.name or (info.cpu if info.kind == "host" else None)
    data["reachable"] = True
    return data


def cmd_workloads(args: Namespace) -> int:
    from harness.suites import builtin_suite_names, load_suite
    from workloads.registry import builtin

    workloads = builtin()
    if args.json:
        print(json.dumps([w.to_record() | {"description": w.description, "tags": list(w.tags)}
                          for w in workloads.values()], indent=1))
        return EXIT_OK
    from rich.table import Table

    table = Table("name", "task", "format", "precision", "source", "license", "kind")
    for w in workloads.values():
        table.add_row(w.name, w.task, w.format, w.precision, w.source.split("!")[0],
                      w.license, "synthetic" if w.synthetic else "trained")
    console = _console()
    console.print(table)
    for name in builtin_suite_names():
        suite = load_suite(name)
        console.print(f"suite [bold]{name}[/]: {suite.description} "
                      f"({len(suite.workloads)} workloads)")
    return EXIT_OK


def _settings(args: Namespace, suite):
    from harness.settings import MeasureSettings

    data = suite.settings.to_dict()
    for text in args.overrides:
        key, sep, value = text.partition("=")
        if not sep:
            raise ConfigError(f"--set {text!r}: expected KEY=VALUE")
        try:
            data[key.strip()] = float(value) if "." in value else int(value)
        except ValueError:
            raise ConfigError(f"--set {text!r}: {value!r} is not a number") from None
    if args.threads is not None:
        data["threads"] = args.threads
    for flag in ("prompt_tokens", "gen_tokens"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be at least 1, not {value}")
    return MeasureSettings.from_mapping(data, where="settings")


def cmd_run(args: Namespace) -> int:
    from devices.host import HostDevice
    from devices.registry import resolve_device
    from harness.plan import make_plan
    from harness.run import execute, new_run_id, start_run
    from harness.suites import load_suite
    from workloads.registry import parse_input_shapes, resolve_path_or_failure

    suite = load_suite(args.suite or "quick")
    settings = _settings(args, suite)
    shapes = parse_input_shapes(args.input_shape)
    names = args.workload or list(suite.workloads)
    workloads = []
    for n in names:
        workload = resolve_path_or_failure(n, {**suite.input_shapes.get(n, {}), **shapes})
        tokens = suite.llm_tokens.get(n, {})
        workloads.append(workload.with_tokens(args.prompt_tokens or tokens.get("prompt_tokens"),
                                              args.gen_tokens or tokens.get("gen_tokens")))
    backends = args.backend or list(suite.backends)
    device = resolve_device(args.device)
    try:
        phone = _phone_context(args, device)
        known = None
        if phone.tools is not None:
            from harness.device_job import phone_backends

            known = lambda d: phone_backends(d, phone.tools)  # noqa: E731
        jobs = make_plan([device], workloads, backends, threads=settings.threads,
                         known_backends=known)
        run_id = new_run_id()
        run_dir = Path(args.out) if args.out else Path("runs") / run_id
        store = start_run(run_dir, run_id, HostDevice().info().to_dict(),
                          None if args.workload else suite.name)
        console = _console()
        info = device.info()
        console.print(f"npubench run [bold]{run_id}[/]: {len(jobs)} jobs on {info.model}"
                      f"{' (simulated)' if info.simulated else ''} -> {run_dir}")
        outcome = _execute_with_progress(jobs, store, run_id, settings, console, execute,
                                         phone)
    finally:
        getattr(device, "close", lambda: None)()

    if outcome.interrupted:
        console.print("[yellow]interrupted[/]: the jobs measured so far are kept in "
                      f"{run_dir / 'results.jsonl'}")
    _print_summary(console, outcome.records)
    if not args.no_report:
        from reports.html import write_report

        report = write_report(run_dir)
        console.print(f"report: {report}")
    if args.benchmark_json:
        from reports.pytest_benchmark import write_pytest_benchmark_json

        console.print(f"pytest-benchmark JSON: "
                      f"{write_pytest_benchmark_json(run_dir, Path(args.benchmark_json))}")
    console.print(f"results: {run_dir / 'results.jsonl'}")
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    failed = [r for r in outcome.records if r["status"] == "failed"]
    if failed and all((r.get("error") or {}).get("infrastructure") for r in failed):
        return EXIT_INFRA
    return EXIT_JOBS_FAILED if failed else EXIT_OK


def _phone_context(args: Namespace, device):
    from harness.run import PhoneContext

    if getattr(device, "kind", "host") != "android":
        if args.tool or args.require_npu:
            raise ConfigError("--tool and --require-npu are for phones: give --device SPEC")
        return PhoneContext()
    from harness.device_job import DeviceJobOptions
    from harness.tools import ToolConfig

    return PhoneContext(ToolConfig.load(args.tool), DeviceJobOptions(
        require_npu=args.require_npu, measure_power=not args.no_power,
        cooldown_c=args.cooldown_c))


def _execute_with_progress(jobs, store, run_id, settings, console, execute, phone):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True,
                        disable=not console.is_terminal)
    with progress:
        task = progress.add_task("starting", total=len(jobs))

        def on_start(job):
            progress.update(task, description=f"{job.workload.name} on {job.backend}")

        def on_done(job, record):
            progress.advance(task)
            console.print(_one_line(record), highlight=False)

        return execute(jobs, store, run_id, settings, on_start=on_start, on_done=on_done,
                       phone=phone)


def _one_line(record: dict) -> str:
    from rich.markup import escape

    job = escape(record["job_id"])
    if record["status"] == "ok" and record.get("llm"):
        def figure(key: str, unit: str) -> str:
            value = record.get(key)
            return f"{value:.1f} {unit}" if value is not None else "not measured"

        return (f"  [green]ok[/]      {job}: TTFT {figure('ttft_ms', 'ms')}, prefill "
                f"{figure('prefill_tokens_per_s', 'tok/s')}, decode "
                f"{figure('decode_tokens_per_s', 'tok/s')}")
    if record["status"] == "ok":
        lat = record["latency_ms"]
        extra = "" if record["validity"] == "valid" else f" [yellow]{record['validity']}[/]"
        return f"  [green]ok[/]      {job}: median {lat['median']:.3f} ms (n={lat['n']}){extra}"
    message = escape((record.get("error") or {}).get("message", ""))
    colour = "red" if record["status"] == "failed" else "dim"
    return f"  [{colour}]{record['status']:<7}[/] {job}: {message}"


def _print_summary(console, records: list[dict]) -> None:
    from rich.table import Table

    llm = any(r.get("llm") for r in records)
    table = Table("workload", "backend", "status", "median ms", "p90 ms", "CI95 ms",
                  "peak MB", *(["decode tok/s"] if llm else []), title="summary")
    for r in records:
        lat = r.get("latency_ms") or {}
        ci = (f"{lat['ci95_low']:.3f}-{lat['ci95_high']:.3f}"
              if lat.get("ci95_low") is not None else "")
        decode = r.get("decode_tokens_per_s")
        table.add_row(
            r["workload"]["name"], r["backend"]["spec"], r["status"],
            f"{lat['median']:.3f}" if lat else "", f"{lat['p90']:.3f}" if lat else "", ci,
            f"{r['memory_peak_mb']:.0f}" if r.get("memory_peak_mb") else "",
            *([f"{decode:.1f}" if decode is not None else ""] if llm else []),
        )
    if llm:
        console.print("(LLM jobs: latency is per generated token)")
    console.print(table)
    counts = {s: sum(1 for r in records if r["status"] == s) for s in ("ok", "failed", "skipped")}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()))


def cmd_sim(args: Namespace) -> int:
    from devices.sim import start_sim

    server = start_sim(args.profile, host=args.host, port=args.port,
                       auth="verify" if args.auth else "none")
    host, port = server.address
    props = server.userland.banner_props()
    print(f"simulated phone '{args.profile}' ({props.get('ro.product.model')}, not a real "
          f"phone) listening on {host}:{port}\n"
          f"  npubench devices --device tcp:{host}:{port}\n"
          f"  npubench run --device tcp:{host}:{port}\n"
          f"  adb connect {host}:{port} && adb -s {host}:{port} shell\n"
          "Ctrl-C stops it.", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def cmd_clean(args: Namespace) -> int:
    from devices.registry import resolve_device

    device = resolve_device(args.device)
    try:
        if getattr(device, "kind", "host") != "android":
            raise ConfigError("clean works on a phone: give --device SPEC")
        device.clean()
        print(f"removed npubench's files from {device.spec}")
    finally:
        getattr(device, "close", lambda: None)()
    return EXIT_OK


def cmd_tools(args: Namespace) -> int:
    from harness.tools import (
        SDK_NAMES,
        TOOL_NAMES,
        ToolConfig,
        config_path,
        elf_abi,
        fetch_benchmark_model,
    )

    if args.action == "fetch":
        path = fetch_benchmark_model(args.abi)
        print(f"benchmark_model for {args.abi}: {path}")
        return EXIT_OK
    config = ToolConfig.load()
    print(f"tools (from {config_path()}, the cache, or --tool NAME=PATH):")
    for name in TOOL_NAMES + SDK_NAMES:
        path = config.get(name)
        abi = f" [{elf_abi(path) or 'not an executable'}]" if path and path.is_file() else ""
        print(f"  {name:<38} {path or 'not configured'}{abi}")
    return EXIT_OK


def cmd_parse(args: Namespace) -> int:
    from harness.parsers.cli import cmd_parse as parse

    return parse(args)


def cmd_report(args: Namespace) -> int:
    from harness.results import read_records
    from reports.html import write_report

    read_records(Path(args.run_dir))  # a clear error for a folder that is not a run
    print(write_report(Path(args.run_dir), Path(args.out) if args.out else None))
    return EXIT_OK


def cmd_export(args: Namespace) -> int:
    from harness.results import read_records
    from reports.pytest_benchmark import write_pytest_benchmark_json

    read_records(Path(args.run_dir))
    print(write_pytest_benchmark_json(Path(args.run_dir), Path(args.pytest_benchmark)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit("use the npubench command")
