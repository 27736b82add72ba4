"""``npubench compare``: two runs cell by cell, each figure's ratio NEW/BASE with a 95%
bootstrap interval, and a verdict per cell (``stats`` holds the statistics, ``match`` the
pairing of cells, ``comparison`` the result, and one module per output format)."""

from npubench.reports.compare.comparison import (
    DEFAULT_THRESHOLD,
    CellResult,
    Comparison,
    FigureResult,
    compare_runs,
)

__all__ = ["DEFAULT_THRESHOLD", "CellResult", "Comparison", "FigureResult", "compare_runs"]
