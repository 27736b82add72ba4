"""The CLI's commands. Each returns an exit code (``npubench.errors`` holds them)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from argparse import Namespace
from pathlib import Path

from npubench.errors import (
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
)
from npubench.harness.compare_command import cmd_compare  # noqa: F401
from npubench.harness.farm.commands import cmd_farm  # noqa: F401
from npubench.harness.history_command import cmd_history  # noqa: F401
from npubench.harness.store_commands import cmd_ingest, cmd_runs  # noqa: F401


def _console():
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120  # a log file, not an 80-column terminal
    return console


def cmd_devices(args: Namespace) -> int:
    from npubench.devices.registry import available_devices

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
    from npubench.devices.registry import Unreachable

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
    from npubench.harness.suites import builtin_suite_names, load_suite
    from npubench.workloads.registry import builtin

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
                      f"({len(suite.workloads)} workloads"
                      + (f", {len(suite.pipelines)} pipelines" if suite.pipelines else "") + ")")
    return EXIT_OK


def cmd_run(args: Namespace) -> int:
    from npubench.harness.suite_run import RunRequest, parse_overrides, run

    request = RunRequest(
        suite=args.suite, device=args.device, workloads=args.workload, backends=args.backend,
        input_shapes=args.input_shape, settings=parse_overrides(args.overrides),
        threads=args.threads, prompt_tokens=args.prompt_tokens, gen_tokens=args.gen_tokens,
        fps=args.fps, duration=args.duration, tools=args.tool, require_npu=args.require_npu,
        measure_power=not args.no_power,
        cooldown_c=args.cooldown_c, out=args.out, resume=args.resume, report=not args.no_report,
        store=False if args.no_store else args.store, baseline=args.baseline)
    from npubench.harness.interrupts import sigterm_as_ctrl_c

    console = _console()
    try:  # SIGTERM (a CI job's timeout) and SIGHUP stop the run as Ctrl-C does
        with sigterm_as_ctrl_c(), _ProgressListener(console) as listener:
            result = run(request, listener)
    except KeyboardInterrupt:  # before the first job or after the last (jobs: in execute)
        console.print("[yellow]interrupted[/] outside the jobs (planning, or writing the "
                      "report): the records written so far stay on disk")
        return EXIT_INTERRUPTED
    if result.interrupted:
        console.print("[yellow]interrupted[/]: the jobs measured so far are kept in "
                      f"{result.run_dir / 'results.jsonl'}")
    _print_summary(console, result.records)
    if result.comparison is not None:
        from npubench.harness.compare_command import print_baseline

        print_baseline(console, result.comparison)
    if result.report:
        console.print(f"report: {result.report}")
    if args.benchmark_json:
        from npubench.reports.pytest_benchmark import write_pytest_benchmark_json

        console.print(f"pytest-benchmark JSON: "
                      f"{write_pytest_benchmark_json(result.run_dir, Path(args.benchmark_json))}")
    console.print(f"results: {result.run_dir / 'results.jsonl'}")
    return result.exit_code


def _simulated_words(info) -> str:
    if not info.simulated:
        return ""
    timing = getattr(info, "simulated_timing", None)
    return " (simulated phone, modeled timing)" if timing == "modeled" else " (simulated)"


class _ProgressListener:
    """A rich progress bar and one line per finished job."""

    def __init__(self, console):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                 transient=True, disable=not console.is_terminal)
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def planned(self, run_id, run_dir, jobs, info) -> None:
        self.console.print(f"npubench run [bold]{run_id}[/]: {len(jobs)} jobs on {info.model}"
                           f"{_simulated_words(info)} -> {run_dir}")
        self.task = self.progress.add_task("starting", total=len(jobs))

    def started(self, job) -> None:
        self.progress.update(self.task, description=f"{job.workload.name} on {job.backend}")

    def finished(self, job, record) -> None:
        self.progress.advance(self.task)
        self.console.print(_one_line(record), highlight=False)


def _framerate_line(block: dict) -> str:
    """A frame-rate job's figures on one line: frames, drops, misses, the steady ratio."""
    def pct(value: float | None) -> str:
        return f"{100 * value:.1f}%" if value is not None else "n/a"

    if block.get("misses_exact"):
        missed, share = str(block["missed"]), pct(block["miss_ratio"])
    else:  # a phone's rounds bound their misses
        missed = f"{block['missed_low']}-{block['missed_high']}"
        share = f"{pct(block['miss_ratio_low'])} to {pct(block['miss_ratio_high'])}"
    ratio = block.get("steady_state_ratio")
    return (f"{block['frames']} frames at {block['fps']:g} fps, ran {block['processed']}, "
            f"dropped {block['dropped']}, missed {missed} ({share} late or dropped); "
            "steady / first throughput " + (f"{ratio:.2f}" if ratio is not None
                                            else "not measured"))


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
    if record["status"] == "ok" and record.get("framerate"):
        return f"  [green]ok[/]      {job}: {_framerate_line(record['framerate'])}"
    if record["status"] == "ok" and record.get("pipeline"):
        e2e = (record["pipeline"].get("e2e") or {}).get("in_pipeline_mean_ms")
        said = f"{e2e:.1f} ms" if e2e is not None else "not measured"
        return f"  [green]ok[/]      {job}: end of speech -> first token {said} (mean)"
    if record["status"] == "ok":
        lat = record["latency_ms"]
        extra = "" if record["validity"] == "valid" else f" [yellow]{record['validity']}[/]"
        delegation = record.get("delegation") or {}
        if delegation.get("fallback"):  # as the report's "CPU fallback" badge says
            from npubench.reports.cells import delegation_text

            coverage = delegation_text(delegation.get("status"),
                                       delegation.get("nodes_delegated"),
                                       delegation.get("nodes_total"))
            delegate = escape(str(delegation.get("delegate")))
            extra += f" [yellow]CPU fallback[/] ({escape(coverage)} on {delegate})"
        return f"  [green]ok[/]      {job}: median {lat['median']:.3f} ms (n={lat['n']}){extra}"
    message = escape((record.get("error") or {}).get("message", ""))
    colour = "red" if record["status"] == "failed" else "dim"
    return f"  [{colour}]{record['status']:<7}[/] {job}: {message}"


def _print_summary(console, records: list[dict]) -> None:
    from rich.markup import escape
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
            escape(r["workload"]["name"]), escape(r["backend"]["spec"]), r["status"],
            f"{lat['median']:.3f}" if lat else "", f"{lat['p90']:.3f}" if lat else "", ci,
            f"{r['memory_peak_mb']:.0f}" if r.get("memory_peak_mb") else "",
            *([f"{decode:.1f}" if decode is not None else ""] if llm else []),
        )
    if llm:
        console.print("(LLM jobs: latency is per generated token)")
    console.print(table)
    counts = {s: sum(1 for r in records if r["status"] == s) for s in ("ok", "failed", "skipped")}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()))


def _loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback only."""
    import ipaddress
    import socket

    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def cmd_sim(args: Namespace) -> int:
    from npubench.devices import simulator

    server = simulator.serve(args.profile, host=args.host, port=args.port, auth=args.auth,
                             slowdown=getattr(args, "slowdown", []),
                             timing=getattr(args, "timing", "measured"),
                             ram_gb=getattr(args, "ram_gb", None),
                             faults=getattr(args, "fault", []))
    host, port = server.address
    if not _loopback(args.host):
        print(f"warning: the simulated phone listens on {args.host}, beyond this machine: "
              "whoever reaches it gets a shell that runs its tools on this host"
              + ("" if args.auth else ", with no authorization (add --auth)"),
              file=sys.stderr, flush=True)
    print(f"{server.describe()}\n"
          f"  npubench devices --device tcp:{host}:{port}\n"
          f"  npubench run --device tcp:{host}:{port}\n"
          f"  adb connect {host}:{port} && adb -s {host}:{port} shell\n"
          "Ctrl-C stops it.", flush=True)
    parent = os.environ.get("NPUBENCH_SIM_PARENT")  # a farm worker's phone ends with it
    if parent and parent.isdigit():
        threading.Thread(target=_stop_without_parent, args=(int(parent), server),
                         daemon=True).start()
    from npubench.harness.interrupts import sigterm_as_ctrl_c

    try:
        with sigterm_as_ctrl_c():  # stopped as on Ctrl-C: its storage removed
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def _stop_without_parent(parent: int, server) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    server.stop()


def cmd_clean(args: Namespace) -> int:
    from npubench.devices.registry import resolve_device

    device = resolve_device(args.device)
    try:
        if getattr(device, "kind", "host") != "android":
            raise ConfigError("clean works on a phone: give --device SPEC")
        from npubench.devices.charging_guard import restore_stale

        restored = restore_stale(device)  # a killed run's suspended charging (its marker)
        if restored:
            print(f"restored charging left suspended by {restored['left_by'] or 'a run'} "
                  f"(battery: {restored['battery_status'] or 'unknown'})")
        device.clean()
        print(f"removed npubench's files from {device.spec}")
    finally:
        getattr(device, "close", lambda: None)()
    return EXIT_OK


def cmd_tools(args: Namespace) -> int:
    from npubench.harness.tools import (
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
    from npubench.harness.parsers.cli import cmd_parse as parse

    return parse(args)


def cmd_report(args: Namespace) -> int:
    from npubench.reports.html import write_report
    from npubench.results import read_records

    read_records(Path(args.run_dir))  # a clear error for a folder that is not a run
    print(write_report(Path(args.run_dir), Path(args.out) if args.out else None))
    return EXIT_OK


def cmd_export(args: Namespace) -> int:
    from npubench.reports.pytest_benchmark import write_pytest_benchmark_json
    from npubench.results import read_records

    read_records(Path(args.run_dir))
    print(write_pytest_benchmark_json(Path(args.run_dir), Path(args.pytest_benchmark)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit("use the npubench command")
