"""The night as JUnit XML (``xml.etree``, which escapes every text and attribute): one test
suite per device class, one test case per job. A failed job and a regression are a
``<failure>``; a skipped or never-run job is ``<skipped>``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from npubench.reports.farm import text


def render_junit(data: dict[str, Any]) -> str:
    """``night_summary`` data as a JUnit XML document (a ``<testsuites>`` root)."""
    night = data["night"]
    root = ET.Element("testsuites", name=f"npubench farm {data['farm'].get('name') or ''} "
                                         f"{night['run_id']}".replace("  ", " "))
    by_class: dict[str, list[dict[str, Any]]] = {}
    for row in data["rows"]:
        by_class.setdefault(row["class"], []).append(row)
    for name in sorted(by_class):
        rows = by_class[name]
        failures = sum(1 for r in rows if r["status"] == "failed" or r["verdict"] == "regression")
        skipped = sum(1 for r in rows if r["status"] in ("skipped", "not run"))
        suite = ET.SubElement(root, "testsuite", {
            "name": f"npubench farm · {name}", "tests": str(len(rows)),
            "failures": str(failures), "errors": "0", "skipped": str(skipped),
            "timestamp": str(night.get("started_at") or ""),
        })
        properties = ET.SubElement(suite, "properties")
        for key, value in (("night", night["run_id"]),
                           ("previous", data["previous"]["run_id"]
                            or data["previous"]["reason"]),
                           ("simulated", text.banner(data) or "no")):
            ET.SubElement(properties, "property", name=key, value=str(value))
        for row in rows:
            _case(suite, name, row)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _case(suite: ET.Element, name: str, row: dict[str, Any]) -> None:
    case = ET.SubElement(suite, "testcase", {"classname": f"npubench.farm.{name}",
                                             "name": f"{row['workload']} · {row['backend']}"})
    details = [f"job {row['key']}", f"phone {row['phone'] or '—'}",
               f"attempts {text.attempts(row)}",
               f"median {text.number(row['median_ms'])} ms, previous night "
               f"{text.number(row['previous_median_ms'])} ms, change {text.change(row)}",
               f"verdict {text.verdict(row)}"]
    if row["log_path"]:
        details.append(f"log {row['log_path']}")
    if row["status"] == "failed":
        ET.SubElement(case, "failure", type=row["error_kind"] or "failed",
                      message=text.problem(row)).text = "\n".join(details)
    elif row["status"] in ("skipped", "not run"):
        ET.SubElement(case, "skipped", message=f"{row['status']}: {text.problem(row)}")
    if row["verdict"] == "regression":
        ET.SubElement(case, "failure", type="regression",
                      message=f"regression: {text.change(row)}").text = "\n".join(details)
    if row["status"] != "failed" and row["verdict"] != "regression":
        ET.SubElement(case, "system-out").text = "\n".join(details)
