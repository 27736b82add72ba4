"""The comparison as a rich table for the terminal: regressions first, then faster, same,
incomparable. Every text from a record goes through ``rich.markup.escape``."""

from __future__ import annotations

from typing import Any

from npubench.reports.compare import view

STYLES = {"slower": "bold red", "faster": "bold green", "same": "", "incomparable": "yellow"}


def print_comparison(console, data: dict[str, Any]) -> None:
    """Print ``Comparison.to_dict()`` on a ``rich.console.Console``."""
    from rich.markup import escape
    from rich.table import Table

    for note in data.get("notes", []):
        console.print(f"[yellow]note[/]: {escape(note)}")
    console.print(f"BASE: {escape(view.run_label(data['base']))}")
    console.print(f"NEW:  {escape(view.run_label(data['new']))}")
    if data.get("environment_changes"):
        console.print("[bold]environment changed for every cell[/] (possible causes):")
        for change in data["environment_changes"]:
            console.print(f"  {escape(view.change_text(change))}")
    table = Table("verdict", "cell", "latency median", "latency p90", "other figures",
                  "why / possible causes", show_lines=True)
    for cell in data["cells"]:
        style = STYLES.get(cell["verdict"], "")
        verdict = escape(cell["verdict"])
        table.add_row(
            f"[{style}]{verdict}[/]" if style else verdict,
            escape(cell["label"]),
            escape(view.latency(cell, "latency_median")),
            escape(view.latency(cell, "latency_p90")),
            escape("\n".join(view.figure_text(f) for f in view.shown_figures(cell))),
            escape("\n".join(view.why(data, cell))),
        )
    console.print(table)
    counts = data["counts"]
    style = "bold red" if data["regressed"] else "bold green"
    console.print(f"[{style}]{escape(view.headline(data))}[/]")
    if counts.get("slower"):
        console.print("[red]regression[/]: a cell is slower when the whole 95% interval of a "
                      "figure's ratio NEW/BASE is beyond the threshold")
