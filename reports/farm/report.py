"""``write_farm_report``: a night's folder -> farm-report.html, farm-junit.xml and
farm-summary.md beside its results. ``night_summary`` gathers what all three show (plain
data); the renderers (``page``, ``junit``, ``markdown``) only format it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from npubench.reports.farm import matrix, timeline
from npubench.reports.farm.night import Night, iso_seconds, read_night
from npubench.reports.farm.previous import Previous, load_previous

HTML_FILE = "farm-report.html"
JUNIT_FILE = "farm-junit.xml"
MARKDOWN_FILE = "farm-summary.md"
COMPARISON_FILE = "farm-comparison.json"
"""The comparison as data, for the controller's exit code (``regressed``) and for tools."""
COMPARISON_FORMAT = "npubench-farm-comparison/1"
RUN_REPORT = "report.html"


def write_farm_report(run_dir: Path, previous: Path | str | None = None,
                      store: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write the night's three reports into ``run_dir`` and return their paths (and, beside
    them, farm-comparison.json: ``comparison_data``).

    ``previous``: the night to compare with (a run folder or a store run id); None finds the
    latest earlier night of the same farm in ``store`` (None: the default store). A previous
    night that cannot be found or read is said in the reports, which render anyway."""
    from npubench.reports.farm.junit import render_junit
    from npubench.reports.farm.markdown import render_markdown
    from npubench.reports.farm.page import render_page
    from npubench.results import write_text_atomic

    run_dir = Path(run_dir)
    data = night_summary(read_night(run_dir), previous, store)
    write_text_atomic(run_dir / COMPARISON_FILE, json.dumps(comparison_data(data), indent=1,
                                                            default=str))
    return {
        "html": write_text_atomic(run_dir / HTML_FILE, render_page(data)),
        "junit": write_text_atomic(run_dir / JUNIT_FILE, render_junit(data)),
        "markdown": write_text_atomic(run_dir / MARKDOWN_FILE, render_markdown(data)),
    }


def night_summary(night: Night, previous: Path | str | None = None,
                  store: str | os.PathLike | None = None) -> dict[str, Any]:
    """Everything the reports show, as plain data (texts unescaped)."""
    farm = night.farm
    deadline_s = farm.get("deadline_s")
    if not isinstance(deadline_s, (int, float)) or isinstance(deadline_s, bool):
        deadline_s = None
    found: Previous = load_previous(night, previous, store)
    plan_class = {str(j.get("key")): str(j.get("class")) for j in night.plan if j.get("class")}
    comparisons = None
    comparison_notes: list[str] = []
    if found.view is not None:
        comparisons = matrix.compare_nights(found.view, night.view, plan_class, found.history)
        for data in comparisons.values():
            if not (data["base"].get("records") and data["new"].get("records")):
                continue  # a class of one night only: its run notes compare with nothing
            comparison_notes += [n for n in data.get("notes", []) if n not in comparison_notes]
    rows = matrix.build_rows(night.plan, night.records,
                             found.view.records if found.view is not None else None,
                             comparisons, no_comparison=found.reason)
    phones = [p for p in farm.get("phones") or [] if isinstance(p, dict)]
    lanes = timeline.build_timeline(
        night.events, phones, deadline_s=deadline_s,
        started=iso_seconds(night.info.get("started_at")),
        finished=iso_seconds(night.info.get("finished_at")))
    quarantines = timeline.quarantines(lanes)
    names = [str(p.get("name")) for p in phones] or (
        [lane.phone for lane in lanes.lanes] if lanes else [])
    devices = [r.get("device") for r in night.records if isinstance(r.get("device"), dict)]
    return {
        "farm": {"name": farm.get("name"), "source": farm.get("source"),
                 "classes": _texts(farm.get("classes")) or sorted({r["class"] for r in rows}),
                 "deadline_s": deadline_s, "retries": farm.get("retries"),
                 "dashboard": farm.get("dashboard"), "scheduler": farm.get("scheduler")},
        "night": {"run_id": night.view.run_id, "started_at": night.info.get("started_at"),
                  "finished_at": night.info.get("finished_at"),
                  "interrupted": bool(night.info.get("interrupted")),
                  "resumed_at": _texts(farm.get("resumed_at"))},
        "phones": {"total": len(names), "names": names,
                   "quarantined": sorted({q["phone"] for q in quarantines}),
                   "quarantined_at_end": sorted(lane.phone for lane in (lanes.lanes if lanes
                                                                        else [])
                                                if lane.quarantined_at_end)},
        "counts": matrix.counts(rows),
        "simulated": any(d.get("simulated") for d in devices),
        "modeled": any(d.get("simulated") and d.get("simulated_timing") == "modeled"
                       for d in devices),
        "previous": {"run_id": found.view.run_id if found.view else None,
                     "source": found.view.source if found.view else None,
                     "started_at": found.view.started_at if found.view else None,
                     "reason": found.reason, "notes": found.notes},
        "comparison_notes": comparison_notes,
        "comparisons": comparisons,
        "rows": rows,
        "regressions": [r for r in rows if r["verdict"] == "regression"],
        "failures": [r for r in rows if r["status"] == "failed"],
        "timeline": lanes,
        "quarantines": quarantines,
        "notes": night.notes,
        "run_report": RUN_REPORT if (night.run_dir / RUN_REPORT).exists() else None,
    }


def comparison_data(data: dict[str, Any]) -> dict[str, Any]:
    """What farm-comparison.json holds: whether any job regressed against the previous
    night, which, and each class's ``Comparison.to_dict()`` (None without a previous
    night)."""
    return {"format": COMPARISON_FORMAT, "run_id": data["night"]["run_id"],
            "previous": data["previous"]["run_id"], "reason": data["previous"]["reason"],
            "regressed": bool(data["regressions"]),
            "regressions": [row["key"] for row in data["regressions"]],
            "failed": [row["key"] for row in data["failures"]],
            "classes": data["comparisons"]}


def _texts(value: Any) -> list[str]:
    """A list from run.json as texts (anything else: empty)."""
    return [str(v) for v in value] if isinstance(value, list) else []
