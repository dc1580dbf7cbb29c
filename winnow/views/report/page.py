"""The report as one self-contained HTML page: `render(lake)` returns it, `write(lake, out)`
writes it.

Offline: the page inlines its style (report.css), its charts' specifications and data (a
JSON script element), Vega + Vega-Lite + vega-embed (`vega_script`: vl-convert-python's
bundle, no dependency left to fetch; the rule of altair's own offline template,
altair/utils/html.py INLINE_HTML_TEMPLATE: the bundle in a plain <script>, then vegaEmbed per
chart) and the few lines that draw them (report.js). Its Content-Security-Policy allows no
network request at all (default-src 'none'), so a mistake cannot make one either.

Documents are web pages: every text the lake holds (snippets, ids, sources, column and
selection names, ingest inputs) reaches the page through Jinja2's autoescaping, and the
JSON of the charts has `<`, `>` and `&` escaped so that no `</script>` can end its element.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from winnow.lake import Lake, atomic, display
from winnow.lake.errors import UsageError, check
from winnow.lake.outputs import check_out as check_output
from winnow.lake.version import WINNOW_VERSION

from winnow.sql.sandbox import inside_lake
from winnow.views.report import charts
from winnow.views.report.aggregates import QUANTILES, Report, gather


@display.shown
@dataclass
class ReportResult:
    """What `winnow report` wrote."""

    path: Path
    bytes: int
    columns: int  # score columns shown
    selections: int  # selections compared
    seconds: float

    @property
    def size(self) -> str:
        """The file's size as the page shows sizes (kB, MB, ...)."""
        return size(self.bytes)


@functools.lru_cache(maxsize=1)
def vega_script() -> str:
    """Vega, Vega-Lite (altair's version) and vega-embed in one script that sets
    window.vegaEmbed: vl-convert-python's bundle (~0.9 MB). Building it takes ~2 s, so it is
    kept per process and in a file of the user's cache folder ($XDG_CACHE_HOME or ~/.cache,
    winnow/), named by the versions that decide its bytes; a cache that cannot be written is
    passed over."""
    from importlib.metadata import version

    import vl_convert
    from altair import SCHEMA_VERSION

    vl = "_".join(SCHEMA_VERSION.split(".")[:2])
    cache = (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "winnow"
             / f"vega-embed-vl-convert-{version('vl-convert-python')}-vega-lite-{vl}.js")
    try:
        return cache.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    text = vl_convert.javascript_bundle(vl_version=vl)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, cache)  # whole or not at all: readers never see half a bundle
    except OSError:
        pass
    return text


def _text(name: str) -> str:
    return resources.files("winnow.views.report").joinpath(name).read_text()


def _json(value) -> Markup:
    """`value` as JSON that is safe inside a <script> element (no NaN: JSON has none)."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"), default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def number(x) -> str:
    """A number for people: integers with thousands separators, others with 4 significant
    digits; "–" for none."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:,.4g}" if abs(x) < 1e15 else f"{x:.4g}"


def share(part, whole) -> str:
    return "–" if not whole else f"{part / whole:.2%}"


def size(n: int | None) -> str:
    if n is None:
        return "–"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)


def raw(x) -> str:
    """The exact value, for data-value attributes (tests read them back)."""
    return "" if x is None else repr(x)


_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV.filters.update(number=number, size=size, raw=raw)
_ENV.globals.update(share=share)


class _Charts:
    """The page's charts: id -> spec, and what the tests count."""

    def __init__(self):
        self.specs: dict[str, dict] = {}

    def add(self, kind: str, spec: dict, marks: int | None = None) -> dict:
        chart_id = f"chart-{len(self.specs)}"
        self.specs[chart_id] = spec
        return {"id": chart_id, "kind": kind, "marks": marks}


def _drawn(series: dict[str, list[int]]) -> int:
    """Lines a `charts.shares` chart draws: one per series with a known value."""
    return sum(1 for counts in series.values() if sum(counts))


def html(report: Report) -> str:
    """The HTML page of a gathered report."""
    made = _Charts()
    lake = report.lake
    names = [c.name for c in report.columns]
    columns = []
    for i, c in enumerate(report.columns):
        shown = {"column": c, "anchor": f"column-{i}", "charts": []}
        if c.bins:
            shown["charts"].append(made.add("histogram", charts.histogram(c), c.bins))
            shown["charts"].append(made.add("by-source", charts.shares(
                c, c.counts, f"{c.name}: share of each source's documents per bin", "source"), _drawn(c.counts)))
            if report.selections:
                series = {"lake": c.overall, **c.selected}
                shown["charts"].append(made.add("selected", charts.shares(
                    c, series, f"{c.name}: selected against the whole lake", "documents of"), _drawn(series)))
        columns.append(shown)
    context = {
        "report": report, "lake": lake, "columns": columns, "names": names,
        "quantiles": QUANTILES,
        "sources_chart": made.add("sources", charts.sources(lake.sources), len(lake.sources)),
        "heatmap": made.add("heatmap", charts.heatmap(names, report.correlation), len(names) ** 2)
        if len(names) >= 2 else None,
        "selection_chart": made.add("selection-sources", charts.selection_sources(lake.sources, report.selections))
        if report.selections else None,
        "overlap_chart": made.add("overlap", charts.overlap(report.selections, report.overlap),
                                  len(report.selections) ** 2) if len(report.selections) >= 2 else None,
        "runs_chart": made.add("runs", charts.runs(report.runs), len(report.runs)) if report.runs else None,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "winnow_version": WINNOW_VERSION,
        "style": Markup(_text("report.css")),
        "vega": Markup(vega_script().replace("</script", "<\\/script")),
        "script": Markup(_text("report.js")),
        "specs": _json(made.specs),
    }
    return _ENV.from_string(_text("page.html")).render(**context)


def render(lake: Lake, *, selections=None, columns=None) -> str:
    """The whole report page of `lake` (see `gather` for `selections` and `columns`): one
    self-contained HTML string. `winnow report` writes it; `winnow serve` shows it live.

        >>> html = render(lake, selections=["top", "random"], columns=["gopher_*", "n_tokens"])
    """
    return html(gather(lake, selections=selections, columns=columns))


def check_out(lake: Lake, out) -> Path:
    """`out` as a path to write the page to: a UsageError for a folder, a missing folder, a
    hard link to a lake file or a path inside the lake."""
    path = Path(os.fspath(out)).expanduser()
    check(str(out).strip() != "", "--out is empty: give the HTML file to write")
    check(not path.is_dir(), f"--out {out} is a folder: give a file name (e.g. {Path(out) / 'report.html'})")
    check_output(out, folder=False, lake=lake)  # its folder exists; not a hard link to a lake file
    check(not inside_lake(path, lake), f"--out {out} is inside the lake {lake.uri}: write the report outside it")
    return path


def write(lake: Lake, out, *, selections=None, columns=None) -> ReportResult:
    """Write the report page of `lake` to the file `out` (checked before anything is
    computed; written whole or not at all) and say what it holds.

        >>> write(lake, "report.html", selections=["top"]).bytes
    """
    path = check_out(lake, out)
    t0 = time.perf_counter()
    report = gather(lake, selections=selections, columns=columns)
    text = html(report)
    try:
        with atomic.file(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise UsageError(f"--out {out}: {e.strerror or e}") from None
    return ReportResult(path, path.stat().st_size, len(report.columns), len(report.selections),
                      time.perf_counter() - t0)
