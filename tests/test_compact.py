"""`winnow compact`: a lake of many small commits rewritten compactly loses no document, no
column value and no selection; pinned selections return the same ids, the dedup columns stay
true, and a job left unfinished stops it. ~25 s on 2 cores."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import winnow
from winnow.lake.columns import add_columns
from winnow.lake.fragments import ColumnWriter
from winnow.lake.killpoints import KILL_AT
from winnow.sql.selections import evaluate, get

from .helpers import OWT, WINNOW, cli, edited, fails, lake_state

BATCHES, PER_BATCH = 6, 40


@pytest.fixture(scope="module")
def aged(tmp_path_factory):
    """A lake grown the way users grow one: six ingests of 40 OpenWebText documents (and 12
    near copies in the fourth), each followed by `score minhash gopher` and `dedup`; an
    import of scores and a selection `long` pinned after the third; one more ingest and
    scoring after it, so the selection's version is an old one."""
    d = tmp_path_factory.mktemp("aged")
    docs = [json.loads(line) for line in OWT.open()][:BATCHES * PER_BATCH]
    rng = random.Random(3)
    vocab = [w for doc in docs[:50] for w in doc["text"].split()]
    for b in range(BATCHES):
        rows = [{"id": doc["id"], "text": doc["text"]} for doc in docs[b * PER_BATCH:(b + 1) * PER_BATCH]]
        if b == 3:
            rows += [{"id": f"copy-{doc['id']}", "text": edited(doc["text"], 0.01, rng, vocab)} for doc in docs[:12]]
        (d / f"batch{b}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lake = winnow.init(d / "lake")
    for b in range(BATCHES):
        winnow.ingest_files(lake, [str(d / f"batch{b}.jsonl")], progress=None, workers=1)
        winnow.score(lake, "minhash", workers=1, progress=None)
        winnow.score(lake, "gopher", workers=1, progress=None)
        winnow.dedup(lake, "minhash", progress=None)
        if b == 2:
            ids = lake.docs().to_table(columns=["id", "n_chars"])
            pq.write_table(pa.table({"id": ids["id"], "ext_quality": pc.divide(pc.cast(ids["n_chars"], pa.float64()),
                                                                                1000.0)}), d / "scores.parquet")
            winnow.import_scores(lake, str(d / "scores.parquet"))
            winnow.select(lake, "long", "SELECT id FROM docs WHERE gopher_word_count > 600 AND dup_keep")
    return d / "lake"


def _copy(aged, tmp_path):
    shutil.copytree(aged, tmp_path / "lake")
    return winnow.open(tmp_path / "lake")


def _files(root) -> int:
    return sum(1 for _, _, names in os.walk(root) for _ in names)


def test_compaction_keeps_documents_selections_and_clusters(aged, tmp_path):
    lake = _copy(aged, tmp_path)
    sel = get(lake, "long")
    before_ids = sorted(evaluate(lake, sel)["id"].to_pylist())
    pinned_rows = lake.docs(sel.lake_version).to_table(columns=["id", "gopher_word_count"]).sort_by("id")
    docs_before = lake.docs().to_table().sort_by("id")
    fragments_before, files_before = len(lake.docs().get_fragments()), _files(lake.uri)
    versions_before = len(lake.docs().versions())
    assert len(before_ids) > 10 and sel.lake_version < lake.docs().version

    r = cli("compact", lake.uri)
    assert "compacted" in r.stdout and f"{sel.lake_version}: selection long, tag selection-long" in r.stdout

    lake = winnow.open(lake.uri)
    docs = lake.docs()
    assert len(docs.get_fragments()) == 1 < fragments_before  # 6 ingests of 40-52 rows: one fragment
    assert all(len(f.data_files()) == 1 for f in docs.get_fragments())  # the column files merged
    assert _files(lake.uri) < files_before / 2
    assert [v["version"] for v in docs.versions()] == [sel.lake_version, docs.version] and versions_before >= 30
    # every document and value as it was; the selection's ids and its pinned version's rows too
    assert docs.to_table().sort_by("id").equals(docs_before)
    assert sorted(evaluate(lake, sel)["id"].to_pylist()) == before_ids
    assert sorted(winnow.select_rows(lake, "long")["id"].to_pylist()) == before_ids
    assert lake.docs(sel.lake_version).to_table(columns=["id", "gopher_word_count"]).sort_by("id").equals(pinned_rows)
    # the clusters are named by ids: still the smallest id of each cluster, kept; a rerun changes nothing
    rows = winnow.query(lake, "SELECT id, dup_cluster, dup_keep FROM docs WHERE dup_cluster IS NOT NULL").to_pylist()
    members: dict[str, list[str]] = {}
    for row in rows:
        members.setdefault(row["dup_cluster"], []).append(row["id"])
    assert len(members) >= 10 and all(c == min(ids) for c, ids in members.items())
    assert {row["id"] for row in rows if row["dup_keep"]} == set(members)
    assert winnow.dedup(lake, "minhash", progress=None).changed == 0
    # a second compaction has nothing to merge
    again = winnow.compact(lake)
    assert [t.fragments for t in again.tables if t.table == "docs"] == [(1, 1)]


def test_refused_while_a_job_is_unfinished(aged, tmp_path):
    lake = _copy(aged, tmp_path)
    killed = subprocess.run([str(WINNOW), "score", lake.uri, "c4", "--workers", "1"], capture_output=True,
                            env={**os.environ, KILL_AT: "score:claimed"}, timeout=120)
    assert killed.returncode == -9
    state = lake_state(lake)
    fails("compact", lake.uri, contains="metric column c4_")
    assert lake_state(lake) == state
    fails("compact", lake.uri, "--older-than", "-1", contains="--older-than")
    cli("score", lake.uri, "c4", "--workers", "1")  # finished: now it compacts
    assert winnow.compact(lake).tables[0].fragments[1] == 1


def test_a_column_commit_after_a_compaction_goes_by_id(aged, tmp_path):
    """A job that read its fragments before a compaction commits its values after it: Lance
    refuses the column-file replacement (the fragments are gone) and the rows go by id."""
    lake = _copy(aged, tmp_path)
    field = pa.field("probe", pa.float64())
    add_columns(lake, [field])
    version = lake.docs().version
    rows = lake.docs().to_table(columns=["id", "n_chars"], with_row_address=True)
    fids = (rows["_rowaddr"].to_numpy() >> 32).astype(np.int64)
    writer = ColumnWriter(lake, [field], version, dict(zip(*(x.tolist() for x in np.unique(fids, return_counts=True)))))
    writer.add(pa.table({"_rowaddr": rows["_rowaddr"], "id": rows["id"],
                         "probe": pc.cast(rows["n_chars"], pa.float64())}))  # every fragment complete: files written
    winnow.compact(lake)
    assert {f.fragment_id for f in lake.docs().get_fragments()}.isdisjoint(fids.tolist())
    writer.commit()
    got = lake.docs().to_table(columns=["id", "n_chars", "probe"])
    assert got["probe"].null_count == 0
    assert got["probe"].to_pylist() == pc.cast(got["n_chars"], pa.float64()).to_pylist()
