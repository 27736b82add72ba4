"""The ``npubench`` command. Heavy libraries are imported inside the commands, never here,
so that ``npubench --help`` stays fast.

Exit codes:
  0    success (every job ok or skipped)
  1    usage or configuration error; nothing was run
  2    regression found (compare, run --baseline)
  3    device or infrastructure failure
  4    the run finished but one or more jobs failed
  130  interrupted (Ctrl-C): what was measured stays in results.jsonl
"""

from __future__ import annotations

import argparse
import sys

from npubench.devices.simulator import fault_knobs_help
from npubench.errors import EXIT_INFRA, EXIT_OK, EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse with npubench's usage exit code (1, as for any configuration error; argparse's
    own is 2, which npubench keeps for a regression found)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="npubench",
        description="Benchmark AI inference on phones (NPU, GPU, CPU) and on this host.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("devices", help="list the devices npubench can reach")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--device", metavar="SPEC", action="append", default=[],
                   help="also list this device: tcp:HOST:PORT, usb:SERIAL, sim:PROFILE "
                   "(repeatable)")

    p = sub.add_parser("workloads", help="list the built-in workloads and suites")
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = sub.add_parser("run", help="run a benchmark and write results and a report")
    p.add_argument("--device", metavar="SPEC", help="host (default when no phone is attached)")
    p.add_argument("--suite", metavar="NAME|PATH",
                   help="a built-in suite (quick, full) or a suite YAML file; default: quick")
    p.add_argument("--workload", metavar="NAME|PATH", action="append", default=[],
                   help="a built-in workload, a .tflite/.onnx/.gguf file, or a decoder spec "
                   "such as decoder:preset=llama_125m,layers=4,precision=int4 (repeatable)")
    p.add_argument("--backend", metavar="SPEC", action="append", default=[],
                   help="e.g. tflite:xnnpack, ort:cpu, ort:cuda?threads=2, or all (repeatable)")
    p.add_argument("--input-shape", metavar="NAME=D0,D1,...", action="append", default=[],
                   help="fix an input's dynamic dimensions, e.g. x=1,3,640,640 (repeatable)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")
    p.add_argument("--prompt-tokens", type=int, metavar="N",
                   help="LLM workloads: prompt tokens to prefill (default 512, or the suite's)")
    p.add_argument("--gen-tokens", type=int, metavar="N",
                   help="LLM workloads: tokens to generate (default 128, or the suite's)")
    p.add_argument("--fps", type=float, metavar="FPS",
                   help="frame-rate (sustained) mode: feed frames at this rate instead of back "
                   "to back; records deadline misses, dropped frames, the first sustained "
                   "slowdown and the steady-state ratio")
    p.add_argument("--duration", metavar="DURATION",
                   help="frame-rate mode: how long, e.g. 300s, 5m or 300 (default 60s)")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                   help="override a measurement setting, e.g. max_seconds=5 (repeatable)")
    p.add_argument("--out", metavar="DIR", help="results folder (default: runs/RUN_ID); one "
                   "that holds a run already is refused (see --resume)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="finish a run that was cut off: plan it again from RUN_DIR/run.json, "
                   "run only the jobs without a record, append their records to its "
                   "results.jsonl and write its report again")
    p.add_argument("--benchmark-json", metavar="FILE",
                   help="also write the results as pytest-benchmark JSON")
    p.add_argument("--no-report", action="store_true", help="do not write report.html")
    p.add_argument("--baseline", metavar="RUN|latest|previous",
                   help="after the run, compare it with this run (a run folder, a run id in "
                   "the results store, latest or previous; resolved before the run starts): "
                   "the table, an 'Against the baseline' section in report.html, and exit "
                   "code 2 when a cell regressed; failed jobs keep their own exit code (4, or "
                   "3 when all failures are infrastructure), which wins over 2")
    p.add_argument("--tool", metavar="NAME=PATH", action="append", default=[],
                   help="an on-device tool or SDK for phones: benchmark_model=PATH, "
                   "onnxruntime_perf_test=PATH, qnn_sdk=DIR (repeatable; see tools.yaml)")
    p.add_argument("--require-npu", action="store_true",
                   help="on a phone, a job whose graph falls back to the CPU fails")
    p.add_argument("--no-power", action="store_true",
                   help="on a phone, do not suspend charging nor measure power")
    p.add_argument("--cooldown-c", type=float, default=40.0, metavar="C",
                   help="on a phone, wait until the hottest zone is under C before a job")
    p.add_argument("--store", metavar="URL|PATH",
                   help="also write the results into this store: a SQLite file or a "
                   "postgresql:// URL (default: $NPUBENCH_STORE, else the user's SQLite file)")
    p.add_argument("--no-store", action="store_true",
                   help="do not write the results into a results store")

    p = sub.add_parser("ingest", help="import run folders into the results store")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument("--store", metavar="URL|PATH",
                   help="a SQLite file or a postgresql:// URL (default: $NPUBENCH_STORE, else "
                   "the user's SQLite file)")

    p = sub.add_parser("runs", help="list the runs in the results store")
    p.add_argument("--store", metavar="URL|PATH",
                   help="a SQLite file or a postgresql:// URL (default: $NPUBENCH_STORE, else "
                   "the user's SQLite file)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--limit", type=int, default=20, metavar="N",
                   help="the newest N runs (default 20; 0 for all)")

    p = sub.add_parser("sim", help="run a simulated phone (real ADB protocol) in the foreground")
    p.add_argument("--profile", default="sm8650",
                   help="SoC profile: sm8650 (Snapdragon 8 Gen 3), mt6989 (Dimensity 9300)")
    p.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--auth", action="store_true",
                   help="require ADB authorization (new keys are accepted, as if tapped)")
    p.add_argument("--slowdown", metavar="WORKLOAD[:BACKEND]=FACTOR", action="append",
                   default=[], help="ground truth for testing a regression gate: the phone's "
                   "tools report the times they measure for WORKLOAD (the model file's stem, "
                   "or *) on BACKEND (a spec or npu/gpu/cpu) x FACTOR (repeatable; also "
                   "--device 'sim:PROFILE?slowdown=KNOB,KNOB')")
    p.add_argument("--timing", default="measured", metavar="measured|modeled",
                   help="measured (default): the phone's tools compute each inference on the "
                   "host CPU; modeled: they wait the time the profile models instead, so many "
                   "simulated phones share few cores (also --device 'sim:PROFILE?timing=modeled')")
    p.add_argument("--ram-gb", type=float, metavar="GB",
                   help="the phone's RAM instead of its profile's, e.g. 8 for an 8 GB phone "
                   "(/proc/meminfo shows it; also --device 'sim:PROFILE?ram_gb=8')")
    p.add_argument("--fault", metavar="KNOB[=VALUE]", action="append", default=[],
                   help="a fault the phone has from the start, for testing how the harness "
                   "copes (repeatable; also --device 'sim:PROFILE?fault=KNOB,KNOB'): "
                   + fault_knobs_help().replace("%", "%%"))

    p = sub.add_parser("clean", help="remove what npubench left on a phone")
    p.add_argument("--device", metavar="SPEC", help="the phone (default: the attached one)")

    p = sub.add_parser("tools", help="the on-device benchmark tools: list them, or fetch "
                       "TFLite's prebuilt benchmark_model")
    p.add_argument("action", choices=["list", "fetch"])
    p.add_argument("--abi", default="arm64-v8a", help="for fetch: arm64-v8a or armeabi-v7a")

    p = sub.add_parser("parse", help="parse a benchmark tool's output into JSON")
    p.add_argument("tool", choices=["benchmark_model", "onnxruntime_perf_test", "llama-bench"])
    p.add_argument("file", help="the tool's output (- for stdin)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("compare", help="compare two runs cell by cell (exit 2 when a cell "
                       "regressed)")
    p.add_argument("base", metavar="BASE", help="a run folder, a run id (or a unique prefix) "
                   "in the results store, latest or previous")
    p.add_argument("new", metavar="NEW", help="the run to judge, given as BASE is")
    p.add_argument("--store", metavar="URL|PATH",
                   help="the results store for run ids: a SQLite file or a postgresql:// URL "
                   "(default: $NPUBENCH_STORE, else the user's SQLite file)")
    p.add_argument("--threshold", default="3%", metavar="PERCENT",
                   help="a cell is slower (or faster) only when the whole 95%% interval of a "
                   "figure's ratio NEW/BASE is beyond 1 +/- this (default 3%%)")
    p.add_argument("--same-phone", action="store_true",
                   help="compare per phone unit (serial), not per phone model")
    p.add_argument("--no-history", action="store_true",
                   help="do not widen the intervals by each cell's run-to-run spread, read "
                   "from its earlier runs in the results store (used when 5 or more exist)")
    p.add_argument("--markdown", metavar="FILE", help="also write Markdown (a CI job summary)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML: one test case per "
                   "cell, a regression is a failure, an incomparable cell is skipped")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-",
                   help="write JSON (every figure's ratio, interval and verdict) to FILE, or "
                   "to stdout instead of the table when FILE is left out")
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")

    p = sub.add_parser("history", help="write a static site of every cell's results over "
                       "time, with change points (exit 1 when there is nothing to show)")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="*",
                   help="run folders to read instead of the results store")
    p.add_argument("--store", metavar="URL|PATH",
                   help="a SQLite file or a postgresql:// URL (default: $NPUBENCH_STORE, else "
                   "the user's SQLite file)")
    p.add_argument("--out", metavar="DIR", required=True, help="the site's folder (index.html)")
    p.add_argument("--device-model", metavar="MODEL", help="only this device model's cells")
    p.add_argument("--since", metavar="DATE", help="only runs started on or after DATE "
                   "(ISO 8601)")
    p.add_argument("--limit-runs", type=int, metavar="N", help="only the newest N runs")

    p = sub.add_parser("report", help="write the HTML report of a run folder")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", metavar="FILE", help="default: RUN_DIR/report.html")

    p = sub.add_parser("farm", help="the nightly device farm on Dask: check a farm.yaml, run a "
                       "night, serve a host's phones, show the farm")
    farm = p.add_subparsers(dest="farm_command", metavar="ACTION", required=True)
    q = farm.add_parser("check", help="validate a farm.yaml (exit 1 with each problem's line) "
                        "and print its phones, classes, limits and nightly plan")
    q.add_argument("farm_file", metavar="FARM_YAML")
    q.add_argument("--json", action="store_true", help="print the farm as JSON")
    q = farm.add_parser("run", help="run the night: every nightly job on the farm's phones, "
                        "records to results.jsonl and the store as jobs end, the morning "
                        "report; exit 0 ok, 2 regression, 3 infrastructure, 4 failed jobs, "
                        "130 interrupted")
    q.add_argument("farm_file", metavar="FARM_YAML")
    q.add_argument("--scheduler", metavar="ADDR", help="a Dask scheduler with `npubench farm "
                   "worker` on each phone host (default: an embedded LocalCluster and one "
                   "worker holding every phone of the file)")
    q.add_argument("--store", metavar="URL_OR_PATH", help="the results store (default: the "
                   "farm file's store:, else npubench's default store)")
    q.add_argument("--deadline", metavar="DURATION", help="jobs not started within this "
                   "(6h, 90m) are skipped (default: the farm file's deadline:)")
    q.add_argument("--resume", metavar="RUN_ID", help="finish a cut-off night (its id or "
                   "folder): the jobs that have a record are not run again")
    q.add_argument("--out", metavar="DIR", help="the night's folder (default: runs/RUN_ID)")
    q.add_argument("--previous", metavar="RUN", help="the night to compare with (folder or "
                   "store run id; default: the farm's previous night in the store)")
    q.add_argument("--no-report", action="store_true", help="do not write the reports")
    q = farm.add_parser("worker", help="on a phone host: open its phones and serve them to "
                        "a Dask scheduler until stopped (SIGTERM/Ctrl-C restore the phones)")
    q.add_argument("farm_file", metavar="FARM_YAML")
    q.add_argument("--scheduler", metavar="ADDR", required=True,
                   help="the scheduler, e.g. tcp://farm-controller:8786")
    q.add_argument("--host-label", metavar="NAME", help="serve the phones labelled "
                   "{host: NAME} (default: every phone of the file)")
    q.add_argument("--name", metavar="NAME", help="the worker's name (default: "
                   "npubench-HOST-LABEL or npubench-HOSTNAME)")
    q.add_argument("--idle-restore", metavar="DURATION", default="10m", help="restore a "
                   "night's phones when none of its jobs came for this long (default 10m)")
    q = farm.add_parser("status", help="the farm now: workers, phones, health, what each runs, "
                        "the dashboard")
    q.add_argument("--scheduler", metavar="ADDR", default="tcp://127.0.0.1:8786",
                   help="default: tcp://127.0.0.1:8786")
    q.add_argument("--json", action="store_true", help="print it as JSON")
    q = farm.add_parser("report", help="write a night's morning report again")
    q.add_argument("run_dir", metavar="RUN_DIR")
    q.add_argument("--previous", metavar="RUN", help="the night to compare with")
    q.add_argument("--store", metavar="URL_OR_PATH", help="the store to find it in")

    p = sub.add_parser("export", help="export a run's results to other formats")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--pytest-benchmark", metavar="FILE", required=True,
                   help="write pytest-benchmark JSON (readable by `pytest-benchmark compare`)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from npubench import __version__

        print(f"npubench {__version__}")
        return EXIT_OK
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    from npubench.errors import NpubenchError
    from npubench.harness import commands

    try:
        return getattr(commands, f"cmd_{args.command}")(args)
    except NpubenchError as exc:
        print(f"npubench: error: {exc}", file=sys.stderr)
        return EXIT_INFRA if exc.infrastructure else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
