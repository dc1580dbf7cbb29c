"""The numbers of `winnow report`, computed by DuckDB aggregates over the lake at one
version, never by a Python loop over rows.

Three scans of docs' score columns (every column in each, one statement each):
1. the statistics of every column: rows, NULL, NaN and infinite counts, mean, deviation,
   bounds and the quantiles QUANTILES (`quantile_disc`: DuckDB's exact quantile, a value
   of the column);
2. a sample of about CORRELATION_ROWS documents (all of them in a smaller lake): those whose
   DuckDB `hash(id)` falls in the first share of its range (the same rows every run of one
   DuckDB release; the macro library's `uniform(id, seed)`, portable across releases, costs
   ~100x more per row here, and a report needs no portable sample). Over it, the
   correlation of every pair of columns (`corr()`, Pearson, over the rows where both are
   known) and the example documents: at each of EXAMPLE_QUANTILES the document at that rank
   in (value, id) order (`quantile_disc` of a struct: its value and id in one aggregate);
3. one GROUP BY: documents, tokens and bytes and each column's histogram (`histogram()` of
   its bin number, bins fixed from scan 1), in groups of source and membership in each
   selection (`id IN selection`). The lake's, the selections' and the overlaps' numbers
   are sums over those groups.
Then the example documents' text and scores are fetched from Lance by id (never through a
DuckDB join that carries text: sql/connection.py says why).

A score is known where it is a finite number (report.sql): NULL, NaN and infinite values
are counted apart and left out of everything else.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from importlib import resources

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake, catalog

from winnow.sql.connection import connect
from winnow.sql.selections import Selection, all_selections, evaluate, get
from winnow.train.weights.labels import match_columns, quote

INGEST_COLUMNS = ("n_chars", "n_bytes", "input_row")  # docs' numeric columns that ingest writes, not scores
TOKENS = "n_tokens"  # the `tokens` scorer's column: the lake's token count
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
EXAMPLE_QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)  # a subset of QUANTILES
BINS = 40
HEAVY_TAIL = 4.0  # bins span [p1, p99] (tails in the edge bins) when max - min > HEAVY_TAIL * (p99 - p1)
CORRELATION_ROWS = 100_000  # the sample of scan 2 (correlations, example documents)
SNIPPET_CHARS = 300
VERSIONS_SHOWN = 12


@dataclass
class Source:
    name: str
    documents: int
    tokens: int | None  # None where docs has no n_tokens
    text_bytes: int


@dataclass
class Example:
    quantile: float
    value: float
    id: str
    source: str = ""
    snippet: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)  # every report column of this document


@dataclass
class Column:
    name: str
    type: str
    scorer: str | None  # "scorer version" from the metrics catalog; None for imported or unknown
    rows: int
    nulls: int
    nans: int
    infinite: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[float, float] = field(default_factory=dict)
    lo: float = 0.0  # the histogram's bins: BINS (1 for a constant) of `width` from `lo`
    width: float = 0.0
    bins: int = 0
    clamped: bool = False  # the tails beyond p1 and p99 are counted in the edge bins
    counts: dict[str, list[int]] = field(default_factory=dict)  # source -> documents per bin
    selected: dict[str, list[int]] = field(default_factory=dict)  # selection -> its documents per bin
    examples: list[Example] = field(default_factory=list)

    @property
    def known(self) -> int:
        """Documents whose value is a finite number."""
        return self.rows - self.nulls - self.nans - self.infinite

    @property
    def overall(self) -> list[int]:
        """Documents per bin, all sources together."""
        return [sum(c) for c in zip(*self.counts.values())] if self.counts else [0] * self.bins

    def edges(self) -> list[float]:
        """The bins' bounds: bins + 1 numbers."""
        return [self.lo + i * self.width for i in range(self.bins + 1)]


@dataclass
class SelectionSummary:
    name: str
    lake_version: int
    documents: int
    tokens: int | None
    by_source: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # source -> (documents, tokens)


@dataclass
class LakeSummary:
    uri: str
    version: int
    versions: int
    recent_versions: list[dict]  # version, timestamp, rows, tags: the latest VERSIONS_SHOWN
    documents: int
    tokens: int | None  # sum of n_tokens; None where docs has no n_tokens
    tokens_known: int  # documents with an n_tokens
    text_bytes: int
    sources: list[Source]
    ingests: list[dict]  # the catalog's latest state of each ingest
    rejects: list[dict]  # ingest_id, input, reason, count
    selections: list[Selection]  # every selection in the catalog


@dataclass
class Run:
    run_id: str
    selection: str
    flavor: str
    tokens: int
    train_loss: list[dict]  # tokens, loss
    validation_loss: list[dict]


@dataclass
class Report:
    lake: LakeSummary
    columns: list[Column]
    correlation: list[list[float | None]]  # Pearson, columns x columns; None where undefined
    correlation_rows: int  # documents the correlations were computed on
    selections: list[SelectionSummary]
    overlap: list[list[int]]  # documents in both selections i and j
    runs: list[Run]
    seconds: float = 0.0


def score_columns(schema: pa.Schema, patterns=None) -> list[str]:
    """docs' numeric columns but the ingest's own (INGEST_COLUMNS), in docs' order; with
    `patterns` (fnmatch globs), those matching one, a UsageError for a pattern matching none.
    List columns (embeddings, signatures) are not numeric: left out."""
    scores = pa.schema([f for f in schema if f.name not in INGEST_COLUMNS])
    if patterns:
        return match_columns(scores, [patterns] if isinstance(patterns, str) else list(patterns))
    return match_columns(scores, ["*"]) if any(_numeric(f.type) for f in scores) else []


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def selections_named(lake: Lake, names) -> list[Selection]:
    """The selections `names`, each once (a SelectionUsageError naming those there are for one
    that does not exist)."""
    if isinstance(names, str):
        names = [names]
    return [get(lake, n) for n in dict.fromkeys(names or ())]


def gather(lake: Lake, *, selections=None, columns=None) -> Report:
    """Everything the report shows, for docs at the lake's latest version: the lake, the
    score columns matching `columns` (glob patterns; default all), the selections named in
    `selections` (default none) compared with the lake, and the recorded runs.

        >>> r = gather(lake, selections=["top"], columns=["gopher_*"])
        >>> r.columns[0].quantiles[0.5], r.lake.sources[0].documents
    """
    t0 = time.perf_counter()
    docs = lake.docs()
    names = score_columns(docs.schema, columns)
    chosen = selections_named(lake, selections)
    con = connect(lake, docs.version)
    try:
        con.execute(resources.files("winnow.views.report").joinpath("report.sql").read_text())
        for i, sel in enumerate(chosen):
            ids = evaluate(lake, sel).select(["id"])
            con.register(f"_selection_{i}", ids.cast(pa.schema([pa.field("id", pa.string())])))
        has_tokens = TOKENS in docs.schema.names
        cols = _statistics(con, docs.schema, names, _scorers(lake))
        rows = cols[0].rows if cols else con.sql("SELECT count(*) FROM docs").fetchall()[0][0]
        correlation, sampled = _sample(con, cols, rows)
        groups = _groups(con, cols, len(chosen), has_tokens)
        _fill_columns(cols, groups, [sel.name for sel in chosen])
        rejects = con.sql("SELECT ingest_id, reason, count(*) AS n FROM rejects GROUP BY ALL "
                          "ORDER BY ingest_id, n DESC, reason").fetchall()
    finally:
        con.close()
    _fetch_examples(lake, docs.version, cols)
    sources = _sources(groups, has_tokens)
    summaries = [_selection_summary(sel, i, groups, has_tokens) for i, sel in enumerate(chosen)]
    overlap = [[sum(g["documents"] for g in groups if g["in"][i] and g["in"][j]) for j in range(len(chosen))]
               for i in range(len(chosen))]
    ingests = catalog.ingests(lake).to_pylist()
    inputs = {r["ingest_id"]: r["input"] for r in ingests}
    summary = LakeSummary(
        uri=lake.uri, version=docs.version, versions=len(docs.versions()),
        recent_versions=_recent_versions(docs),
        documents=rows, tokens=sum(s.tokens or 0 for s in sources) if has_tokens else None,
        tokens_known=sum(g["tokens_known"] for g in groups),
        text_bytes=sum(s.text_bytes for s in sources), sources=sources, ingests=ingests,
        rejects=[{"ingest_id": i, "input": inputs.get(i, ""), "reason": reason, "count": n} for i, reason, n in rejects],
        selections=all_selections(lake),
    )
    return Report(summary, cols, correlation, sampled, summaries, overlap, _runs(lake),
                  seconds=time.perf_counter() - t0)


def _sources(groups: list[dict], has_tokens: bool) -> list[Source]:
    """Documents, tokens and text bytes per source, most documents first."""
    by: dict[str, Source] = {}
    for g in groups:
        s = by.setdefault(g["source"], Source(g["source"], 0, 0 if has_tokens else None, 0))
        s.documents += g["documents"]
        s.text_bytes += g["text_bytes"]
        if has_tokens:
            s.tokens += g["tokens"] or 0
    return sorted(by.values(), key=lambda s: (-s.documents, s.name))


def _selection_summary(sel: Selection, i: int, groups: list[dict], has_tokens: bool) -> SelectionSummary:
    """Selection `i`'s documents and tokens, in all and per source (sources it has documents of)."""
    per: dict[str, list] = {}
    for g in groups:
        if g["in"][i]:
            d = per.setdefault(g["source"], [0, 0 if has_tokens else None])
            d[0] += g["documents"]
            if has_tokens:
                d[1] += g["tokens"] or 0
    return SelectionSummary(sel.name, sel.lake_version, sum(d for d, _ in per.values()),
                            sum(t for _, t in per.values()) if has_tokens else None,
                            {s: (d, t) for s, (d, t) in sorted(per.items())})


def _scorers(lake: Lake) -> dict[str, str]:
    """metric column -> "scorer version" of its latest done job."""
    return {r["metric"]: f"{r['scorer']} {r['scorer_version']}" for r in catalog.metrics(lake).to_pylist()
            if r["status"] == "done"}


def _number(x) -> float | None:
    """A finite float, else None."""
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _statistics(con: duckdb.DuckDBPyConnection, schema: pa.Schema, names: list[str],
                scorers: dict[str, str]) -> list[Column]:
    """Scan 1: counts, bounds, moments and quantiles of every column, and its bins."""
    if not names:
        return []
    projection = ", ".join(f"{quote(c)}::DOUBLE AS r{i}, finite({quote(c)}) AS f{i}" for i, c in enumerate(names))
    q = "[" + ", ".join(repr(x) for x in QUANTILES) + "]"
    aggregates = ", ".join(
        f"count(r{i}), count(CASE WHEN isnan(r{i}) THEN 1 END), count(f{i}), avg(f{i}), stddev_pop(f{i}), "
        f"min(f{i}), max(f{i}), quantile_disc(f{i}, {q})" for i in range(len(names)))
    row = con.sql(f"WITH v AS (SELECT {projection} FROM docs) SELECT count(*), {aggregates} FROM v").fetchall()[0]
    rows, out = row[0], []
    for i, name in enumerate(names):
        nonnull, nans, finite, mean, std, lo, hi, quantiles = row[1 + 8 * i: 9 + 8 * i]
        col = Column(name, str(schema.field(name).type), scorers.get(name), rows, rows - nonnull, nans,
                     nonnull - nans - finite, _number(mean), _number(std), _number(lo), _number(hi),
                     dict(zip(QUANTILES, map(float, quantiles))) if quantiles else {})
        _set_bins(col)
        out.append(col)
    return out


def _set_bins(col: Column) -> None:
    """BINS equal bins over [min, max], or over [p1, p99] for a heavy-tailed column (its tails
    then fall in the edge bins); one bin for a constant column, none for a column with no
    known value."""
    if col.min is None:
        return
    lo, hi = col.min, col.max
    p1, p99 = col.quantiles[0.01], col.quantiles[0.99]
    if p99 > p1 and hi - lo > HEAVY_TAIL * (p99 - p1):
        lo, hi, col.clamped = p1, p99, True
    col.lo = lo
    col.bins = BINS if hi > lo else 1
    col.width = (hi - lo) / BINS if hi > lo else 0.0


def _sample(con: duckdb.DuckDBPyConnection, cols: list[Column], rows: int) -> tuple[list[list], int]:
    """Scan 2, over the sample (every document up to CORRELATION_ROWS): the Pearson
    correlation of every pair of columns over the rows where both are known, and each
    column's example documents: at each of EXAMPLE_QUANTILES, the document at that rank in
    (value, id) order (`quantile_disc` of a struct). Returns the matrix and the documents
    the sample holds."""
    n = len(cols)
    matrix = [[1.0 if i == j else None for j in range(n)] for i in range(n)]
    if not n:
        return matrix, rows
    where = f"WHERE hash(id) < {int(CORRELATION_ROWS / rows * 2**64)}::UBIGINT" if rows > CORRELATION_ROWS else ""
    projection = ", ".join(["id", *[f"finite({quote(c.name)}) AS f{i}" for i, c in enumerate(cols)]])
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    q = "[" + ", ".join(map(repr, EXAMPLE_QUANTILES)) + "]"
    aggregates = ["count(*)", *[f"corr(f{i}, f{j})" for i, j in pairs],
                  *[f"quantile_disc(CASE WHEN f{i} IS NOT NULL THEN {{'value': f{i}, 'id': id}} END, {q})"
                    for i in range(n)]]
    row = con.sql(f"WITH v AS (SELECT {projection} FROM docs {where}) SELECT {', '.join(aggregates)} FROM v").fetchall()[0]
    for (i, j), r in zip(pairs, row[1:]):
        matrix[i][j] = matrix[j][i] = _number(r)
    for i in range(n):
        if pairs and all(matrix[i][j] is None for j in range(n) if j != i):
            matrix[i][i] = None  # a constant or unknown column correlates with nothing
    for c, found in zip(cols, row[1 + len(pairs):]):
        c.examples = [Example(q, e["value"], e["id"]) for q, e in zip(EXAMPLE_QUANTILES, found or []) if e]
    return matrix, row[0]


def _groups(con: duckdb.DuckDBPyConnection, cols: list[Column], selections: int, has_tokens: bool) -> list[dict]:
    """Scan 3: one GROUP BY source and membership in each selection (s0, s1, ...): per group
    its documents, tokens, text bytes and a histogram of every binned column. Sums over
    groups give the lake's numbers per source, each selection's (groups where it is true)
    and the overlaps (groups where two are)."""
    flags = [f"s{s}" for s in range(selections)]
    projection = ["source", "n_bytes", f"{TOKENS}::BIGINT AS tokens" if has_tokens else "NULL::BIGINT AS tokens"]
    projection += [f"id IN (SELECT id FROM _selection_{s}) AS s{s}" for s in range(selections)]
    aggregates = ["count(*)", "sum(n_bytes)::BIGINT", "sum(tokens)::BIGINT", "count(tokens)"]
    binned = [c for c in cols if c.bins]
    for i, c in enumerate(binned):  # a constant column's one bin: width 1 puts its value in bin 0
        projection.append(f"bin_of({quote(c.name)}, {c.lo!r}, {c.width or 1.0!r}, {c.bins}) AS k{i}")
        aggregates.append(f"histogram(k{i})")
    keys = ", ".join(["source", *flags])
    result = con.sql(f"WITH v AS (SELECT {', '.join(projection)} FROM docs) "
                     f"SELECT {keys}, {', '.join(aggregates)} FROM v GROUP BY {keys} ORDER BY {keys}").fetchall()
    groups = []
    for row in result:
        source, member, (documents, text_bytes, tokens, tokens_known, *histograms) = row[0], row[1: 1 + selections], \
            row[1 + selections:]
        groups.append({"source": source, "in": list(member), "documents": documents, "text_bytes": text_bytes or 0,
                       "tokens": tokens, "tokens_known": tokens_known,
                       "histograms": {c.name: _bin_counts(h, c.bins) for c, h in zip(binned, histograms)}})
    return groups


def _fill_columns(cols: list[Column], groups: list[dict], names: list[str]) -> None:
    """Each binned column's documents per bin by source (`counts`) and by selection (`selected`)."""
    for c in cols:
        if not c.bins:
            continue
        c.counts = {}
        c.selected = {n: [0] * c.bins for n in names}
        for g in groups:
            h = g["histograms"][c.name]
            c.counts[g["source"]] = [a + b for a, b in zip(c.counts.get(g["source"], [0] * c.bins), h)]
            for n, member in zip(names, g["in"]):
                if member:
                    c.selected[n] = [a + b for a, b in zip(c.selected[n], h)]


def _bin_counts(histogram: dict | None, bins: int) -> list[int]:
    """DuckDB's histogram() map (bin -> count) as a list of `bins` counts."""
    counts = [0] * bins
    for k, n in (histogram or {}).items():
        counts[k] = n
    return counts


def _fetch_examples(lake: Lake, version: int, cols: list[Column]) -> None:
    """Fill each example's source, snippet and scores from Lance, by id."""
    ids = sorted({e.id for c in cols for e in c.examples})
    if not ids:
        return
    names = [c.name for c in cols]
    table = lake.docs(version).to_table(columns=["id", "source", "text", *names],
                                        filter=pc.field("id").isin(pa.array(ids, pa.string())))
    found = {r["id"]: r for r in table.to_pylist()}
    for c in cols:
        for e in c.examples:
            r = found[e.id]
            e.source = r["source"]
            e.snippet = " ".join(r["text"][: SNIPPET_CHARS * 2].split())[:SNIPPET_CHARS]
            e.scores = {n: r[n] for n in names}


def _recent_versions(docs) -> list[dict]:
    tags: dict[int, list[str]] = {}
    for tag, info in docs.tags.list().items():
        tags.setdefault(info["version"], []).append(tag)
    versions = docs.versions()[-VERSIONS_SHOWN:]
    return [{"version": v["version"], "timestamp": v["timestamp"], "rows": int(v["metadata"].get("total_rows", 0)),
             "tags": sorted(tags.get(v["version"], []))} for v in reversed(versions)]


def _runs(lake: Lake) -> list[Run]:
    return [Run(r["run_id"], r["selection"], r["flavor"], r["tokens"], r["train_loss"] or [], r["validation_loss"] or [])
            for r in catalog.runs(lake).to_pylist()]


