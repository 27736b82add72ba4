"""Results -> pandas -> figures -> a self-contained HTML report; exports.

Kept import-light: pandas, matplotlib and jinja2 are imported inside the functions that use them.

* ``reports.html.write_report(run_dir, out=None)``: the HTML report of a run folder.
* ``reports.pytest_benchmark.write_pytest_benchmark_json(run_dir, out)``: pytest-benchmark JSON.
* ``reports.frame``: records -> DataFrame (pure); ``reports.figures``: SVG figures;
  ``reports.context``: what the report shows; ``reports.llm``: its language-model section;
  ``reports.cells``: number formatting.
"""
