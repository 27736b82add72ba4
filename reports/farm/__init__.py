"""The farm's morning report (issue 12): one night's run folder (``npubench farm run``) as an
HTML page, a JUnit file and a Markdown summary for CI, plus farm-comparison.json (whether
the night regressed against the previous one, for the controller's exit code).

Modules: ``night`` (reads the folder), ``previous`` (finds and loads the previous night),
``matrix`` (records + comparison -> rows), ``timeline`` (events -> per-phone lanes),
``junit``, ``markdown``, ``page`` (the HTML), ``report`` (``write_farm_report``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_farm_report(run_dir: Path, previous: Path | str | None = None,
                      store: Any = None) -> dict[str, Path]:
    """Write farm-report.html, farm-junit.xml and farm-summary.md into ``run_dir`` (see
    ``npubench.reports.farm.report``)."""
    from npubench.reports.farm.report import write_farm_report as write

    return write(run_dir, previous, store)


__all__ = ["write_farm_report"]
