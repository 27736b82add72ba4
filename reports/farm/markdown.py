"""The night as a short GitHub-flavoured Markdown summary for CI: counts, regressions,
failures with their reasons, quarantines. Every text from the night goes through
``md_escape`` (compare's), so a job named ``<script>`` or ``a|b`` stays text."""

from __future__ import annotations

from typing import Any

from npubench.reports.compare.markdown import md_escape
from npubench.reports.farm import text
from npubench.reports.farm.timeline import clock


def render_markdown(data: dict[str, Any]) -> str:
    """``night_summary`` data as Markdown."""
    night, counts = data["night"], data["counts"]
    out = [f"## npubench farm {md_escape(data['farm'].get('name') or '(unnamed)')}: night "
           f"{md_escape(night['run_id'])}", ""]
    if text.banner(data):
        out += [f"> **{md_escape(text.banner(data))}**", ""]
    out.append(f"- jobs: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} "
               f"skipped" + (f", {counts['not run']} not run" if counts["not run"] else ""))
    phones = data["phones"]
    out.append(f"- phones: {phones['total']}, {len(phones['quarantined'])} quarantined")
    out.append(f"- started {md_escape(night.get('started_at') or '—')}, finished "
               f"{md_escape(night.get('finished_at') or '— (not recorded)')}"
               + (" — **interrupted**" if night.get("interrupted") else ""))
    previous = data["previous"]
    if previous["run_id"]:
        out.append(f"- compared with the previous night {md_escape(previous['run_id'])}: "
                   f"{counts['regression']} regression{'s' * (counts['regression'] != 1)}, "
                   f"{counts['improvement']} improvement"
                   f"{'s' * (counts['improvement'] != 1)}, {counts['unchanged']} unchanged, "
                   f"{counts['incomparable']} incomparable")
    else:
        out.append(f"- {md_escape(previous['reason'])}")
    for note in [*previous["notes"], *data["comparison_notes"], *data["notes"]]:
        out.append(f"- note: {md_escape(note)}")
    out += ["", f"### Regressions ({len(data['regressions'])})", ""]
    if data["regressions"]:
        out += ["| job | previous ms | tonight ms | change | phone |", "|---|---|---|---|---|"]
        for row in data["regressions"]:
            out.append("| " + " | ".join(md_escape(v) for v in (
                text.job_label(row), text.number(row["previous_median_ms"]),
                text.number(row["median_ms"]), text.change(row), row["phone"] or "—")) + " |")
    else:
        out.append("None." if previous["run_id"] else "Not compared: "
                   + md_escape(previous["reason"]))
    problems = [r for r in data["rows"] if r["status"] != "ok"]
    out += ["", f"### Failed, skipped and unrun jobs ({len(problems)})", ""]
    if problems:
        out += ["| job | status | reason | phone | attempts |", "|---|---|---|---|---|"]
        for row in problems:
            out.append("| " + " | ".join(md_escape(v) for v in (
                text.job_label(row), row["status"], text.problem(row), row["phone"] or "—",
                text.attempts(row))) + " |")
    else:
        out.append("None.")
    out += ["", f"### Quarantined phones ({len(data['quarantines'])})", ""]
    if data["quarantines"]:
        out += ["| phone | from (UTC) | until | reason |", "|---|---|---|---|"]
        for q in data["quarantines"]:
            out.append("| " + " | ".join(md_escape(v) for v in (
                q["phone"], clock(q["from"], True),
                clock(q["until"], True) if q["until"] is not None else "end of night",
                q["reason"] or "no reason recorded")) + " |")
    else:
        out.append("None.")
    out.append("")
    return "\n".join(out)
