"""``npubench history``: the command's body (the site is built by ``npubench.reports.history``).
Nothing heavy is imported at import time.

Exit codes: 0 when the site was written; 1 when there is nothing to show (an empty store, run
folders that are not runs, filters that match no run), the store cannot be opened (the store's
``ResultsError``), or an option is wrong.
"""

from __future__ import annotations

from argparse import Namespace
from datetime import datetime, timezone
from pathlib import Path

from npubench.errors import EXIT_OK, ConfigError, ResultsError


def parse_since(text: str | None) -> datetime | None:
    """``--since`` as an aware datetime (a date means its midnight UTC)."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since {text!r} is not a date or time",
                          hint="give ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00:00+00:00"
                          ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _load(args: Namespace, since: datetime | None) -> tuple[list, str, list[str]]:
    """The runs, where they came from (for the page), and the device models there are (for
    the message when a filter matches nothing)."""
    if args.run_dirs:
        from npubench.reports.run_view import read_run_folder

        views = [read_run_folder(Path(d)) for d in args.run_dirs]
        models = sorted({str((r.get("device") or {}).get("model") or "")
                         for v in views for r in v.records} - {""})
        if args.device_model:
            for view in views:
                view.records = [r for r in view.records
                                if (r.get("device") or {}).get("model") == args.device_model]
            views = [v for v in views if v.records]
        return views, f"{len(args.run_dirs)} run folder(s)", models
    from npubench.reports.store import open_store

    store = open_store(args.store)
    try:
        filters = {"since": since} if since else {}
        if args.device_model:
            filters["device_model"] = args.device_model
        views = store.run_views(**filters)
        models = []
        if not views and args.device_model:
            models = sorted({m for run in store.run_summaries() for m in run["devices"]})
        return views, store.where, models
    finally:
        store.close()


def cmd_history(args: Namespace) -> int:
    from npubench.reports.history import write_history

    since = parse_since(args.since)
    if args.limit_runs is not None and args.limit_runs < 1:
        raise ConfigError(f"--limit-runs {args.limit_runs}: give 1 or more")
    views, source, models = _load(args, since)
    if not views:
        what = "the run folders given" if args.run_dirs else source
        filters = ", ".join(f"{name} {value}" for name, value in (
            ("--device-model", args.device_model), ("--since", args.since)) if value)
        hint = ("ingest runs with `npubench ingest RUN_DIR...`, or give run folders"
                if not filters else f"device models there: {', '.join(models) or 'none'}")
        raise ResultsError(f"no runs to show in {what}" + (f" with {filters}" if filters else ""),
                           hint=hint)
    summary = write_history(views, Path(args.out), device_model=args.device_model, since=since,
                            limit_runs=args.limit_runs, source=source)
    if not summary.runs:
        raise ResultsError(f"no run in {source} started on or after {args.since}",
                           hint="give an earlier --since")
    print(f"{summary.index}  ({_count(summary.runs, 'run')}, {_count(summary.cells, 'cell')}, "
          f"{_count(summary.steps, 'change point')})")
    return EXIT_OK


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
