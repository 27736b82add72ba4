"""The comparison as HTML: a self-contained page (``npubench compare --html``) and the
"Against the baseline" section of a run's report. Jinja2 autoescapes every value."""

from __future__ import annotations

from typing import Any

from npubench.reports.compare import view

CSS = """
table.cmp { border-collapse: collapse; margin: .4em 0 1em; }
table.cmp th, table.cmp td { border: 1px solid #d0d7de; padding: .3em .55em; text-align: left;
  vertical-align: top; }
table.cmp thead th { background: #f6f8fa; }
table.cmp ul.figs { margin: 0; padding-left: 1.1em; }
table.cmp li.info { color: #57606a; }
table.cmp li.slower { color: #cf222e; font-weight: 600; }
table.cmp li.faster { color: #1a7f37; font-weight: 600; }
tr.v-slower td.verdict { background: #ffebe9; color: #cf222e; font-weight: 700; }
tr.v-faster td.verdict { background: #dafbe1; color: #1a7f37; font-weight: 700; }
tr.v-incomparable td.verdict { background: #fff8c5; color: #9a6700; }
"""


def section(data: dict[str, Any]) -> dict[str, Any]:
    """What ``compare_section.html.j2`` shows, from ``Comparison.to_dict()``."""
    cells = []
    for cell in data["cells"]:
        figures = []
        for f in view.shown_figures(cell, everything=True):
            cls = f.get("verdict") if f.get("interval") else "info"
            figures.append({"text": view.figure_text(f), "cls": cls})
        cells.append({"verdict": cell["verdict"], "label": cell["label"],
                      "simulated": cell.get("simulated"), "figures": figures,
                      "why": view.why(data, cell)})
    return {
        "headline": view.headline(data), "title": f"{data['base']['run_id']} → "
        f"{data['new']['run_id']}", "base": view.run_label(data["base"]),
        "new": view.run_label(data["new"]), "notes": data.get("notes", []),
        "common_changes": [view.change_text(c) for c in data.get("environment_changes", [])],
        "cells": cells, "threshold": f"{data['threshold'] * 100:g}%",
    }


def render_compare_html(data: dict[str, Any]) -> str:
    """``Comparison.to_dict()`` as one self-contained HTML page."""
    from markupsafe import Markup

    from npubench.reports.html import template

    return template("compare.html.j2").render(cmp=section(data), cmp_css=Markup(CSS))
