"""``npubench ingest`` and ``npubench runs``: put run folders into the results store and list
what it holds. Nothing heavy is imported until a command runs."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

from npubench.errors import EXIT_OK, EXIT_USAGE, NpubenchError


def _console():
    from npubench.harness.commands import _console as console

    return console()


def cut_last_line(run_dir: Path) -> bool:
    """Whether the run's results.jsonl ends in a line cut short (a run stopped mid-write):
    the records before it go in, and the user is told."""
    path = Path(run_dir) / "results.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    last = next((line for line in reversed(lines) if line.strip()), None)
    if last is None:
        return False
    try:
        json.loads(last)
    except json.JSONDecodeError:
        return True
    return False


def cmd_ingest(args: Namespace) -> int:
    from rich.markup import escape

    from npubench.reports.store import open_store

    console = _console()
    failed = 0
    with open_store(args.store) as store:
        for run_dir in args.run_dirs:
            path = Path(run_dir)
            try:
                if not path.is_dir():
                    raise NpubenchError(f"{path} is not a folder",
                                        hint="give the folder that `npubench run --out` wrote")
                added, there = store.ingest(path)
            except NpubenchError as exc:
                failed += 1
                print(f"npubench: error: {run_dir}: {exc}", file=sys.stderr)
                continue
            note = (" [yellow](the last line of results.jsonl was cut short and is left "
                    "out)[/]" if cut_last_line(path) else "")
            console.print(f"{escape(str(run_dir))}: {added} records added, {there} already "
                          f"there{note}")
        console.print(f"results store: {escape(store.where)}")
    return EXIT_USAGE if failed else EXIT_OK


def cmd_runs(args: Namespace) -> int:
    from npubench.reports.store import open_store

    with open_store(args.store) as store:
        summaries = store.run_summaries(limit=args.limit or None)
        where = store.where
    rows = [{
        "run_id": s["run_id"], "started_at": s.get("started_at"),
        "finished_at": s.get("finished_at"), "devices": s["devices"], "suite": s.get("suite"),
        "ok": s["counts"].get("ok", 0), "failed": s["counts"].get("failed", 0),
        "skipped": s["counts"].get("skipped", 0), "simulated": s["any_simulated"],
    } for s in summaries]
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    from rich.markup import escape
    from rich.table import Table

    table = Table("run", "started", "device", "suite", "ok", "failed", "skipped", "simulated",
                  title=f"runs in {escape(where)}")
    for row in rows:
        table.add_row(escape(row["run_id"]), escape(str(row["started_at"] or "")),
                      escape(", ".join(row["devices"])), escape(str(row["suite"] or "")),
                      str(row["ok"]), str(row["failed"]), str(row["skipped"]),
                      "[yellow]yes[/]" if row["simulated"] else "no")
    console = _console()
    console.print(table)
    if not rows:
        console.print("no runs yet: `npubench run` writes them, `npubench ingest RUN_DIR` "
                      "imports old ones")
    return EXIT_OK
