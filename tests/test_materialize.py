"""Materialization on real data: shards decode to the selected texts with both real
tokenizers, byte-identical reruns, resume after a kill, refusal of the wrong tokenizer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import winnow
from winnow.train.shards import ShardError, open_shards
from winnow.lake.tokenizer import load_tokenizer

from .conftest import C4, GITHUB, OWT, SHARED, WINNOW, cli

SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")
GPT2 = str(SHARED / "tokenizers" / "gpt2-tokenizer.json")
SELECTION = ("WITH c AS (SELECT id, n_bytes // 4 AS n_tokens, n_chars AS score FROM docs) "
             "SELECT id, n_tokens, score FROM sample_tokens(c, 2000, 600000, seed())")


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = winnow.init(tmp_path_factory.mktemp("mat") / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4), str(GITHUB)])
    winnow.select(lake, "sample", SELECTION, seed=11)
    return lake


def texts_by_id(lake) -> dict[str, str]:
    t = lake.docs().to_table(columns=["id", "text"])
    return dict(zip(t["id"].to_pylist(), t["text"].to_pylist()))


@pytest.mark.parametrize("tokenizer", [SP, GPT2])
def test_shards_decode_to_exactly_the_selected_texts(lake, tmp_path, tokenizer):
    r = winnow.materialize(lake, "sample", tmp_path / "out", tokenizer=tokenizer, shard_tokens=50_000)
    tok = load_tokenizer(tokenizer)
    shards = open_shards(tmp_path / "out", tokenizer=tok, verify=True)
    assert shards.manifest["dtype"] == "uint16" and r.shards == len(shards.manifest["shards"]) > 1
    texts = texts_by_id(lake)
    selected = set(winnow.selection(lake, "sample")["id"].to_pylist())
    seen = []
    for s, d, arr in shards.documents():
        doc_id = shards.ids(s)[d]
        assert arr[0] == tok.bos_id and arr[-1] == tok.eos_id
        assert tok.decode([int(x) for x in arr[1:-1]]) == texts[doc_id]
        seen.append(doc_id)
    assert sorted(seen) == sorted(selected) and r.documents == len(selected)
    assert r.tokens == sum(len(a) for _, _, a in shards.documents())
    assert shards.manifest["selection"]["seed"] == 11 and shards.manifest["tokenizer"]["vocab_size"] == tok.vocab_size


def test_same_seed_is_byte_identical_and_another_seed_reorders(lake, tmp_path):
    for d, seed in (("a", None), ("b", None), ("c", 99)):
        winnow.materialize(lake, "sample", tmp_path / d, tokenizer=SP, shuffle=seed)
    a, b, c = (sorted((tmp_path / d).glob("shard-*")) for d in "abc")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    ids = [(tmp_path / d / "shard-00000.ids.txt").read_text().split() for d in "ac"]
    assert ids[0] != ids[1] and sorted(ids[0]) == sorted(ids[1])


def test_order_by_a_column_gives_a_curriculum(lake, tmp_path):
    winnow.materialize(lake, "sample", tmp_path / "o", tokenizer=GPT2, order="n_chars", desc=True)
    ids = (tmp_path / "o" / "shard-00000.ids.txt").read_text().split()
    lengths = [len(texts_by_id(lake)[i]) for i in ids]
    assert lengths == sorted(lengths, reverse=True)


def test_killed_materialization_resumes_to_identical_bytes(lake, tmp_path):
    whole = tmp_path / "whole"
    winnow.materialize(lake, "sample", whole, tokenizer=SP, shard_tokens=20_000)
    out = tmp_path / "killed"
    args = [str(WINNOW), "materialize", lake.uri, "sample", "--out", str(out), "--tokenizer", SP,
            "--shard-tokens", "20000", "--no-progress"]
    proc = subprocess.Popen(args, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while len(list(out.glob("shard-*.bin"))) < 3:
        assert proc.poll() is None, "finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    res = cli(*args[1:])
    assert "resumed after" in res.stdout
    assert [p.read_bytes() for p in sorted(whole.glob("shard-*"))] == [p.read_bytes() for p in sorted(out.glob("shard-*"))]
    again = cli(*args[1:])
    assert "already materialized" in again.stdout


def test_the_reader_refuses_another_tokenizer_dtype_or_a_damaged_shard(lake, tmp_path):
    winnow.materialize(lake, "sample", tmp_path / "s", tokenizer=SP)
    with pytest.raises(ShardError, match="tokenizer mismatch"):
        open_shards(tmp_path / "s", tokenizer=load_tokenizer(GPT2))
    with pytest.raises(ShardError, match="dtype mismatch"):
        open_shards(tmp_path / "s", dtype="uint32")
    shard = tmp_path / "s" / "shard-00000.bin"
    shard.write_bytes(shard.read_bytes()[:-2])
    with pytest.raises(ShardError, match="manifest says"):
        open_shards(tmp_path / "s")


def test_parquet_and_jsonl_outputs_carry_text_and_columns(lake, tmp_path):
    winnow.materialize(lake, "sample", tmp_path / "p", format="parquet", columns=["source", "url"])
    table = pq.read_table(tmp_path / "p" / "part-00000.parquet")
    assert table.column_names == ["id", "text", "source", "url"]
    assert table.num_rows == winnow.selection(lake, "sample").num_rows
    winnow.materialize(lake, "sample", tmp_path / "j", format="jsonl", shard_docs=50)
    rows = [json.loads(x) for p in sorted((tmp_path / "j").glob("part-*.jsonl")) for x in p.read_text().splitlines()]
    texts = texts_by_id(lake)
    assert len(rows) == table.num_rows and all(texts[r["id"]] == r["text"] for r in rows)
    assert json.loads((tmp_path / "j" / "manifest.json").read_text())["documents"] == len(rows)
