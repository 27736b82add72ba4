"""``npubench history``: a static, self-contained site of each cell's results over time, with
change points (``steps``) and environment changes marked.

``write_history(views, out_dir)`` is the whole pipeline: runs (``RunView``s from the results
store or run folders) -> one history per cell (``series``) -> change points (``steps``) ->
pages (``site``, figures from ``figure``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from npubench.reports.history.series import CellHistory, cell_histories, select_runs
from npubench.reports.history.site import SiteSummary, build_site
from npubench.reports.history.steps import Step, detect_steps
from npubench.reports.run_view import RunView

__all__ = ["CellHistory", "SiteSummary", "Step", "build_site", "cell_histories",
           "detect_steps", "select_runs", "write_history"]


def write_history(views: Sequence[RunView], out_dir: Path, *, device_model: str | None = None,
                  since: datetime | None = None, limit_runs: int | None = None,
                  source: str = "") -> SiteSummary:
    """Select the runs, follow every cell through them and write the site into ``out_dir``."""
    runs = select_runs(views, since=since, limit_runs=limit_runs)
    cells = cell_histories(runs, device_model=device_model)
    return build_site(runs, cells, Path(out_dir), source=source)
