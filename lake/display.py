"""How winnow's objects show themselves: in Jupyter as a compact HTML summary with small
inline SVG charts (no JavaScript), in a terminal as text.

An object describes itself once, as a `View` (a title, key/value fields, tables, histograms,
bars, code), and this module renders that view both ways: `html(view)` for `_repr_html_`,
`text(view)` for `__str__`. The `shown` class decorator gives a result class the three
methods from its `_view()` (default: its dataclass fields) and a one-line `__repr__` from its
`_summary()`; a `Lake`'s view is `info.lake_view`. It lives in `lake/`, the layer every
package may import, because the classes it serves live in every package; it imports nothing
outside the standard library at import (numpy and pyarrow inside `histogram`).

    >>> print(winnow.info(lake))          # text
    >>> winnow.info(lake)                 # in a notebook: the HTML table
"""

from __future__ import annotations

import dataclasses
import html as _html
import math
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

MAX_ROWS = 20  # rows of a table shown; the rest are counted
TEXT_BAR = 30  # width of a bar in text
SPARKS = "▁▂▃▄▅▆▇█"
STYLE = ("font-family: var(--jp-ui-font-family, sans-serif); font-size: 12px; line-height: 1.35; "
         "max-width: 960px")
ACCENT = "#4c78a8"


@dataclass
class Histogram:
    """Counts per bin; `edges` has one more value than `counts`. Small: a sparkline in a cell."""

    counts: list[int]
    edges: list[float]
    caption: str = ""
    small: bool = False


@dataclass
class Bars:
    """One labelled horizontal bar per value (tokens by source, an overlap)."""

    labels: list[str]
    values: list[float]
    caption: str = ""
    unit: str = ""


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list]  # cells: values, or a small Histogram
    more: int = 0  # rows left out


@dataclass
class Code:
    caption: str
    text: str


@dataclass
class View:
    title: str
    fields: list[tuple[str, Any]] = field(default_factory=list)  # a None value is left out
    parts: list = field(default_factory=list)  # Table | Histogram | Bars | Code, in order


# -- values -------------------------------------------------------------------------------

def number(v) -> str:
    """A value as the views show it: integers with thousands separators, floats to 4
    significant digits (whole numbers from 1,000 on), None as an empty cell."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, PurePath):
        return str(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(number(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}: {number(x)}" for k, x in v.items())
    return str(v)


def size(n: int | None) -> str:
    """Bytes as kB, MB, GB (powers of 1,000)."""
    if n is None:
        return "n/a"
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)


def share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def cut(s: str, width: int) -> str:
    """`s` on one line of at most `width` characters (the rest as …)."""
    s = " ".join(str(s).split())
    return s if len(s) <= width else s[: width - 1] + "…"


def histogram(values, bins: int = 20, caption: str = "", small: bool = False) -> Histogram | None:
    """A Histogram of the finite numbers in `values` (an Arrow array or a sequence); None
    when there are none."""
    import numpy as np
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):  # nulls become NaN, left out below
        values = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return None
    low, high = float(a.min()), float(a.max())
    counts, edges = np.histogram(a, bins=bins if high > low else 1, range=(low, high if high > low else low + 1))
    return Histogram([int(c) for c in counts], [float(e) for e in edges], caption, small)


# -- HTML -----------------------------------------------------------------------------------

def _e(v) -> str:
    return _html.escape(number(v), quote=True)


def svg_histogram(h: Histogram) -> str:
    """Bars of equal width, heights relative to the tallest; each bar's range and count as its
    tooltip; the low and high edge under the axis unless small."""
    width, height = (120, 22) if h.small else (280, 70)
    label = 0 if h.small else 12
    peak = max(h.counts) or 1
    w = width / len(h.counts)
    bars = []
    for i, c in enumerate(h.counts):
        bh = max((height - label - 1) * c / peak, 1.0) if c else 0.0  # a lone document still shows
        bars.append(f'<rect x="{i * w:.2f}" y="{height - label - bh:.2f}" width="{max(w - 1, 0.5):.2f}" '
                    f'height="{bh:.2f}" fill="{ACCENT}"><title>{_e(h.edges[i])} .. {_e(h.edges[i + 1])}: '
                    f'{c:,}</title></rect>')
    axis = "" if h.small else (
        f'<text x="0" y="{height - 1}" font-size="10" fill="#666">{_e(h.edges[0])}</text>'
        f'<text x="{width}" y="{height - 1}" font-size="10" fill="#666" text-anchor="end">{_e(h.edges[-1])}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img" aria-label="histogram">{"".join(bars)}{axis}</svg>')


def svg_bars(b: Bars) -> str:
    """Horizontal bars, one per label, with the value and its share beside it."""
    total = sum(b.values) or 1
    peak = max(b.values, default=0) or 1
    row, label_w, bar_w = 16, 130, 200
    parts = []
    for i, (name, v) in enumerate(zip(b.labels, b.values)):
        y = i * row
        parts.append(f'<text x="{label_w - 6}" y="{y + 11}" font-size="11" text-anchor="end">{_e(cut(name, 20))}</text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{bar_w * v / peak:.2f}" height="{row - 4}" '
                     f'fill="{ACCENT}"><title>{_e(name)}: {_e(v)} {_e(b.unit)}</title></rect>'
                     f'<text x="{label_w + bar_w * v / peak + 4:.2f}" y="{y + 11}" font-size="10" fill="#444">'
                     f'{_e(v)} ({share(v, total)})</text>')
    height = row * len(b.labels)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 110}" height="{height}" '
            f'role="img" aria-label="bars">{"".join(parts)}</svg>')


def _cell_html(v) -> str:
    return svg_histogram(v) if isinstance(v, Histogram) else _e(v)


def _caption(text: str) -> str:
    return f'<div style="font-weight: 600; margin: 8px 0 2px">{_html.escape(text)}</div>' if text else ""


def html(view: View) -> str:
    """The view as one self-contained HTML fragment (inline styles and SVG, no script)."""
    td = 'style="padding: 1px 8px; text-align: left; vertical-align: top"'
    out = [f'<div class="winnow-view" style="{STYLE}">',
           f'<div style="font-weight: 700; font-size: 13px">{_html.escape(view.title)}</div>']
    fields = [(k, v) for k, v in view.fields if v is not None]
    if fields:
        out.append('<table style="border-collapse: collapse; margin: 2px 0">')
        out += [f'<tr><th {td}>{_html.escape(k)}</th><td {td}>{_html.escape(cut(number(v), 400))}</td></tr>'
                for k, v in fields]
        out.append("</table>")
    for part in view.parts:
        if isinstance(part, Table):
            out.append(_caption(part.caption))
            out.append('<table style="border-collapse: collapse">')
            out.append("<tr>" + "".join(f"<th {td}>{_html.escape(h)}</th>" for h in part.header) + "</tr>")
            out += ["<tr>" + "".join(f"<td {td}>{_cell_html(c)}</td>" for c in r) + "</tr>" for r in part.rows]
            out.append("</table>")
            if part.more:
                out.append(f'<div style="color: #666">… {part.more:,} more</div>')
        elif isinstance(part, Histogram):
            out.append(_caption(part.caption) + svg_histogram(part))
        elif isinstance(part, Bars):
            out.append(_caption(part.caption) + svg_bars(part))
        elif isinstance(part, Code):
            out.append(_caption(part.caption) + '<pre style="margin: 2px 0; white-space: pre-wrap; max-height: 12em; '
                       f'overflow: auto">{_html.escape(part.text)}</pre>')
    out.append("</div>")
    return "\n".join(out)


# -- text -----------------------------------------------------------------------------------

def sparkline(h: Histogram) -> str:
    peak = max(h.counts) or 1
    return "".join(SPARKS[min(len(SPARKS) - 1, round((len(SPARKS) - 1) * c / peak))] if c else " " for c in h.counts)


def _cell_text(v) -> str:
    return sparkline(v) if isinstance(v, Histogram) else cut(number(v), 60)


def text(view: View) -> str:
    """The view as lines of plain text: fields aligned, tables in columns, charts as bars."""
    lines = [view.title]
    fields = [(k, v) for k, v in view.fields if v is not None]
    width = max((len(k) for k, _ in fields), default=0)
    lines += [f"  {k:<{width}}  {cut(number(v), 100)}" for k, v in fields]
    for part in view.parts:
        if getattr(part, "caption", ""):
            lines.append(part.caption)
        if isinstance(part, Table):
            cells = [list(part.header)] + [[_cell_text(c) for c in r] for r in part.rows]
            widths = [max(len(r[i]) for r in cells) for i in range(len(part.header))]
            lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
            if part.more:
                lines.append(f"  … {part.more:,} more")
        elif isinstance(part, Histogram):
            peak = max(part.counts) or 1
            lines += [f"  {number(lo):>10} .. {number(hi):<10} {'█' * round(TEXT_BAR * c / peak):<{TEXT_BAR}} {c:,}"
                      for lo, hi, c in zip(part.edges, part.edges[1:], part.counts)]
        elif isinstance(part, Bars):
            peak, total = max(part.values, default=0) or 1, sum(part.values) or 1
            w = max((len(cut(x, 20)) for x in part.labels), default=0)
            lines += [f"  {cut(name, 20):<{w}} {'█' * round(TEXT_BAR * v / peak):<{TEXT_BAR}} {number(v)} "
                      f"({share(v, total)})" for name, v in zip(part.labels, part.values)]
        elif isinstance(part, Code):
            lines += ["  " + line for line in part.text.strip().splitlines()]
    return "\n".join(lines)


# -- the default view of a result class -------------------------------------------------------

def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str, PurePath))


def fields_view(obj, title: str | None = None) -> View:
    """A dataclass's view: scalar fields (and short lists and dicts of them) as fields,
    long text as code, lists of dataclasses or dicts as tables, Arrow tables by their head."""
    view = View(title or type(obj).__name__)
    for f in dataclasses.fields(obj):
        if f.name.startswith("_"):
            continue
        v = getattr(obj, f.name)
        if v is None or (isinstance(v, (str, list, tuple, dict)) and not v):
            continue
        if isinstance(v, str) and ("\n" in v or len(v) > 100):
            view.parts.append(Code(f.name, v))
        elif _scalar(v) or (isinstance(v, (list, tuple)) and all(_scalar(x) for x in v)) or (
                isinstance(v, dict) and all(_scalar(x) for x in v.values())):
            view.fields.append((f.name.replace("_", " "), v))
        elif isinstance(v, (list, tuple)) and v and all(dataclasses.is_dataclass(x) or isinstance(x, dict) for x in v):
            rows = [{g.name: getattr(x, g.name) for g in dataclasses.fields(x)} if dataclasses.is_dataclass(x) else x
                    for x in v]
            header = [k for k, x in rows[0].items() if _scalar(x) or isinstance(x, (list, tuple))]
            view.parts.append(Table(f.name, header, [[r.get(k) for k in header] for r in rows[:MAX_ROWS]],
                                    max(len(rows) - MAX_ROWS, 0)))
        elif hasattr(v, "num_rows") and hasattr(v, "to_pylist"):  # an Arrow table
            view.parts.append(arrow_table(f.name, v))
    return view


def arrow_table(caption: str, table, rows: int = 10, width: int = 80) -> Table:
    """The first `rows` rows of an Arrow table (cells cut to `width` characters)."""
    head = table.slice(0, rows).to_pylist()
    return Table(caption, list(table.column_names), [[cut(number(v), width) for v in r.values()] for r in head],
                 max(table.num_rows - rows, 0))


def default_summary(obj, n: int = 4) -> str:
    """The first `n` scalar fields as NAME=VALUE."""
    shown = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj) if not f.name.startswith("_")][:n]
    return ", ".join(f"{k}={cut(repr(v) if isinstance(v, str) else number(v), 40)}"
                     for k, v in shown if _scalar(v))[:200]


def shown(cls):
    """Give a result class `_repr_html_` (Jupyter), `__str__` (the text view) and a one-line
    `__repr__` (`Class(summary)`), from its `_view()` and `_summary()` when it defines them,
    else from its dataclass fields. Apply it above `@dataclass`."""
    if "_view" not in cls.__dict__:
        cls._view = lambda self: fields_view(self)
    if "_summary" not in cls.__dict__:
        cls._summary = lambda self: default_summary(self)
    cls._repr_html_ = lambda self: html(self._view())
    cls.__str__ = lambda self: text(self._view())
    cls.__repr__ = lambda self: f"{type(self).__name__}({self._summary()})"
    return cls
