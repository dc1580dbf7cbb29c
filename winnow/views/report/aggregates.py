"""The numbers of `winnow report`, for docs at one lake version: each column read once from
Lance, its numbers computed by numpy over whole arrays, never by a Python loop over rows.

First the columns every report needs (id, source, n_bytes, n_tokens): each row's group,
its source and its membership in each selection (the selection's SQL run by DuckDB, its
ids looked up among docs' by Arrow), and the sample: about CORRELATION_ROWS documents (all
of them in a smaller lake), those whose DuckDB `hash(id)` falls in the first share of its
range (the same rows every run of one DuckDB release; the macro library's `uniform(id,
seed)`, portable across releases, costs ~100x more per row here, and a report needs no
portable sample). Then each score column, in its own type (ordered as ::DOUBLE orders
it), in blocks of columns (BLOCK_VALUES values at a time, so memory does not grow with the
number of columns; the columns of a block on up to four threads):
1. its statistics: rows, NULL, NaN and infinite counts, mean, deviation, bounds and the
   quantiles QUANTILES, exact: `quantile_disc`'s values (a value of the column, at
   DuckDB's rank for a decimal quantile q over n known values: max(ceil(n q), 1) - 1);
2. its histogram, bins fixed from (1), counted per group of source and membership in each
   selection (`np.bincount` of group x bin). The lake's, the selections' and the overlaps'
   numbers are sums over those groups;
3. its values in the sample. Over the sample: the Pearson correlation of every pair of
   columns over the rows where both are known (matrix products of the values centred on
   each column's sample mean), and each column's example documents: at each of
   EXAMPLE_QUANTILES the document at that rank in (value, id) order.
Then the example documents' text and scores are fetched from Lance by id.

Why not DuckDB aggregates: three statements over the same columns (statistics, sample,
grouped histograms) cost 7-8 CPU-seconds on 1M rows x 30 columns, most of it DuckDB's
`histogram()` maps and quantile states; this module reads each column once and costs
~1.5 (docs/benchmarks.md).

A score is known where it is a finite number: NULL, NaN and infinite values are counted
apart and left out of everything else.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake, catalog

from winnow.sql.connection import connect
from winnow.sql.selections import Selection, all_selections, evaluate, get
from winnow.train.weights.labels import match_columns

INGEST_COLUMNS = ("n_chars", "n_bytes", "input_row")  # docs' numeric columns that ingest writes, not scores
TOKENS = "n_tokens"  # the `tokens` scorer's column: the lake's token count
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
EXAMPLE_QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)  # a subset of QUANTILES
BINS = 40
HEAVY_TAIL = 4.0  # bins span [p1, p99] (tails in the edge bins) when max - min > HEAVY_TAIL * (p99 - p1)
CORRELATION_ROWS = 100_000  # the sample (correlations, example documents)
SNIPPET_CHARS = 300
VERSIONS_SHOWN = 12
BLOCK_VALUES = 16_000_000  # values of score columns read from Lance at a time (~128 MB as doubles)


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
    per_group: np.ndarray | None = field(default=None, repr=False)  # documents per bin in each group, while gathered

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
    has_tokens = TOKENS in docs.schema.names
    base = docs.to_table(columns=["id", "source", "n_bytes", *([TOKENS] if has_tokens else [])])
    rows = base.num_rows
    ids = base["id"]

    def grouping():
        groups, group_of = _groups(base, [_members(ids, evaluate(lake, sel)) for sel in chosen], has_tokens)
        return groups, group_of.astype(np.intp) * BINS  # each row's first cell in a (group, bin) table

    # the selections' SQL runs beside the columns' statistics (DuckDB, Lance and numpy let go of
    # the GIL); a column waits for the groups only to count its histogram
    with ThreadPoolExecutor(1) as side:
        grouped = side.submit(grouping)
        con = connect(lake, docs.version)
        try:
            sample = _sample_rows(con, ids, rows)
            rejects = con.sql("SELECT ingest_id, reason, count(*) AS n FROM rejects GROUP BY ALL "
                              "ORDER BY ingest_id, n DESC, reason").fetchall()
        finally:
            con.close()
        cols, values = _scan(docs, names, _scorers(lake), grouped, sample)
        groups, _ = grouped.result()
    _fill_columns(cols, groups, [sel.name for sel in chosen])
    correlation = _correlation(values)
    places = _examples(cols, values, ids.take(pa.array(sample)))
    _fetch_examples(lake, docs.version, cols, {doc: int(sample[p]) for doc, p in places.items()})
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
    return Report(summary, cols, correlation, len(sample) if cols else rows, summaries, overlap, _runs(lake),
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


def _members(ids: pa.ChunkedArray, rows: pa.Table) -> np.ndarray:
    """Which of docs' rows (`ids`) a selection's rows hold (docs' ids are unique)."""
    chosen = rows["id"].combine_chunks().cast(pa.string())
    return pc.is_in(ids, value_set=chosen).to_numpy(zero_copy_only=False)


def _sample_rows(con, ids: pa.ChunkedArray, rows: int) -> np.ndarray:
    """The sample's row numbers, ascending: every row up to CORRELATION_ROWS, else the rows
    whose DuckDB `hash(id)` falls in the first CORRELATION_ROWS / rows of its range."""
    if rows <= CORRELATION_ROWS:
        return np.arange(rows)
    con.register("_report_ids", pa.table({"id": ids}))
    try:  # a projection keeps the scan's order (DuckDB's preserve_insertion_order)
        hashed = con.sql("SELECT hash(id) AS h FROM _report_ids").to_arrow_table()["h"].to_numpy()
    finally:
        con.unregister("_report_ids")
    return np.flatnonzero(hashed < np.uint64(int(CORRELATION_ROWS / rows * 2**64)))


def _groups(base: pa.Table, members: list[np.ndarray], has_tokens: bool) -> tuple[list[dict], np.ndarray]:
    """The groups of rows by source and membership in each selection (s0, s1, ...), in
    (source, s0, s1, ...) order, those that hold rows: each one's source, memberships,
    documents, tokens and text bytes; and each row's group number. Sums over groups give
    the lake's numbers per source, each selection's (groups where it is true) and the
    overlaps (groups where two are)."""
    encoded = pc.dictionary_encode(base["source"]).combine_chunks()
    names = encoded.dictionary.to_pylist()
    order = sorted(range(len(names)), key=lambda k: names[k])  # DuckDB's ORDER BY source: by bytes
    rank = np.empty(len(names) + 1, np.int64)
    rank[order] = np.arange(len(names))
    rank[len(names)] = len(names)  # a NULL source sorts last
    code = rank[encoded.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)]
    for m in members:  # s0 the most significant bit: groups sort as (source, s0, s1, ...)
        code = code * 2 + m
    space = (len(names) + 1) << len(members)
    if space <= 1 << 22:  # few possible groups: count them (a sort of every row costs more)
        present = np.flatnonzero(np.bincount(code, minlength=space))
        number = np.zeros(space, np.intp)
        number[present] = np.arange(len(present))
        group_of = number[code]
    else:
        present, group_of = np.unique(code, return_inverse=True)
    tokens = base[TOKENS].combine_chunks().cast(pa.int64()) if has_tokens else pa.nulls(len(code), pa.int64())
    sums = pa.table({"g": group_of, "b": base["n_bytes"].combine_chunks(), "t": tokens})
    sums = sums.group_by("g").aggregate([([], "count_all"), ("b", "sum"), ("t", "sum"), ("t", "count")]).sort_by("g")
    by_rank = [names[k] for k in order] + [None]
    s = len(members)
    groups = []
    for key, documents, text_bytes, tokens, known in zip(present.tolist(), *(sums[c].to_pylist() for c in
                                                         ("count_all", "b_sum", "t_sum", "t_count"))):
        groups.append({"source": by_rank[key >> s], "in": [bool(key >> (s - 1 - i) & 1) for i in range(s)],
                       "documents": documents, "text_bytes": text_bytes or 0, "tokens": tokens, "tokens_known": known,
                       "histograms": {}})
    return groups, group_of


def _scorers(lake: Lake) -> dict[str, str]:
    """metric column -> "scorer version" of its latest done job."""
    return {r["metric"]: f"{r['scorer']} {r['scorer_version']}" for r in catalog.metrics(lake).to_pylist()
            if r["status"] == "done"}


def _number(x) -> float | None:
    """A finite float, else None."""
    return float(x) if x is not None and math.isfinite(float(x)) else None


def rank(n: int, q: float) -> int:
    """The rank (from 0) of `quantile_disc`'s value at quantile q (a decimal, as SQL reads
    0.01) among n sorted values: DuckDB's max(ceil(n q), 1) - 1, in exact arithmetic."""
    f = Fraction(repr(q))
    return max(-(-n * f.numerator // f.denominator), 1) - 1


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    """A column as numpy numbers that order and convert to doubles as SQL's ::DOUBLE does:
    floats as they are (NULL as NaN), integers without NULL as they are, anything else
    (decimals, integers with NULL) as float64."""
    if pa.types.is_floating(column.type) or (pa.types.is_integer(column.type) and not column.null_count):
        return column.to_numpy()
    return pc.cast(column, pa.float64(), safe=False).to_numpy()


def _scan(docs, names: list[str], scorers: dict[str, str], grouped: Future,
          sample: np.ndarray) -> tuple[list[Column], np.ndarray]:
    """Each column read once (in blocks of BLOCK_VALUES values, the columns of a block on up
    to four threads: numpy lets go of the GIL): its statistics, bins and documents per bin in each
    group (`Column.per_group`, which _fill_columns sums; `grouped` gives the groups and each
    row's first cell in a group x BINS table), and its values on the sample rows (NaN where
    unknown): a sample x columns matrix."""
    rows = docs.count_rows()
    values = np.full((len(sample), len(names)), np.nan)
    block = max(1, BLOCK_VALUES // max(rows, 1))
    out: list[Column] = []
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        for start in range(0, len(names), block):
            table = docs.to_table(columns=names[start:start + block])
            work = [pool.submit(_column, table[name], name, scorers.get(name), grouped, sample, values[:, j])
                    for j, name in enumerate(table.column_names, start)]
            out += [w.result() for w in work]
    return out, values


def _column(column: pa.ChunkedArray, name: str, scorer: str | None, grouped: Future,
            sample: np.ndarray, sampled: np.ndarray) -> Column:
    """One column's numbers (see _scan); its sample values are written into `sampled`."""
    rows = len(column)
    x = _numbers(column)
    s = np.sort(x)  # NaN last, infinities at the ends: the finite values are one slice
    first, last, nan = 0, rows, 0
    if s.dtype.kind == "f":  # bounds as the array's own type: a float64 bound would convert a float32 array
        stop = int(np.searchsorted(s, s.dtype.type(np.nan)))  # numpy sorts and searches NaN last
        first, last = (int(np.searchsorted(s[:stop], s.dtype.type(bound), side=side))
                       for bound, side in ((-np.inf, "right"), (np.inf, "left")))
        nan = rows - stop
    f = s[first:last]
    finite = len(f)
    nonnull = rows - column.null_count
    nans = nan - column.null_count
    col = Column(name, str(column.type), scorer, rows, rows - nonnull, nans, nonnull - nans - finite)
    if finite:
        col.mean, col.std = _number(f.mean(dtype=np.float64)), _number(f.std(dtype=np.float64))
        col.min, col.max = float(f[0]), float(f[-1])
        col.quantiles = {q: float(f[rank(finite, q)]) for q in QUANTILES}
        _set_bins(col)
        k = np.subtract(x, col.lo, dtype=np.float64)
        k /= col.width or 1.0  # a constant column's one bin: width 1 puts its value in bin 0
        np.floor(k, out=k)
        np.clip(k, 0, col.bins - 1, out=k)
        found, base = grouped.result()
        groups = len(found)
        if finite < rows:  # unknown values go past the table, then are cut off
            np.copyto(k, groups * BINS, where=~np.isfinite(x))
        cell = np.add(base, k, dtype=np.intp, casting="unsafe")  # k holds whole numbers
        cells = np.bincount(cell, minlength=groups * BINS)[:groups * BINS]
        col.per_group = cells.reshape(groups, BINS)[:, :col.bins]
    picked = x[sample].astype(np.float64)
    picked[~np.isfinite(picked)] = np.nan
    sampled[:] = picked
    return col


def _set_bins(col: Column) -> None:
    """BINS equal bins over [min, max], or over [p1, p99] for a heavy-tailed column (its tails
    then fall in the edge bins); one bin for a constant column (a column with no known
    value has none)."""
    lo, hi = col.min, col.max
    p1, p99 = col.quantiles[0.01], col.quantiles[0.99]
    if p99 > p1 and hi - lo > HEAVY_TAIL * (p99 - p1):
        lo, hi, col.clamped = p1, p99, True
    col.lo = lo
    col.bins = BINS if hi > lo else 1
    col.width = (hi - lo) / BINS if hi > lo else 0.0


def _correlation(values: np.ndarray) -> list[list[float | None]]:
    """The Pearson correlation of every pair of the sample's columns over the rows where both
    are known (None where one of them does not vary there or no row has both): sums over the
    pairs' rows as matrix products of the values centred on each column's mean, so that
    few digits cancel."""
    n = values.shape[1]
    matrix = [[1.0 if i == j else None for j in range(n)] for i in range(n)]
    if n < 2:
        return matrix
    if not len(values):  # no document: no pair has a correlation
        return [[None] * n for _ in range(n)]
    known = np.isfinite(values)
    m = known.astype(np.float64)
    counts = known.sum(axis=0)
    means = np.nansum(values, axis=0) / np.maximum(counts, 1)
    low, high = np.fmin.reduce(values, axis=0), np.fmax.reduce(values, axis=0)  # NaN where no value is known
    constant = low == high  # such a column centres to exactly 0: no spread, as DuckDB finds
    means[constant] = low[constant]
    x = np.where(known, values - means, 0.0)
    both = m.T @ m  # rows where i and j are known
    sx = x.T @ m  # [i, j]: the sum of column i over those rows
    sxx = (x * x).T @ m
    sxy = x.T @ x
    with np.errstate(divide="ignore", invalid="ignore"):
        mx = sx / both
        cov = sxy / both - mx * mx.T
        var = sxx / both - mx * mx
        var[var <= sxx / both * 1e-14] = 0.0  # what is left of a constant: rounding, not spread
        r = cov / np.sqrt(var * var.T)
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i][j] = matrix[j][i] = _number(r[i, j]) if both[i, j] and var[i, j] and var[j, i] else None
    for i in range(n):
        if all(matrix[i][j] is None for j in range(n) if j != i):
            matrix[i][i] = None  # a constant or unknown column correlates with nothing
    return matrix


def _fill_columns(cols: list[Column], groups: list[dict], names: list[str]) -> None:
    """Each binned column's documents per bin by source (`counts`) and by selection (`selected`)."""
    for c in cols:
        if not c.bins:
            continue
        c.counts = {}
        for g, h in zip(groups, c.per_group):
            c.counts[g["source"]] = c.counts.get(g["source"], 0) + h
        c.counts = {s: h.tolist() for s, h in c.counts.items()}
        c.selected = {n: c.per_group[[g["in"][i] for g in groups]].sum(axis=0).tolist() for i, n in enumerate(names)}
        c.per_group = None


def _examples(cols: list[Column], values: np.ndarray, ids: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """Each column's example documents within the sample: at each of EXAMPLE_QUANTILES the
    document at that rank in (value, id) order, as `quantile_disc` of a (value, id) struct
    finds it (ids in byte order, ranked once). Returns each example's place in the sample."""
    by_id = pc.sort_indices(ids).to_numpy()  # the sample's places in id order
    id_rank = np.empty_like(by_id)
    id_rank[by_id] = np.arange(len(by_id))
    found: dict[str, int] = {}
    for j, c in enumerate(cols):
        known = np.flatnonzero(np.isfinite(values[:, j]))
        v = values[known, j]
        if not len(v):
            continue
        at = [rank(len(v), q) for q in EXAMPLE_QUANTILES]
        for q, k, value in zip(EXAMPLE_QUANTILES, at, np.sort(v)[at]):
            tied = id_rank[known[v == value]]  # the ids of the documents with this value, as ranks
            nth = k - int(np.count_nonzero(v < value))  # the rank within them
            place = int(by_id[np.partition(tied, nth)[nth]])
            doc = ids[place].as_py()
            found[doc] = place
            c.examples.append(Example(q, float(values[place, j]), doc))
    return found


def _fetch_examples(lake: Lake, version: int, cols: list[Column], rows: dict[str, int]) -> None:
    """Fill each example's source, snippet and scores from Lance: `rows` says each example
    document's row in docs; the rows are taken by number, and looked for by id where they
    do not hold the ids expected."""
    if not rows:
        return
    names = [c.name for c in cols]
    wanted = sorted(rows, key=rows.get)
    docs = lake.docs(version)
    columns = ["id", "source", "text", *names]
    table = docs.take(sorted(rows.values()), columns=columns)
    if table["id"].to_pylist() != wanted:
        table = docs.to_table(columns=columns, filter=pc.field("id").isin(pa.array(wanted, pa.string())))
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


