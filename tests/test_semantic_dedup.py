"""Semantic dedup (SemDeDup) as columns: `winnow dedup LAKE --method semantic` on real
OpenWebText documents embedded with the offline all-MiniLM-L6-v2 (reading 64 tokens per
document, to stay fast), with planted copies: each an exact copy with one real sentence
(from a document outside the lake) added after its first sentence (half of them: within what
the model reads, mostly) or at a random sentence boundary (the others)."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import winnow
from winnow.lake import UsageError
from winnow.scoring.dedup.semantic import components, default_clusters, normalize_rows

from .helpers import OWT, cli, fails, lake_state

EMBED = {"max_length": 64}
ORIGINALS, COPIES = 80, 24
THRESHOLDS = (0.95, 0.9, 0.8, 0.7)


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text.strip())


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """(lake, {copy id: original id}, {copy id: whether the added sentence is within what the model reads})."""
    root = tmp_path_factory.mktemp("semantic")
    lines = OWT.read_text().splitlines()
    originals = [json.loads(line) for line in lines[:ORIGINALS]]
    pool = [s for line in lines[600:700] for s in sentences(json.loads(line)["text"]) if 40 <= len(s) <= 200]
    rng = random.Random(13)
    from transformers import AutoTokenizer

    from winnow.scoring.scorers.embed import default_model

    tokenizer = AutoTokenizer.from_pretrained(default_model())
    copies, truth, seen = [], {}, {}
    for i, doc in enumerate(rng.sample(originals, COPIES)):
        parts = sentences(doc["text"])
        at = 1 if i % 2 == 0 else rng.randint(1, len(parts))
        added = " ".join(parts[:at] + [rng.choice(pool)] + parts[at:])
        copy_id = f"planted-{i:02d}"
        copies.append({"id": copy_id, "text": added})
        truth[copy_id] = doc["id"]
        before = len(tokenizer(" ".join(parts[:at]), add_special_tokens=False)["input_ids"])
        seen[copy_id] = before < EMBED["max_length"] - 2  # [CLS] and [SEP] take two of the tokens read
    path = root / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in originals + copies))
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(path)], source="owt")
    winnow.score(lake, "embed", params=EMBED)
    return lake, truth, seen


def clusters_of(lake) -> tuple[list[str], list, list]:
    t = lake.docs().to_table(columns=["id", "semdup_cluster", "semdup_keep"])  # row order
    return t.column("id").to_pylist(), t.column("semdup_cluster").to_pylist(), t.column("semdup_keep").to_pylist()


def found_pairs(ids, cluster) -> set[frozenset]:
    """Every pair of documents in one cluster."""
    members: dict[str, list[str]] = {}
    for doc_id, c in zip(ids, cluster):
        if c is not None:
            members.setdefault(c, []).append(doc_id)
    return {frozenset((a, b)) for group in members.values() for a in group for b in group if a < b}


@pytest.mark.measure
def test_planted_copies_are_found(planted):
    lake, truth, seen = planted
    want = {frozenset(p) for p in truth.items()}
    report = winnow.dedup(lake, "semantic", progress=None)
    assert report.method == "semantic" and report.columns == ("semdup_cluster", "semdup_keep")
    assert report.rows == ORIGINALS + COPIES and report.changed == report.rows
    ids, cluster, keep = clusters_of(lake)

    # semdup_cluster is the cluster's smallest id; one kept member per cluster (that id)
    rows = {doc_id: row for row, doc_id in enumerate(ids)}
    groups: dict[str, list[str]] = {}
    for doc_id, c in zip(ids, cluster):
        if c is not None:
            groups.setdefault(c, []).append(doc_id)
    for c, group in groups.items():
        assert len(group) >= 2 and c == min(group)
        assert [d for d in group if keep[rows[d]]] == [min(group)]
    assert all(k for c, k in zip(cluster, keep) if c is None)
    assert report.clusters == len(groups) and report.duplicates == sum(len(g) - 1 for g in groups.values())

    # recall and precision over pairs, at the default threshold and lower ones (each rerun
    # writes only the rows whose values change)
    in_window = {frozenset((c, o)) for c, o in truth.items() if seen[c]}
    lines = [f"{len(want)} planted pairs, {len(in_window)} with the added sentence within the {EMBED['max_length']} tokens read"]
    measured = {}
    for threshold in THRESHOLDS:
        r = report if threshold == 0.95 else winnow.dedup(lake, "semantic", threshold=threshold, progress=None)
        got = found_pairs(*clusters_of(lake)[:2])
        recall = len(got & want) / len(want)
        precision = len(got & want) / len(got) if got else 1.0
        seen_recall = len(got & in_window) / len(in_window) if in_window else 1.0
        measured[threshold] = (recall, precision, got)
        lines.append(f"threshold {threshold}: recall {recall:.3f} (sentence read: {seen_recall:.3f}, not read: "
                     f"{len((got & want) - in_window) / max(len(want - in_window), 1):.3f}), precision "
                     f"{precision:.3f}, {len(got)} pairs found, {r.changed} rows written")
    print("\n" + "\n".join(lines))
    recall, precision, got = measured[0.95]
    assert want - in_window <= got  # a copy whose added sentence the model does not read has the same vector
    assert recall >= len(want - in_window) / len(want) and precision >= 0.99
    assert [measured[t][0] for t in THRESHOLDS] == sorted(measured[t][0] for t in THRESHOLDS)  # lower finds more
    assert all(p >= 0.99 for _, p, _ in measured.values())
    assert measured[0.7][0] >= 0.9  # a sentence the model reads moves the vector, here to cosine ~0.7-0.95


def test_rerun_keep_by_and_the_command(planted):
    lake, truth, _ = planted
    winnow.dedup(lake, "semantic", progress=None)
    again = winnow.dedup(lake, "semantic", progress=None)
    assert again.changed == 0 and again.lake_version == lake.docs().version

    # keep the longest member: each found copy (the original plus a sentence) wins over its original
    out = cli("dedup", lake.uri, "--method", "semantic", "--keep-by", "n_chars", "--no-progress").stdout
    assert out.startswith(f"dedup semantic: {ORIGINALS + COPIES} rows, ") and "lake version" in out, out
    t = lake.docs().to_table(columns=["id", "n_chars", "semdup_cluster", "semdup_keep"]).to_pylist()
    by_cluster: dict[int, list[dict]] = {}
    for r in t:
        if r["semdup_cluster"] is not None:
            by_cluster.setdefault(r["semdup_cluster"], []).append(r)
    for members in by_cluster.values():
        best = max(members, key=lambda r: (r["n_chars"], [-ord(ch) for ch in r["id"]]))
        assert [r["id"] for r in members if r["semdup_keep"]] == [best["id"]]
    kept_copies = {r["id"] for r in t if r["semdup_keep"] and r["id"] in truth and r["semdup_cluster"] is not None}
    assert kept_copies  # the copies are longer, so kept
    metric = winnow.query(lake, "SELECT scorer, params, status FROM metrics WHERE metric = 'semdup_keep'").to_pylist()[0]
    assert metric["scorer"] == "dedup-semantic" and metric["status"] == "done"
    assert json.loads(metric["params"])["keep_by"] == "n_chars"


def test_bad_input_writes_nothing(planted, tmp_path):
    lake, _, _ = planted
    state = lake_state(lake)
    with pytest.raises(UsageError, match="--threshold must be a cosine similarity in"):
        winnow.dedup(lake, "semantic", threshold=1.5)
    with pytest.raises(UsageError, match="--clusters must be a whole number > 0"):
        winnow.dedup(lake, "semantic", clusters=0)
    with pytest.raises(UsageError, match="column 'n_chars' is int64, not a vector"):
        winnow.dedup(lake, "semantic", column="n_chars")
    with pytest.raises(UsageError, match="keep-by"):
        winnow.dedup(lake, "semantic", keep_by="no_such_column + 1")
    assert lake_state(lake) == state

    bare = winnow.init(tmp_path / "bare")
    path = tmp_path / "three.jsonl"
    path.write_text("".join(line + "\n" for line in OWT.read_text().splitlines()[:3]))
    winnow.ingest_files(bare, [str(path)], source="owt")
    state = lake_state(bare)
    line = fails("dedup", bare.uri, "--method", "semantic", "--no-progress")
    assert f"winnow score {bare.uri} embed" in line, line
    assert lake_state(bare) == state


def test_rows_without_a_vector_stop_the_job(planted, tmp_path):
    lake, _, _ = planted
    path = tmp_path / "one.jsonl"
    path.write_text(OWT.read_text().splitlines()[950] + "\n")
    winnow.ingest_files(lake, [str(path)], source="owt")  # not embedded yet
    state = lake_state(lake)
    with pytest.raises(UsageError, match=rf"1 of {ORIGINALS + COPIES + 1} rows have no 'embedding' yet: embed them first"):
        winnow.dedup(lake, "semantic", progress=None)
    assert lake_state(lake) == state


def test_components_equal_a_brute_force_over_blocks():
    """Components over blocks of any size equal connected components of the full matrix of
    pairs at >= threshold within each k-means cluster."""
    rng = np.random.default_rng(5)
    for trial in range(30):
        n = int(rng.integers(2, 200))
        centers = rng.normal(size=(max(n // 4, 1), 24)).astype(np.float32)
        x = centers[rng.integers(0, len(centers), n)] + rng.normal(scale=0.25, size=(n, 24)).astype(np.float32)
        x[rng.integers(0, n)] = np.nan  # an empty document's vector
        usable = normalize_rows(x)
        rows = np.flatnonzero(usable)
        labels = rng.integers(0, 3, len(rows))
        got = np.full(n, -1)
        got[rows] = components(x[rows], labels, 0.9, rows=rows, block=int(rng.integers(1, 64)))
        sims = x[rows] @ x[rows].T
        pairs = (sims >= 0.9) & (labels[:, None] == labels[None, :])
        np.fill_diagonal(pairs, False)
        _, comp = connected_components(coo_matrix(pairs), directed=False)
        want = np.full(n, -1)
        for c in np.unique(comp):
            members = rows[comp == c]
            if len(members) > 1:
                want[members] = members.min()
        assert (got == want).all(), trial
    assert default_clusters(1_000_000) == 1000 and default_clusters(0) == 1
