"""The comparison as JUnit XML (``xml.etree``, which escapes every text and attribute):
one test case per cell, a regression is a ``<failure>``, an incomparable cell ``<skipped>``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from npubench.reports.compare import view


def render_junit(data: dict[str, Any]) -> str:
    """``Comparison.to_dict()`` as a JUnit XML document (a ``<testsuites>`` root)."""
    counts = data["counts"]
    cells = data["cells"]
    root = ET.Element("testsuites", name="npubench compare")
    suite = ET.SubElement(root, "testsuite", {
        "name": f"npubench compare {data['base']['run_id']} -> {data['new']['run_id']}",
        "tests": str(len(cells)), "failures": str(counts.get("slower", 0)),
        "errors": "0", "skipped": str(counts.get("incomparable", 0)),
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("base", view.run_label(data["base"])),
                        ("new", view.run_label(data["new"])),
                        ("threshold", f"{data['threshold'] * 100:g}%"),
                        *((f"note{i}", n) for i, n in enumerate(data.get("notes", []), 1)),
                        *((f"environment.{c['name']}", f"{c['base']} -> {c['new']}")
                          for c in data.get("environment_changes", []))):
        ET.SubElement(properties, "property", name=name, value=value)
    for cell in cells:
        key = cell["cell"]
        device = key["device_model"] + (f" ({key['soc']})" if key.get("soc") else "")
        case = ET.SubElement(suite, "testcase", {
            "classname": f"npubench.{device}",
            "name": f"{key['workload']} · {key['backend']}"
                    + ("" if key["options"] in ("", "{}") else f" {key['options']}")
                    + (f" [{key['unit']}]" if key.get("unit") else ""),
        })
        details = "\n".join([view.figure_text(f) for f in view.shown_figures(
            cell, everything=True)] + view.why(data, cell))
        if cell["verdict"] == "slower":
            slower = [view.figure_text(f) for f in cell["figures"]
                      if f.get("interval") and f.get("verdict") == "slower"]
            failure = ET.SubElement(case, "failure", type="regression",
                                    message="slower: " + "; ".join(slower))
            failure.text = details
        elif cell["verdict"] == "incomparable":
            ET.SubElement(case, "skipped", message=f"incomparable: {cell.get('reason') or ''}")
        if details and cell["verdict"] != "slower":
            ET.SubElement(case, "system-out").text = details
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
