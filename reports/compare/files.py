"""Writing a comparison's files (Markdown, JUnit XML, JSON, HTML), and the comparison a run
keeps against its baseline (``baseline.json`` in the run folder, which the run's report
reads for its "Against the baseline" section)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from npubench.reports.run_view import RunView, read_run_folder
from npubench.results import write_text_atomic

BASELINE_FILE = "baseline.json"
"""A run's comparison against its ``--baseline`` (``Comparison.to_dict()``)."""


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


def write_outputs(data: dict[str, Any], *, markdown=None, junit=None, json_file=None,
                  html=None) -> list[Path]:
    """Write each requested file of ``Comparison.to_dict()``; returns the paths written."""
    written = []
    if markdown:
        from npubench.reports.compare.markdown import render_markdown

        written.append(write_text_atomic(markdown, render_markdown(data)))
    if junit:
        from npubench.reports.compare.junit import render_junit

        written.append(write_text_atomic(junit, render_junit(data)))
    if json_file:
        written.append(write_text_atomic(json_file, to_json(data)))
    if html:
        from npubench.reports.compare.html import render_compare_html

        written.append(write_text_atomic(html, render_compare_html(data)))
    return written


def compare_to_baseline(baseline: RunView, run_dir: Path, *, threshold: float | None = None,
                        store=None, use_history: bool = True) -> dict[str, Any]:
    """Compare the run in ``run_dir`` against ``baseline`` (with the run-to-run spread of
    each cell from the earlier runs in the results store ``store``), keep the result in the
    run folder (``baseline.json``) and return it."""
    from npubench.reports.compare.comparison import DEFAULT_THRESHOLD, compare_runs
    from npubench.reports.compare.inputs import load_history

    new = read_run_folder(Path(run_dir))
    history = load_history(store, baseline, new) if use_history else []
    comparison = compare_runs(baseline, new, history=history,
                              threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    data = comparison.to_dict()
    write_text_atomic(Path(run_dir) / BASELINE_FILE, to_json(data))
    return data


def read_baseline(run_dir: Path) -> dict[str, Any] | None:
    """The run's comparison against its baseline, or None when it was run without one."""
    path = Path(run_dir) / BASELINE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and "cells" in data else None
