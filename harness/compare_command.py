"""``npubench compare BASE NEW``: the command's body (the statistics and outputs live in
``npubench.reports.compare``). Nothing heavy is imported at import time."""

from __future__ import annotations

import sys
from argparse import Namespace

from npubench.errors import EXIT_OK, EXIT_REGRESSION


def cmd_compare(args: Namespace) -> int:
    from npubench.harness.commands import _console
    from npubench.reports.compare.comparison import compare_runs
    from npubench.reports.compare.files import to_json, write_outputs
    from npubench.reports.compare.inputs import load_history, load_run, parse_threshold
    from npubench.reports.compare.terminal import print_comparison

    threshold = parse_threshold(args.threshold)
    base = load_run(args.base, args.store)
    new = load_run(args.new, args.store)
    history = [] if args.no_history else load_history(args.store, base, new)
    data = compare_runs(base, new, threshold=threshold, same_phone=args.same_phone,
                        history=history).to_dict()
    json_to_stdout = args.json == "-"
    written = write_outputs(data, markdown=args.markdown, junit=args.junit,
                            json_file=None if json_to_stdout else args.json, html=args.html)
    if json_to_stdout:
        sys.stdout.write(to_json(data))
    else:
        console = _console()
        print_comparison(console, data)
        for path in written:
            console.print(f"wrote {path}", markup=False)
    return EXIT_REGRESSION if data["regressed"] else EXIT_OK


def print_baseline(console, data: dict) -> None:
    """The table of ``npubench run --baseline`` (after the run's own summary)."""
    from npubench.reports.compare.terminal import print_comparison

    console.rule("against the baseline")
    print_comparison(console, data)
