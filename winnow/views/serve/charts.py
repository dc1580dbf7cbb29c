"""Charts of the web app: Vega-Lite specs built with altair, drawn in the page by vega-embed.

The library is the report's (winnow.views.report): Vega-Lite through altair, whose JavaScript
(vega, vega-lite, vega-embed) is the report's own offline bundle (`winnow.views.report.vega_script`,
from vl-convert-python), served by the app itself at /static/vega.js, so no page asks anything
of another host.

An automatic chart for a query's result (`auto_chart`), decided by its numeric columns
(integers, floats, decimals; not booleans):
- one numeric column beside a label column (text, a date or time, a boolean), at most BAR_ROWS rows: bars, label against value
  (a GROUP BY's result);
- one numeric column otherwise: a histogram of BINS equal bins between its minimum and maximum
  finite values, counted by DuckDB over the whole result (the statement runs again when the
  page shows only its first rows);
- two numeric columns: a scatter of the rows shown, or of a reproducible sample of SAMPLE rows
  of the whole result when the page shows only its first rows;
- none, or more than two: no chart (nor for a result whose column names repeat).
Fields are renamed (x, y, label) in the spec and the column names become axis titles, so a
name holding '.', ':' or '[' (which Vega-Lite reads as paths and types) needs no escaping.
"""

from __future__ import annotations

import altair as alt
import duckdb
import pyarrow as pa

BINS = 30
BAR_ROWS = 100
SAMPLE = 2000
WIDTH = 560
HEIGHT = 240


def is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def is_label(t: pa.DataType) -> bool:
    """Whether a column can name a bar: text, a date or time, a boolean."""
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_dictionary(t) or pa.types.is_temporal(t) and not pa.types.is_interval(t)
            or pa.types.is_boolean(t))


def quoted(name: str) -> str:
    """A column name as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def auto_chart(con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, shown: pa.Table,
               truncated: bool) -> dict | None:
    """The Vega-Lite spec for a result (see the module), or None. `relation`: the statement
    on `con`; `shown`: its first rows; `truncated`: whether it has more."""
    if len(set(shown.column_names)) != shown.num_columns:  # `SELECT 1 AS a, 2 AS a`: no column to name
        return None
    numeric = [f.name for f in shown.schema if is_number(f.type)]
    labels = [f.name for f in shown.schema if is_label(f.type)]
    if len(numeric) == 1 and labels and not truncated and shown.num_rows <= BAR_ROWS:
        return bars(shown, labels[0], numeric[0])
    whole = relation if truncated else con.from_arrow(shown)
    if len(numeric) == 1:
        return histogram_chart(histogram(whole, numeric[0]), numeric[0],
                               "the whole result" if truncated else "the rows shown")
    if len(numeric) == 2:
        x, y = numeric
        if truncated:
            points = whole.query("_result", f"SELECT {quoted(x)} AS x, {quoted(y)} AS y FROM _result "
                                            f"USING SAMPLE reservoir({SAMPLE} ROWS) REPEATABLE (0)").to_arrow_table()
            note = f"a sample of {points.num_rows:,} rows of the whole result"
        else:
            points = shown.select([x, y]).rename_columns(["x", "y"])
            note = "the rows shown"
        return scatter(points, x, y, note)
    return None


def histogram(relation: duckdb.DuckDBPyRelation, column: str, bins: int = BINS) -> list[tuple[float, float, int]]:
    """(low, high, count) of `bins` equal bins between the column's least and greatest finite
    values, counted in one DuckDB query (NULL and NaN left out); [] when it has none."""
    value = f"CAST({quoted(column)} AS DOUBLE)"
    rows = relation.query("_result", f"""
        WITH v AS (SELECT {value} AS v FROM _result WHERE isfinite({value})),
             r AS (SELECT min(v) AS lo, max(v) AS hi FROM v)
        SELECT CASE WHEN hi = lo THEN 0 ELSE least(CAST(floor((v - lo) / (hi - lo) * {bins}) AS INTEGER), {bins - 1})
               END AS bin, count(*) AS n, any_value(lo), any_value(hi)
        FROM v, r GROUP BY bin ORDER BY bin""").fetchall()
    if not rows:
        return []
    lo, hi = rows[0][2], rows[0][3]
    counts = dict((b, n) for b, n, _, _ in rows)
    if hi == lo:
        return [(lo, hi, counts[0])]
    width = (hi - lo) / bins
    return [(lo + i * width, hi if i == bins - 1 else lo + (i + 1) * width, counts.get(i, 0)) for i in range(bins)]


def histogram_chart(bins: list[tuple[float, float, int]], title: str, note: str = "") -> dict | None:
    """Bars over bins (low, high, count), one bar per bin (empty ones too); None without bins."""
    if not bins:
        return None
    data = alt.Data(values=[{"low": lo, "high": hi, "n": n} for lo, hi, n in bins])
    chart = alt.Chart(data, width=WIDTH, height=HEIGHT, title=_title(f"histogram of {title}", note)).mark_bar()
    return chart.encode(
        x=alt.X("low:Q", bin="binned", title=title),
        x2="high:Q",
        y=alt.Y("n:Q", title="rows", axis=alt.Axis(tickMinStep=1)),
        tooltip=[alt.Tooltip("low:Q", title="from"), alt.Tooltip("high:Q", title="to"), alt.Tooltip("n:Q", title="rows")],
    ).to_dict()


def bars(shown: pa.Table, label: str, value: str) -> dict:
    """Bars of `value` per `label` (cast to text), in the result's order."""
    table = pa.table({"label": shown[label].cast(pa.string()), "y": shown[value].cast(pa.float64())})
    chart = alt.Chart(alt.Data(values=table.to_pylist()), width=WIDTH, height=HEIGHT,
                      title=_title(f"{value} by {label}", "the rows shown")).mark_bar()
    return chart.encode(
        x=alt.X("label:N", sort=None, title=label),
        y=alt.Y("y:Q", title=value),
        tooltip=[alt.Tooltip("label:N", title=label), alt.Tooltip("y:Q", title=value)],
    ).to_dict()


def scatter(points: pa.Table, x: str, y: str, note: str) -> dict:
    """Points (x, y) of a table with columns x and y."""
    table = pa.table({"x": points["x"].cast(pa.float64()), "y": points["y"].cast(pa.float64())})
    chart = alt.Chart(alt.Data(values=table.to_pylist()), width=WIDTH, height=HEIGHT,
                      title=_title(f"{y} against {x}", note)).mark_circle(size=18, opacity=0.6)
    return chart.encode(
        x=alt.X("x:Q", title=x, scale=alt.Scale(zero=False)),
        y=alt.Y("y:Q", title=y, scale=alt.Scale(zero=False)),
    ).to_dict()


def _title(text: str, note: str) -> alt.TitleParams:
    return alt.TitleParams(text, subtitle=note or alt.Undefined, anchor="start")

