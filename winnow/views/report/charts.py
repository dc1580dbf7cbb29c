"""The report's charts: Vega-Lite specifications built with altair, as dicts for vega-embed.

Why Vega-Lite through altair: a chart is a small declarative JSON specification that
carries its own data, so the page holds numbers (already aggregated: aggregates.py) and one
renderer; altair is maintained, writes valid Vega-Lite from Python, and vl-convert-python
bundles Vega, Vega-Lite and vega-embed into one script with no dependency to fetch
(`page.vega_script`), which is how a page stays offline. The web app (`winnow serve`) draws
its charts with the same library and script.

Every function returns a spec dict (altair's `to_dict(validate=False)`: validating a spec
costs ~13 ms, x100 charts; the browser tests render every one) with its data set in the dict.
Channels are altair objects, never "field:type" strings: altair turns each string into an
object through `from_dict`, which rebuilds a table of its schema classes every time (~10 ms). Values are plain numbers
and strings, no NaN (JSON has none); the marks each chart draws are said where tests count
them.
"""

from __future__ import annotations

import math

import altair as alt

from winnow.views.report.aggregates import Column, Run, SelectionSummary, Source

WIDTH, HEIGHT = 300, 140


def _spec(chart, rows: list[dict], width: int = WIDTH, height: int = HEIGHT) -> dict:
    """The chart's spec with `rows` as its inline data, set in the dict: altair validates
    data given to `alt.Data` row by row (~60 ms per chart), which would be most of the page's time."""
    spec = chart.properties(width=width, height=height).to_dict(validate=False)
    spec.pop("datasets", None)  # altair's placeholder for layers without data ({"name": "empty"})
    for layer in spec.get("layer", []):
        layer.pop("data", None)  # the layers share the top level's
    spec["data"] = {"values": rows}
    return spec


def _bounds(col: Column) -> list[tuple[float, float]]:
    """Each bin's (from, to); a constant column's one bin is drawn one unit wide around its value."""
    if col.width == 0:
        return [(col.lo - 0.5, col.lo + 0.5)]
    edges = col.edges()
    return list(zip(edges[:-1], edges[1:]))


def histogram(col: Column) -> dict:
    """Documents per bin over the whole lake: one bar per bin (col.bins bars, empty ones too)."""
    rows = [{"from": a, "to": b, "documents": n} for (a, b), n in zip(_bounds(col), col.overall)]
    tail = " (tails beyond p1 and p99 in the edge bins)" if col.clamped else ""
    return _spec(alt.Chart(title=f"{col.name}: documents per bin{tail}").mark_bar().encode(
        x=alt.X("from:Q", bin="binned", title=col.name),
        x2=alt.X2("to:Q"),
        y=alt.Y("documents:Q", title="documents"),
        tooltip=[alt.Tooltip("from:Q", format=".4g"), alt.Tooltip("to:Q", format=".4g"), alt.Tooltip("documents:Q")],
    ), rows)


def shares(col: Column, series: dict[str, list[int]], title: str, legend: str) -> dict:
    """The share of each series' known documents per bin, one step line per series (sources,
    or the lake and selections): comparable shapes whatever the series' sizes."""
    rows = []
    for name, counts in series.items():
        total = sum(counts)
        if not total:
            continue
        rows += [{legend: name, "from": a, "share": n / total} for (a, _), n in zip(_bounds(col), counts)]
    return _spec(alt.Chart(title=title).mark_line(interpolate="step-after").encode(
        x=alt.X("from:Q", title=col.name),
        y=alt.Y("share:Q", title="share of documents", axis=alt.Axis(format="%")),
        color=alt.Color(f"{legend}:N", title=legend),
        tooltip=[alt.Tooltip(f"{legend}:N"), alt.Tooltip("from:Q", format=".4g"), alt.Tooltip("share:Q", format=".2%")],
    ), rows)


def heatmap(names: list[str], matrix: list[list[float | None]]) -> dict:
    """Pearson correlation of every pair of columns: one cell per pair (len(names)**2 cells)."""
    rows = [{"a": a, "b": b, "correlation": matrix[i][j]} for i, a in enumerate(names) for j, b in enumerate(names)]
    size = max(WIDTH, 18 * len(names))
    return _spec(alt.Chart(title="correlation (Pearson) between score columns").mark_rect().encode(
        x=alt.X("a:N", sort=names, title=None),
        y=alt.Y("b:N", sort=names, title=None),
        color=alt.Color("correlation:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue", reverse=True)),
        tooltip=[alt.Tooltip("a:N"), alt.Tooltip("b:N"), alt.Tooltip("correlation:Q", format=".3f")],
    ), rows, size, size)


def sources(items: list[Source]) -> dict:
    """Documents per source: one bar per source."""
    rows = [{"source": s.name, "documents": s.documents} for s in items]
    return _spec(alt.Chart(title="documents per source").mark_bar().encode(
        y=alt.Y("source:N", sort="-x", title=None),
        x=alt.X("documents:Q"),
        tooltip=[alt.Tooltip("source:N"), alt.Tooltip("documents:Q")],
    ), rows)


def selection_sources(lake: list[Source], summaries: list[SelectionSummary]) -> dict:
    """Share of documents by source, the lake's and each selection's: one stacked bar each."""
    rows = [{"of": "lake", "source": s.name, "documents": s.documents} for s in lake]
    for sel in summaries:
        rows += [{"of": sel.name, "source": s, "documents": d} for s, (d, _) in sel.by_source.items()]
    order = ["lake", *[s.name for s in summaries]]
    return _spec(alt.Chart(title="share of documents by source").mark_bar().encode(
        y=alt.Y("of:N", sort=order, title=None),
        x=alt.X("documents:Q", stack="normalize", title="share of documents", axis=alt.Axis(format="%")),
        color=alt.Color("source:N"),
        tooltip=[alt.Tooltip("of:N"), alt.Tooltip("source:N"), alt.Tooltip("documents:Q")],
    ), rows)


def overlap(summaries: list[SelectionSummary], matrix: list[list[int]]) -> dict:
    """Documents in both selections, as a share of the row selection's: one cell per pair."""
    names = [s.name for s in summaries]
    rows = [{"selection": a.name, "with": names[j], "both": matrix[i][j],
             "share": matrix[i][j] / a.documents if a.documents else 0.0}
            for i, a in enumerate(summaries) for j in range(len(names))]
    base = alt.Chart()
    cells = base.mark_rect().encode(
        x=alt.X("with:N", sort=names, title=None), y=alt.Y("selection:N", sort=names, title=None),
        color=alt.Color("share:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"), legend=alt.Legend(format="%")),
        tooltip=[alt.Tooltip("selection:N"), alt.Tooltip("with:N"), alt.Tooltip("both:Q"),
                 alt.Tooltip("share:Q", format=".1%")])
    text = base.mark_text().encode(x=alt.X("with:N", sort=names), y=alt.Y("selection:N", sort=names),
                                   text=alt.Text("both:Q", format=","))
    return _spec(alt.layer(cells, text, title="overlap: documents in both (share of the row's)"), rows)


def runs(items: list[Run]) -> dict:
    """Loss against tokens trained, per run: a line per run and curve (train, validation)."""
    rows = []
    for r in items:
        label = f"{r.selection} · {r.flavor} · {r.run_id[:8]}"
        for curve, points in (("train", r.train_loss), ("validation", r.validation_loss)):
            rows += [{"run": label, "curve": curve, "tokens": p["tokens"], "loss": p["loss"]} for p in points
                     if p.get("loss") is not None and math.isfinite(p["loss"])]
    return _spec(alt.Chart(title="loss of the recorded proxy runs").mark_line(point=True).encode(
        x=alt.X("tokens:Q", title="tokens trained"),
        y=alt.Y("loss:Q", scale=alt.Scale(zero=False)),
        color=alt.Color("run:N"),
        strokeDash=alt.StrokeDash("curve:N"),
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("curve:N"), alt.Tooltip("tokens:Q"),
                 alt.Tooltip("loss:Q", format=".4f")],
    ), rows, 2 * WIDTH, 2 * HEIGHT)
