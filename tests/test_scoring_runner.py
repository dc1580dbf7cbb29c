"""The scoring runner on real data and real Lance: no text rewrite, resume, concurrency,
--replace, newly ingested rows only, imported scores."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import lance
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow
from winnow.scoring import ScoreError

from .helpers import C4, GITHUB, OWT, WINNOW, cli, resampled_corpus

UPPER = str(Path(__file__).parent / "scorers" / "upper.py") + ":UpperFraction"


def data_files(lake) -> dict[str, int]:
    root = Path(lake.uri) / "docs.lance" / "data"
    return {p.name: p.stat().st_size for p in root.iterdir()}


def upper_frac(text: str) -> float:
    letters = sum(c.isalpha() for c in text)
    return sum(c.isupper() for c in text) / letters


@pytest.fixture
def owt_lake(lake):
    winnow.ingest_files(lake, [str(OWT)])
    return lake


def test_scoring_writes_only_the_new_column(owt_lake):
    before = data_files(owt_lake)
    r = winnow.score(owt_lake, UPPER, workers=2)
    after = data_files(owt_lake)
    assert r.scored == r.rows == 1000
    assert before and all(after[name] == size for name, size in before.items())  # text files untouched
    added = {n: s for n, s in after.items() if n not in before}
    assert 0 < sum(added.values()) < 1000 * 4 + 64 * 1024  # a float32 column and its metadata
    rows = winnow.query(owt_lake, "SELECT text, upper_frac FROM docs LIMIT 50").to_pylist()
    assert len(rows) == 50 and all(abs(r["upper_frac"] - upper_frac(r["text"])) < 1e-6 for r in rows)
    m = winnow.query(owt_lake, "SELECT * FROM metrics").to_pylist()[0]
    assert (m["metric"], m["scorer"], m["status"], m["rows"]) == ("upper_frac", "upper", "done", 1000)
    assert m["lake_version"] == owt_lake.docs().version


def test_new_documents_are_scored_and_old_ones_are_not_recomputed(owt_lake):
    winnow.score(owt_lake, UPPER)
    again = winnow.score(owt_lake, UPPER)
    assert again.scored == 0 and "up to date" in again.note
    winnow.ingest_files(owt_lake, [str(GITHUB)])
    later = winnow.score(owt_lake, UPPER)
    assert later.scored == 50 and later.rows == 1050


def test_other_version_or_params_is_refused_without_replace(owt_lake, tmp_path):
    winnow.score(owt_lake, UPPER)
    v2 = tmp_path / "upper2.py"
    v2.write_text(Path(UPPER.split(":")[0]).read_text().replace('version = "1"', 'version = "2"')
                  .replace("sum(c.isupper() for c in t)", "2 * sum(c.isupper() for c in t)"))
    with pytest.raises(ScoreError, match="pass --replace"):
        winnow.score(owt_lake, f"{v2}:UpperFraction")
    r = winnow.score(owt_lake, f"{v2}:UpperFraction", replace=True)
    assert r.scored == 1000
    row = winnow.query(owt_lake, "SELECT text, upper_frac FROM docs LIMIT 1").to_pylist()[0]
    assert abs(row["upper_frac"] - 2 * upper_frac(row["text"])) < 1e-6
    assert winnow.query(owt_lake, "SELECT scorer_version FROM metrics")["scorer_version"].to_pylist() == ["2"]
    # the same scorer with other parameters writes another column, or refuses on the same one
    other = winnow.score(owt_lake, f"{v2}:UpperFraction", params={"column": "upper_frac_b"})
    assert other.columns == ["upper_frac_b"] and other.scored == 1000
    with pytest.raises(ScoreError, match="pass --replace"):
        winnow.score(owt_lake, UPPER, params={"column": "upper_frac_b"})  # v1 over v2's column


def test_where_scores_a_subset(lake):
    winnow.ingest_files(lake, [str(OWT), str(GITHUB)])
    r = winnow.score(lake, UPPER, where="n_chars > 5000")
    n = winnow.query(lake, "SELECT count(*) AS n FROM docs WHERE n_chars > 5000")["n"][0].as_py()
    assert 0 < r.scored == r.rows == n < 1050
    outside = winnow.query(lake, "SELECT count(upper_frac) AS k, count(*) AS n FROM docs WHERE n_chars <= 5000")
    assert outside.to_pylist() == [{"k": 0, "n": 1050 - n}]


def test_killed_score_job_resumes_without_recomputing(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    resampled_corpus(corpus, 12_000, bad_every=10**9)
    path = tmp_path / "lake"
    cli("init", path)
    cli("ingest", path, corpus, "--no-progress")
    total = winnow.open(path).docs().count_rows()
    proc = subprocess.Popen([str(WINNOW), "score", str(path), UPPER, "--no-progress", "--workers", "1",
                             "--commit-rows", "1000", "--batch-rows", "250"],
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    docs = f"{path}/docs.lance"
    deadline = time.time() + 120
    while "upper_frac" not in lance.dataset(docs).schema.names or \
            lance.dataset(docs).count_rows(filter="upper_frac IS NOT NULL") < 2000:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = lance.dataset(docs).count_rows(filter="upper_frac IS NOT NULL")
    assert 0 < done < total
    out = cli("score", path, UPPER, "--no-progress").stdout
    assert f"scored {total - done:,} rows" in out and f"now hold {total:,} rows" in out
    rows = winnow.query(winnow.open(path), "SELECT text, upper_frac FROM docs").to_pylist()
    assert len(rows) == total and all(abs(r["upper_frac"] - upper_frac(r["text"])) < 1e-6 for r in rows)


def test_two_scorers_at_once_both_land(tmp_path):
    path = tmp_path / "lake"
    cli("init", path)
    cli("ingest", path, OWT, C4, "--no-progress", "--commit-mb", "1")
    procs = [
        subprocess.Popen([str(WINNOW), "score", str(path), UPPER, "-p", f"column={name}", "--no-progress",
                          "--commit-rows", "200", "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name in ("upper_a", "upper_b")
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    lake = winnow.open(path)
    counts = winnow.query(lake, "SELECT count(upper_a) AS a, count(upper_b) AS b, count(*) AS n FROM docs").to_pylist()[0]
    assert counts == {"a": 1445, "b": 1445, "n": 1445}


def test_import_scores_with_list_columns_and_unknown_ids(owt_lake, tmp_path):
    ids = owt_lake.docs().to_table(columns=["id"])["id"].to_pylist()[:300]
    table = pa.table({
        "doc": ids + ["not-in-lake-1", "not-in-lake-2"],
        "qurating": [[float(i), float(i) / 2, -float(i), 1.0] for i in range(302)],
        "edu": [float(i % 6) for i in range(302)],
    })
    pq.write_table(table, tmp_path / "scores.parquet")
    out = cli("import-scores", owt_lake.uri, tmp_path / "scores.parquet", "--on", "doc",
              "--split", "qurating=writing_style,required_expertise,facts_and_trivia,educational_value").stdout
    assert "read 302 rows = matched 300 + ids not in the lake 2" in out
    got = winnow.query(winnow.open(owt_lake.uri), "SELECT id, facts_and_trivia, edu FROM docs WHERE edu IS NOT NULL")
    assert got.num_rows == 300
    first = {r["id"]: r for r in got.to_pylist()}[ids[7]]
    assert first["facts_and_trivia"] == -7.0 and first["edu"] == 1.0


def test_import_scores_replace_rewrites_the_column_from_the_new_file_alone(owt_lake, tmp_path):
    """--replace used to keep the old values of the rows the new file does not cover."""
    ids = owt_lake.docs().to_table(columns=["id"])["id"].to_pylist()
    pq.write_table(pa.table({"id": ids, "edu": [1.0] * len(ids)}), tmp_path / "all.parquet")
    pq.write_table(pa.table({"id": ids[:500], "edu": [2.0] * 500}), tmp_path / "half.parquet")
    winnow.import_scores(owt_lake, str(tmp_path / "all.parquet"))
    r = winnow.import_scores(owt_lake, str(tmp_path / "half.parquet"), replace=True)
    assert (r.read, r.matched) == (500, 500)
    got = winnow.query(owt_lake, "SELECT edu, count(*) AS n FROM docs GROUP BY edu ORDER BY edu").to_pylist()
    assert got == [{"edu": 2.0, "n": 500}, {"edu": None, "n": 500}]
    by_id = {row["id"]: row["edu"] for row in winnow.query(owt_lake, "SELECT id, edu FROM docs").to_pylist()}
    assert by_id[ids[0]] == 2.0 and by_id[ids[-1]] is None
    m = winnow.query(owt_lake, "SELECT params, status, rows FROM metrics WHERE metric = 'edu'").to_pylist()[0]
    assert (m["status"], m["rows"]) == ("done", 500) and "half.parquet" in m["params"]
