"""Vectors through lancedb: the lake's docs opened by `lancedb.connect(LAKE).open_table("docs")`,
`winnow index` (IVF-PQ, cosine) and `winnow similar` (--id, --text, --where), on real documents
embedded with the offline all-MiniLM-L6-v2 (reading 32 tokens per document, to stay fast)."""

from __future__ import annotations

import json

import lance
import numpy as np
import pytest

import winnow
from winnow.lake import UsageError

from .helpers import C4, OWT, cli, fails, lake_state

EMBED = {"max_length": 32}
PLANTED = json.loads(OWT.read_text().splitlines()[900])  # a document from outside the lake's OWT part


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """A lake of 200 C4 and 80 OpenWebText documents (one C4 text is an exact duplicate: 279
    are kept) plus one planted OWT document, embedded."""
    root = tmp_path_factory.mktemp("vectors")
    c4 = [json.loads(line) for line in C4.read_text().splitlines()[:200]]
    owt = [json.loads(line) for line in OWT.read_text().splitlines()[:80]] + [PLANTED]
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(_write(root / "c4.jsonl", c4))], source="c4")
    winnow.ingest_files(lake, [str(_write(root / "owt.jsonl", owt))], source="owt")
    winnow.score(lake, "embed", params=EMBED)
    return lake


def exact_neighbours(lake, vector: np.ndarray, k: int) -> list[str]:
    """The k nearest ids by cosine distance, by numpy over every row."""
    t = lake.docs().to_table(columns=["id", "embedding"])
    x = np.stack(t.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float64)
    sims = x @ vector / (np.linalg.norm(x, axis=1) * np.linalg.norm(vector))
    return [t.column("id")[int(i)].as_py() for i in np.argsort(-sims, kind="stable")[:k]]


def test_lancedb_opens_the_lakes_docs(embedded):
    import lancedb

    table = lancedb.connect(embedded.uri).open_table("docs")
    docs = embedded.docs()
    assert table.count_rows() == docs.count_rows() == 280
    assert table.schema.names == docs.schema.names
    assert table.version == docs.version
    assert sorted(table.to_arrow().column("id").to_pylist()) == sorted(docs.to_table(columns=["id"])["id"].to_pylist())


def test_similar_index_and_every_verb_after_it(embedded, tmp_path):
    lake = embedded
    target = "owt-1000-0005"
    vector = lake.docs().to_table(columns=["embedding"], filter=f"id = '{target}'")["embedding"][0].values.to_numpy()
    want = exact_neighbours(lake, vector, 10)

    # Without an index: an exact search, the document itself first at distance 0.
    before = winnow.similar(lake, id=target, k=10)
    assert not before.indexed
    got = before.documents
    assert got.column("rank").to_pylist() == list(range(1, 11))
    assert got.column("id")[0].as_py() == target and abs(got.column("distance")[0].as_py()) < 1e-5
    assert got.column("id").to_pylist() == want
    d = got.column("distance").to_pylist()
    assert d == sorted(d)

    # The index, through lancedb: one more lake version, seen by pylance.
    proc = cli("index", lake.uri, "embedding")
    assert "IVF-PQ cosine on embedding, 280 vectors, 1 partitions, 24 sub-vectors" in proc.stdout, proc.stdout
    indices = lance.dataset(f"{lake.uri}/docs.lance").describe_indices()
    assert [(i.index_type, i.field_names) for i in indices] == [("IVF_PQ", ["embedding"])], indices

    after = winnow.similar(lake, id=target, k=10)
    assert after.indexed
    ids = after.documents.column("id").to_pylist()
    assert ids[0] == target and abs(after.documents.column("distance")[0].as_py()) < 1e-5
    recall = len(set(ids) & set(want)) / 10
    print(f"similar through the index: recall@10 {recall:.2f} against the exact search, {after.seconds * 1e3:.1f} ms "
          f"(exact search {before.seconds * 1e3:.1f} ms)")
    assert recall >= 0.8

    shown = cli("similar", lake.uri, "--id", target, "-k", "3").stdout
    lines = shown.splitlines()
    assert lines[0].startswith(f"3 nearest to document {target} by cosine distance of embedding (index"), shown
    assert lines[1].startswith(f"  1. {target}  distance 0.0000  source owt"), shown

    # --where: applied before the search, so k rows that all match come back.
    only_c4 = winnow.similar(lake, id=target, k=5, where="source = 'c4' AND n_chars > 500").documents
    assert only_c4.num_rows == 5 and target not in only_c4.column("id").to_pylist()
    assert set(only_c4.column("source").to_pylist()) == {"c4"}
    n_chars = lake.docs().to_table(columns=["id", "n_chars"], filter="source = 'c4'").to_pydict()
    lengths = dict(zip(n_chars["id"], n_chars["n_chars"]))
    assert all(lengths[i] > 500 for i in only_c4.column("id").to_pylist())

    # --text: embedded with the column's recorded model and max_length; the planted document first.
    first_sentence = PLANTED["text"].split(". ")[0]
    found = winnow.similar(lake, text=first_sentence, k=3).documents
    assert found.column("id")[0].as_py() == PLANTED["id"], found.to_pylist()

    # Every verb keeps working with pylance on the indexed lake: ingest, score (the indexed
    # column too), select, sql; a new document is searched before the index is built again.
    extra = json.loads(OWT.read_text().splitlines()[901])
    winnow.ingest_files(lake, [str(_write(tmp_path / "extra.jsonl", [extra]))], source="owt")
    assert winnow.score(lake, "embed", params=EMBED).scored == 1
    assert winnow.score(lake, "gopher").scored == 281
    new = winnow.similar(lake, id=extra["id"], k=3)
    assert new.indexed and new.documents.column("id")[0].as_py() == extra["id"]
    assert "gopher_word_count" in new.documents.column_names  # the lake's numeric scores come along
    assert winnow.select(lake, "long", "SELECT id FROM docs WHERE gopher_word_count > 300").documents > 0
    assert winnow.query(lake, "SELECT count(embedding) AS n FROM docs").column("n").to_pylist() == [281]
    assert winnow.index(lake).rows == 281
    assert winnow.similar(lake, id=extra["id"], k=1).documents.column("id")[0].as_py() == extra["id"]


def test_similar_checks_k_and_where_before_loading_a_model(embedded, monkeypatch):
    """`similar --text foo -k 0` (or a bad --where) loaded the model (30-37 s, a progress bar)
    before refusing."""
    from winnow.scoring import similar

    def loaded(*args, **kwargs):
        raise AssertionError("the model was loaded to embed --text")

    monkeypatch.setattr(similar, "recorded_scorer", loaded)
    for args, says in ((["-k", "0"], "-k must be a whole number > 0, got 0"),
                       (["-k", "-3"], "-k must be a whole number > 0, got -3"),
                       (["--where", "no_such_column > 1"], "--where 'no_such_column > 1' is not a filter over docs"),
                       (["--where", "n_chars >> ("], "is not a filter over docs")):
        line = fails("similar", embedded.uri, "--text", "foo", *args, contains=says)
        assert "\n" not in line


def test_bad_input_is_one_line_and_writes_nothing(embedded, tmp_path):
    bare = winnow.init(tmp_path / "bare")
    rows = [json.loads(line) for line in OWT.read_text().splitlines()[:5]]
    winnow.ingest_files(bare, [str(_write(tmp_path / "five.jsonl", rows))], source="owt")
    state = lake_state(bare)
    line = fails("similar", bare.uri, "--id", rows[0]["id"])
    assert f"docs has no column 'embedding': embed the documents first: winnow score {bare.uri} embed" in line, line
    with pytest.raises(UsageError, match=f"winnow score {bare.uri} embed"):
        winnow.index(bare)
    with pytest.raises(UsageError, match="column 'n_chars' is int64, not a vector"):
        winnow.index(bare, "n_chars")
    assert lake_state(bare) == state

    winnow.score(bare, "embed", params=EMBED)
    state = lake_state(bare)
    fails("index", bare.uri, contains="needs at least 256 rows with a vector in 'embedding'; docs has 5")
    assert lake_state(bare) == state
    exact = winnow.similar(bare, id=rows[3]["id"], k=2)  # an exact search needs no index
    assert not exact.indexed and exact.documents.column("id")[0].as_py() == rows[3]["id"]

    lake = embedded
    state = lake_state(lake)
    fails("similar", lake.uri, "--id", "no-such-doc", contains="no document with id 'no-such-doc'")
    with pytest.raises(UsageError, match="--where 'no_such_column > 1' is not a filter over docs"):
        winnow.similar(lake, id="owt-1000-0005", where="no_such_column > 1")
    with pytest.raises(UsageError, match="exactly one of --id ID or --text TEXT"):
        winnow.similar(lake, id="owt-1000-0005", text="both")
    with pytest.raises(UsageError, match="--sub-vectors 7 does not divide the dimension 384"):
        winnow.index(lake, sub_vectors=7)
    with pytest.raises(UsageError, match="--partitions must be a whole number > 0"):
        winnow.index(lake, partitions=0)
    with pytest.raises(UsageError, match="not a vector"):
        winnow.similar(lake, id="owt-1000-0005", column="n_chars")
    with pytest.raises(UsageError, match="-k must be a whole number > 0"):
        winnow.similar(lake, id="owt-1000-0005", k=0)
    with pytest.raises(UsageError, match="--text is empty"):
        winnow.similar(lake, text="   ")
    assert lake_state(lake) == state
