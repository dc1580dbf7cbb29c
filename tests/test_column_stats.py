"""Per-version column statistics cached in the catalog (`column_stats`), and `zscore(x)` over
docs as arithmetic on them (sql/stats.py): checked against numpy over the raw columns of a
real lake (C4's 449 pages, gopher scored), in `winnow sql`, selections and eval."""

from __future__ import annotations

import json

import numpy as np
import pytest

import winnow
from .helpers import C4, GITHUB, cli, lake_state
from winnow.sql import stats
from winnow.sql.selections import SelectionUsageError

X = "gopher_word_count"


def column(lake, expr: str, where: str = "true", version=None) -> dict[str, float]:
    """id -> the raw value of `expr` (NaN for NULL), read with plain SQL (no zscore)."""
    t = winnow.query(lake, f"SELECT id, ({expr})::DOUBLE AS v FROM docs WHERE {where} ORDER BY id", version=version)
    return {i: (np.nan if v is None else v) for i, v in zip(t["id"].to_pylist(), t["v"].to_pylist())}


def zscores(values: dict[str, float]) -> dict[str, float]:
    """numpy's z-scores of the known (non-NaN) values: population deviation."""
    x = np.array(list(values.values()), np.float64)
    known = x[~np.isnan(x)]
    return {k: (v - known.mean()) / known.std() for k, v in values.items()}


def stats_rows(lake) -> list[dict]:
    return winnow.query(lake, "SELECT * FROM column_stats ORDER BY lake_version, \"column\"").to_pylist()


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = winnow.init(tmp_path_factory.mktemp("stats") / "lake")
    winnow.ingest_files(lake, [str(C4)], workers=1)
    winnow.score(lake, "gopher", workers=1)
    return lake


def test_zscore_over_docs_has_the_lake_versions_constants_whatever_the_where(lake):
    before = len(stats_rows(lake))
    want = zscores(column(lake, X))
    got = winnow.query(lake, f"SELECT id, zscore({X}) AS z FROM docs WHERE {X} > 300 ORDER BY id")
    assert 0 < got.num_rows < len(want)
    for i, z in zip(got["id"].to_pylist(), got["z"].to_pylist()):
        assert z == pytest.approx(want[i], rel=1e-12, abs=1e-12)
    # recorded once, with the figures numpy gives
    rows = [r for r in stats_rows(lake) if r["column"] == X]
    assert len(stats_rows(lake)) == before + 1 and len(rows) == 1
    x = np.array([v for v in column(lake, X).values()])
    r = rows[0]
    assert r["lake_version"] == lake.docs().version and r["count"] == len(x) and r["unknown"] == 0
    assert (r["mean"], r["std"], r["min"], r["max"]) == pytest.approx((x.mean(), x.std(), x.min(), x.max()), rel=1e-12)
    # read from the catalog, not computed again
    winnow.query(lake, f"SELECT zscore({X}) FROM docs")
    assert len(stats_rows(lake)) == before + 1


def test_over_a_cte_or_with_a_window_it_is_the_queries_rows(lake):
    """Where docs is not the FROM, zscore is the window over the query's rows, as
    zscore_window always is."""
    raw = column(lake, X, f"{X} > 300")
    want = zscores(raw)
    for sql in (f"WITH c AS (SELECT id, {X} AS x FROM docs WHERE {X} > 300) SELECT id, zscore(x) AS z FROM c",
                f"SELECT id, zscore_window({X}) AS z FROM docs WHERE {X} > 300"):
        got = winnow.query(lake, sql + " ORDER BY id")
        assert got.num_rows == len(raw)
        for i, z in zip(got["id"].to_pylist(), got["z"].to_pylist()):
            assert z == pytest.approx(want[i], rel=1e-9, abs=1e-12), sql
    # a CTE named docs is not the lake's docs
    shadow = winnow.query(lake, f"WITH docs AS (SELECT * FROM docs WHERE {X} > 300) "
                                f"SELECT id, zscore({X}) AS z FROM docs ORDER BY id")
    assert shadow["z"].to_pylist() == pytest.approx([want[i] for i in shadow["id"].to_pylist()], rel=1e-9)


def test_expressions_nan_strings_and_comments(lake):
    """An expression over docs' columns is cached by its text; NaN is unknown; a call inside
    a string or a comment is not touched."""
    expr = f"CASE WHEN {X} > 300 THEN 'NaN'::DOUBLE ELSE ln(1 + {X}) END"
    raw = column(lake, expr)
    want = zscores(raw)
    got = winnow.query(lake, f"SELECT id, 'zscore(x)' AS s, zscore({expr}) AS z FROM docs -- zscore({X})\nORDER BY id")
    assert set(got["s"].to_pylist()) == {"zscore(x)"}
    for i, z in zip(got["id"].to_pylist(), got["z"].to_pylist()):
        assert (z is None) if np.isnan(raw[i]) else z == pytest.approx(want[i], rel=1e-12, abs=1e-12)
    row = next(r for r in stats_rows(lake) if r["column"] == expr)
    assert row["unknown"] == sum(np.isnan(v) for v in raw.values()) > 0
    assert row["count"] + row["unknown"] == len(raw)


def test_selections_share_the_constants_and_a_failed_one_writes_nothing(lake, tmp_path):
    body = f"SELECT id, n_chars AS n_tokens, zscore(gopher_mean_word_length) AS score FROM docs"
    winnow.select(lake, "val", "SELECT id FROM docs WHERE uniform(id, 1) < 0.2")
    winnow.select(lake, "all", body)
    winnow.select(lake, "rest", body, exclude=["val"])
    everything = dict(zip(*winnow.sql.evaluate(lake, "all").select(["id", "score"]).to_pydict().values()))
    rest = winnow.sql.evaluate(lake, "rest")
    assert 0 < rest.num_rows < len(everything)
    for i, s in zip(rest["id"].to_pylist(), rest["score"].to_pylist()):
        assert s == everything[i]  # the same constants with and without --exclude
    # a selection refused after its statistics were computed leaves the catalog as it was
    before = lake_state(lake)
    with pytest.raises(SelectionUsageError, match="more than once"):
        winnow.select(lake, "bad", "SELECT id, zscore(gopher_bullet_lines_frac) AS score FROM docs "
                                   "UNION ALL SELECT id, 0 FROM docs")
    assert lake_state(lake) == before
    assert "gopher_bullet_lines_frac" not in {r["column"] for r in stats_rows(lake)}


def test_a_new_lake_version_gets_its_own_statistics_and_old_selections_keep_theirs(tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(GITHUB)], workers=1)
    sql = "SELECT id, n_chars AS n_tokens, zscore(n_chars) AS score FROM docs"
    winnow.select(lake, "old", sql)
    old = winnow.sql.evaluate(lake, "old")
    first = lake.docs().version
    winnow.ingest_files(lake, [str(C4)], workers=1)
    assert lake.docs().version > first
    now = winnow.query(lake, "SELECT id, zscore(n_chars) AS z FROM docs ORDER BY id")
    want = zscores(column(lake, "n_chars"))
    assert now["z"].to_pylist() == pytest.approx([want[i] for i in now["id"].to_pylist()], rel=1e-12)
    versions = sorted(r["lake_version"] for r in stats_rows(lake) if r["column"] == "n_chars")
    assert versions == [first, lake.docs().version]
    again = winnow.sql.evaluate(lake, "old")  # pinned: the first version's constants
    assert again["score"].to_pylist() == old["score"].to_pylist()
    before_want = zscores(column(lake, "n_chars", version=first))
    assert again["score"].to_pylist() == pytest.approx([before_want[i] for i in again["id"].to_pylist()], rel=1e-12)
    # `winnow sql` on the command line rewrites too, and column_stats is a table like the others
    # (a window inside an aggregate is an error: the constants are what make this run)
    out = cli("sql", lake.uri, "SELECT max(zscore(n_chars)) AS m, (SELECT count(*) FROM column_stats) AS n FROM docs",
              "--format", "json").stdout
    got = json.loads(out)
    assert got["n"] == 2 and got["m"] == pytest.approx(max(want.values()), rel=1e-12)


def test_the_rewrite_itself():
    """Which calls are replaced: SELECTs whose FROM is docs alone (with its alias), COPY's
    query, innermost calls; not a join, a CTE, a table function's arguments."""
    import duckdb

    con = duckdb.connect()
    found = stats.calls(con, "SELECT zscore(d.x) + ZSCORE ( y ) FROM docs d WHERE zscore(zscore(z)) > 0")
    assert [(c.argument, c.alias) for c in found] == [("d.x", "d"), ("y", "d"), ("z", "d")]
    assert stats.calls(con, "SELECT zscore(x) FROM docs JOIN t USING (id)") == []
    assert stats.calls(con, "WITH c AS (SELECT * FROM docs) SELECT zscore(x) FROM c") == []
    assert stats.calls(con, "SELECT * FROM top_k((SELECT 1), zscore(1))") == []
    copy = "COPY (SELECT zscore(x) FROM docs) TO 'a.parquet'"
    (c,) = stats.calls(con, copy)
    assert copy[c.start:c.end] == "zscore(x)"
    assert stats.calls(con, "SELECT zscore(x FROM") == []  # does not parse: left to DuckDB's error
