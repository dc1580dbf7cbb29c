"""The key index (ingest/keyindex.py): a small ingest into a lake past the index's limit asks
the index about its own keys instead of reading the lake's, on both runners, and leaves the
lake that reading every key leaves; a lake made before the index gets it at its next ingest.

The limit is lowered with WINNOW_KEY_INDEX_ROWS so that the real data (1,449 documents) is
"large" (1,445 documents are kept of OWT and C4's 1,449); the reference lake is ingested with the default limit, which reads every key.
"""

from __future__ import annotations

import json

import pytest

import winnow
from winnow.ingest import keyindex
from winnow.lake.engine import LocalEngine

from .helpers import C4, OWT, texts


class PartitionedLocal(LocalEngine):
    """The local process pool taken as an engine whose workers are elsewhere: the partitioned
    runner (the one Ray uses) on local processes, as bench/ingest_partitioned.py runs it."""

    name = "local-partitioned"
    runs_in_process = False


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """12 records: 3 texts the lake holds, 2 new texts with ids the lake holds (they get their
    content hash as id), an id with a quote, 4 new texts, 2 copies of one of those (dropped)."""
    owt, c4 = texts(OWT, 10), texts(C4, 3)
    lines = [{"id": f"again-{i}", "text": t} for i, t in enumerate([owt[1], owt[5], c4[2]])]
    lines += [{"id": "owt-1000-0003", "text": "A new text whose id the lake holds. " * 20},
              {"id": "owt-1000-0004", "text": "Another new text whose id the lake holds. " * 20},
              {"id": "it's new", "text": "A new text whose id has a quote in it. " * 20}]
    lines += [{"id": f"new-{i}", "text": f"New text number {i}, not in the lake. " * 30} for i in range(4)]
    lines += [{"id": f"copy-{i}", "text": "New text number 2, not in the lake. " * 30} for i in range(2)]
    path = tmp_path_factory.mktemp("small") / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def _rows(lake):
    t = lake.docs().to_table(columns=["id", "content_hash", "source", "n_chars"]).sort_by("id")
    return t.to_pylist()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, small):
    """The lake that reading every key gives: OWT and C4, then the small input."""
    lake = winnow.init(tmp_path_factory.mktemp("reference") / "lake")
    winnow.ingest_files(lake, [OWT, C4], workers=2)
    report = winnow.ingest_files(lake, [small], workers=1)
    return _rows(lake), report.total()


@pytest.mark.parametrize("engine", [None, PartitionedLocal(2)], ids=["local", "partitioned"])
def test_a_small_ingest_asks_the_key_index_and_gives_the_lake_reading_every_key_gives(
        tmp_path, monkeypatch, small, reference, engine):
    """~8 s per runner: 2 ingests."""
    monkeypatch.setenv("WINNOW_KEY_INDEX_ROWS", "100")
    lake = winnow.init(tmp_path / "lake")
    options = {"engine": engine} if engine else {"workers": 2}
    winnow.ingest_files(lake, [OWT, C4], **options)
    ds = lake.docs()
    assert keyindex.lag(ds) == {"content_hash": 0, "id": 0}  # built at the end of the ingest
    assert {ix.name for ix in ds.describe_indices()} == {"content_hash_keys", "id_keys"}
    keys = keyindex.prepare(lake, 12)
    assert keys.looks_up("content_hash") and keys.looks_up("id") and not keys.held["content_hash"]
    assert keys.known("id", ["owt-1000-0003", "it's new", "nope"]) == {"owt-1000-0003"}

    report = winnow.ingest_files(lake, [small], **options)
    rows, total = reference
    assert (report.total().written, report.total().duplicates) == (total.written, total.duplicates) == (7, 5)
    assert _rows(lake) == rows
    assert keyindex.lag(lake.docs()) == {"content_hash": 7, "id": 7}  # under the limit: not updated


def test_a_lake_made_before_the_index_gets_it_when_a_run_looks_keys_up(tmp_path, monkeypatch, small, reference):
    """~5 s."""
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [OWT, C4], workers=2)  # default limit: no index
    rows = lake.docs().count_rows()
    assert rows > 1400 and keyindex.lag(lake.docs()) == {"content_hash": rows, "id": rows}
    monkeypatch.setenv("WINNOW_KEY_INDEX_ROWS", "100")
    winnow.ingest_files(lake, [small], workers=1)
    assert keyindex.lag(lake.docs()) == {"content_hash": 7, "id": 7}
    assert _rows(lake) == reference[0]


def test_the_key_index_answers_after_compaction(tmp_path, monkeypatch, small, reference):
    """~8 s: Lance's compaction (`winnow compact`) carries the index over to the merged
    fragments, so an ingest into a compacted lake still finds every key it holds."""
    monkeypatch.setenv("WINNOW_KEY_INDEX_ROWS", "100")
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [OWT], workers=2)
    winnow.ingest_files(lake, [C4], workers=2)
    fragments = len(lake.docs().get_fragments())
    winnow.compact(lake)
    ds = lake.docs()
    assert len(ds.get_fragments()) < fragments
    assert keyindex.lag(ds) == {"content_hash": 0, "id": 0}
    assert keyindex.prepare(lake, 12).known("id", ["owt-1000-0003", "nope"]) == {"owt-1000-0003"}
    report = winnow.ingest_files(lake, [small], workers=1)
    assert (report.total().written, report.total().duplicates) == (7, 5)
    assert _rows(lake) == reference[0]
