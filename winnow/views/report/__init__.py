"""`winnow report`: one self-contained HTML file of the lake, its scores, selections and runs.

- `aggregates`: the numbers, each column read once and counted by numpy (`gather` -> `Report`);
- `charts`: their Vega-Lite charts, built with altair;
- `page`: the HTML page, offline (every script and style inlined, no network request):
  `render(lake) -> str` (shared with `winnow serve`), `html(report)`, `write(lake, out)`.

    >>> from winnow.views.report import render, write
    >>> write(lake, "report.html", selections=["top", "random"], columns=["gopher_*"])
"""

from winnow.views.report.aggregates import Report, gather, score_columns
from winnow.views.report.page import ReportResult, html, render, vega_script, write

__all__ = ["Report", "ReportResult", "gather", "html", "render", "score_columns", "vega_script", "write"]
