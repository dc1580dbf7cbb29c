"""One SQL dialect per flag name: `--where` is DuckDB SQL over docs on every verb, as in
`winnow sql` (it was Lance's SQL on `score` and `similar`)."""

from __future__ import annotations

import pytest

import winnow
from winnow.scoring.scorer import ScoreUsageError

from .helpers import C4

# DuckDB's functions, which Lance's SQL does not have
WHERE = "regexp_matches(text, '\\bthe\\b') AND len(text) > 2000 AND source ILIKE 'c%'"


def test_score_where_is_duckdb_sql_and_scores_exactly_its_rows(tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(C4)], source="c4")
    r = winnow.score(lake, "gopher", where=WHERE, workers=1)
    chosen = winnow.query(lake, f"SELECT id FROM docs WHERE {WHERE} ORDER BY id").column("id").to_pylist()
    scored = winnow.query(lake, "SELECT id FROM docs WHERE gopher_word_count IS NOT NULL ORDER BY id")
    docs = lake.docs().count_rows()
    assert 0 < r.scored == len(chosen) < docs and scored.column("id").to_pylist() == chosen
    # the values are those a run over every row gives (rows read by address, not by a scan)
    whole = winnow.init(tmp_path / "whole")
    winnow.ingest_files(whole, [str(C4)], source="c4")
    winnow.score(whole, "gopher", workers=1)
    sql = f"SELECT id, gopher_word_count, gopher_stop_words, gopher_dup_line_frac FROM docs WHERE {WHERE} ORDER BY id"
    assert winnow.query(lake, sql).equals(winnow.query(whole, sql))
    # a rerun with the same filter finds nothing left; a wider one scores only the rest
    assert winnow.score(lake, "gopher", where=WHERE, workers=1).scored == 0
    assert winnow.score(lake, "gopher", where="len(text) > 0", workers=1).scored == docs - len(chosen)


def test_a_where_duckdb_cannot_bind_is_one_line_naming_the_column(tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(C4)])
    version = lake.docs().version
    with pytest.raises(ScoreUsageError, match=r"--where 'no_such_column > 3' is not a filter over docs: .*no_such_column"):
        winnow.score(lake, "gopher", where="no_such_column > 3")
    assert lake.docs().version == version and "gopher_word_count" not in lake.docs().schema.names
