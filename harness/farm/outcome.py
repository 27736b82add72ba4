"""The end of a night: its counts and exit code from what is on disk, and its reports (the
ordinary run report of every job, and the farm's morning report with the comparison against
the previous night)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from npubench.errors import (
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_OK,
    EXIT_REGRESSION,
)


@dataclass
class FarmRunResult:
    run_id: str
    run_dir: Path
    counts: dict[str, int] = field(default_factory=dict)
    infra_only: bool = False
    interrupted: bool = False
    regressed: bool = False
    reports: dict[str, Path] = field(default_factory=dict)
    overheads_s: list[float] = field(default_factory=list)
    """Per job that ran: the farm's own time around it (``Controller._write``)."""

    @property
    def exit_code(self) -> int:
        """130 interrupted; failed jobs 4 (3 when every failure is infrastructure), which win
        over a regression against the previous night (2); else 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.counts.get("failed"):
            return EXIT_INFRA if self.infra_only else EXIT_JOBS_FAILED
        return EXIT_REGRESSION if self.regressed else EXIT_OK


def summarize(result: FarmRunResult, say: Callable[[str], None]) -> None:
    from npubench.results import RESULTS_FILE, iter_records

    counts = {"ok": 0, "failed": 0, "skipped": 0}
    infra = []
    if (result.run_dir / RESULTS_FILE).exists():
        for record in iter_records(result.run_dir):
            counts[record["status"]] = counts.get(record["status"], 0) + 1
            if record["status"] == "failed":
                infra.append(bool((record.get("error") or {}).get("infrastructure")))
    result.counts = counts
    result.infra_only = bool(infra) and all(infra)
    say(f"npubench farm: night {result.run_id}: {counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['skipped']} skipped" + (" (interrupted)" if result.interrupted else ""))


def write_reports(result: FarmRunResult, previous: str | None, store: str | None,
                  say: Callable[[str], None]) -> None:
    """report.html (every job, as ``npubench run`` writes it) and the morning report; a report
    that cannot be written is said, and the night's records stay as they are."""
    from npubench.reports.farm import write_farm_report
    from npubench.reports.html import write_report

    try:
        result.reports["html"] = write_report(result.run_dir)
    except Exception as exc:
        say(f"npubench farm: the run report could not be written: {exc}")
    try:
        reports = write_farm_report(result.run_dir, previous, store)
    except Exception as exc:
        say(f"npubench farm: the morning report could not be written: {exc}")
        return
    result.reports.update({f"farm_{k}": v for k, v in reports.items()})
    comparison_file = result.run_dir / "farm-comparison.json"
    if comparison_file.exists():
        result.regressed = bool(json.loads(comparison_file.read_text()).get("regressed"))
    say(f"npubench farm: morning report {reports.get('html')}")
