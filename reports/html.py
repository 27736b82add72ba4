"""The self-contained HTML report of one run folder.

One file, readable offline: figures are inline SVG, CSS and the few lines of table-sorting
JavaScript are inline, nothing is loaded from the network. Jinja2 autoescapes every value; the
only markup let through unescaped is the SVG that ``reports.figures`` produced, whose text
matplotlib XML-escapes.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from npubench.results import RESULTS_FILE

REPORT_FILE = "report.html"
TEMPLATES = Path(__file__).parent / "templates"


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the report of the run in ``run_dir`` (default ``run_dir/report.html``); returns
    its path. Built from the run's files only, so it works on an interrupted run too."""
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / REPORT_FILE
    from npubench.results import write_text_atomic

    return write_text_atomic(out, render_report(run_dir))


def render_report(run_dir: Path) -> str:
    """The report of the run in ``run_dir`` as an HTML string."""
    from markupsafe import Markup

    from npubench.reports.context import build_context

    context = build_context(Path(run_dir))
    llm_figures = context["llm"]["figures"] if context["llm"] else []
    for figure in [*context["figures"], *llm_figures]:
        # Trusted: produced by reports.figures, text XML-escaped by matplotlib.
        figure["svg"] = Markup(figure["svg"])
    context["results_file"] = RESULTS_FILE
    context.update(_baseline_context(Path(run_dir)))
    script, script_hash = _script()
    # Our own static code; the Content-Security-Policy allows this one script by its hash,
    # so markup that slipped into the page could not run any other.
    context["script"] = Markup(script)
    context["script_hash"] = script_hash
    return template("report.html.j2").render(**context)


def _baseline_context(run_dir: Path) -> dict[str, Any]:
    """The "Against the baseline" section (``npubench run --baseline``), when the run has
    one: ``cmp`` for ``compare_section.html.j2`` and its CSS."""
    from markupsafe import Markup

    from npubench.reports.compare.files import read_baseline
    from npubench.reports.compare.html import CSS, section

    data = read_baseline(run_dir)
    return {"cmp": section(data) if data else None, "cmp_css": Markup(CSS if data else "")}


@lru_cache(maxsize=1)
def _script() -> tuple[str, str]:
    script = (TEMPLATES / "sortable.js").read_text(encoding="utf-8")
    if "</" in script:
        raise ValueError("sortable.js must not contain '</' (it is inlined in a <script>)")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    return script, f"sha256-{digest}"


@lru_cache(maxsize=1)
def environment() -> Any:
    """The reports' one Jinja2 environment over ``reports/templates``: every value
    autoescaped, an undefined name an error."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template(name: str) -> Any:
    """A template of ``reports/templates`` in ``environment()`` (Jinja2 caches it)."""
    return environment().get_template(name)
