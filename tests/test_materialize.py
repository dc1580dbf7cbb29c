"""Materialization on real data: shards decode to the selected texts with both real
tokenizers, byte-identical reruns, resume after a kill, refusal of the wrong tokenizer."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow
from winnow.train.materialize.shards import ShardError, open_shards
from winnow.lake.tokenizer import load_tokenizer

from .helpers import C4, GITHUB, OWT, SHARED, WINNOW, cli, fails, kill_after_shards, lake_state

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
    selected = set(winnow.select_rows(lake, "sample")["id"].to_pylist())
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
    kill_after_shards(args, out, 3)
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
    assert table.num_rows == winnow.select_rows(lake, "sample").num_rows
    winnow.materialize(lake, "sample", tmp_path / "j", format="jsonl", shard_docs=50)
    rows = [json.loads(x) for p in sorted((tmp_path / "j").glob("part-*.jsonl")) for x in p.read_text().splitlines()]
    texts = texts_by_id(lake)
    assert len(rows) == table.num_rows and all(texts[r["id"]] == r["text"] for r in rows)
    assert json.loads((tmp_path / "j" / "manifest.json").read_text())["documents"] == len(rows)


def test_bad_options_are_refused_before_anything_is_written(lake, tmp_path):
    """Each was a traceback (a Rust panic for the column, NotADirectoryError for the file), or
    was accepted and failed later or silently (--shard-docs 0 never ended)."""
    before = lake_state(lake)
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    out = tmp_path / "out"
    base = ("materialize", lake.uri, "sample", "--no-progress")
    cases = [
        (("--out", out, "--format", "parquet", "--column", "nosuchcol"), "--column 'nosuchcol': docs has no such column"),
        (("--out", afile, "--tokenizer", SP), f"--out {afile} is a file, not a folder"),
        (("--out", out, "--format", "jsonl", "--shard-docs", "0"), "--shard-docs must be > 0, got 0"),
        (("--out", out, "--tokenizer", SP, "--shard-tokens", "0"), "--shard-tokens must be > 0, got 0"),
        (("--out", out, "--tokenizer", SP, "--seq-len", "-1"), "--seq-len must be > 0, got -1"),
    ]
    for args, message in cases:
        fails(*base, *args, code=2, contains=message, timeout=120)
        assert not out.exists() and afile.read_text() == "not a folder"
    api = [
        (dict(format="tokens", tokenizer=SP, columns=["url"]),
         "columns are kept only with --format parquet or jsonl or hf"),
        (dict(format="parquet", tokenizer=SP), "--format parquet writes text, not tokens"),
        (dict(format="csv"), "--format 'csv': use one of tokens, megatron, datatrove, parquet, jsonl, hf"),
        (dict(tokenizer=SP, shuffle=-1), "--shuffle -1: a seed is an integer from 0 to 2**63 - 1"),
        (dict(tokenizer=SP, shuffle=1, order="n_chars"), "give --shuffle or --order, not both"),
        (dict(tokenizer=SP, order="nosuchcol"), "--order 'nosuchcol': neither the selection 'sample' nor docs"),
        (dict(tokenizer=SP, out=afile / "below"), f"--out {afile / 'below'}: {afile} is a file"),
    ]
    for kwargs, message in api:
        kwargs.setdefault("out", out)
        with pytest.raises(winnow.UsageError, match=re.escape(message)):
            winnow.materialize(lake, "sample", **kwargs)
        assert not out.exists()
    assert lake_state(lake) == before


def test_an_id_missing_from_docs_is_one_error_before_anything_is_written(lake, tmp_path):
    """Selections are refused at creation when their ids are not in docs; one written before
    that (here straight into the catalog) still gets one clear error from materialize."""
    version = lake.docs().version
    for name, sql in (("ghost", "SELECT id FROM docs UNION ALL SELECT 'no-such-doc' AS id"),
                      ("numbers", "SELECT 1 AS id")):
        lake.pin(f"selection-{name}", version)
        lake.append("selections", pa.Table.from_pylist([{
            "name": name, "sql": sql, "lake_version": version, "seed": 0, "documents": None,
            "created_at": datetime.now(timezone.utc), "winnow_version": "test"}],
            schema=lake.dataset("selections").schema))
    out = tmp_path / "ghost"
    error = fails("materialize", lake.uri, "ghost", "--out", out, "--tokenizer", SP, "--no-progress", code=2)
    assert "'no-such-doc'" in error and "not in docs" in error
    assert not out.exists()
    with pytest.raises(winnow.UsageError):
        winnow.materialize(lake, "numbers", out, format="jsonl")
    assert not out.exists()


def test_an_empty_selection_is_one_usage_error_and_nothing_is_written(lake, tmp_path):
    winnow.select(lake, "empty", "SELECT id FROM docs WHERE false")
    for args in (("--tokenizer", SP), ("--format", "jsonl"), ("--format", "parquet", "--no-progress")):
        out = tmp_path / args[1].rsplit("/", 1)[-1]
        fails("materialize", lake.uri, "empty", "--out", out, *args, code=2,
              contains="selection empty has no documents; nothing to materialize")
        assert not out.exists()


def test_a_damaged_finished_folder_is_refused_and_overwrite_replaces_it(lake, tmp_path):
    out = tmp_path / "s"
    winnow.materialize(lake, "sample", out, tokenizer=SP, shard_tokens=50_000)
    good = {p.name: p.read_bytes() for p in out.glob("shard-*")}
    manifest = out / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:100])
    with pytest.raises(winnow.UsageError, match="manifest.json is not readable JSON \\(pass --overwrite"):
        winnow.materialize(lake, "sample", out, tokenizer=SP, shard_tokens=50_000)
    r = winnow.materialize(lake, "sample", out, tokenizer=SP, shard_tokens=50_000, overwrite=True)
    assert not r.already and {p.name: p.read_bytes() for p in out.glob("shard-*")} == good
    (out / "shard-00001.idx.npy").unlink()  # a finished folder with a shard's file gone is not "already"
    with pytest.raises(winnow.UsageError, match="shard-00001.idx.npy: missing"):
        winnow.materialize(lake, "sample", out, tokenizer=SP, shard_tokens=50_000)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(winnow.UsageError, match="holds files that are not a winnow materialization"):
        winnow.materialize(lake, "sample", foreign, tokenizer=SP, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "mine"


def interrupt(args: list, out: Path, ready) -> subprocess.CompletedProcess:
    """Start `winnow ARGS`, send it SIGINT (Ctrl-C) once `ready()`, and wait for it."""
    def ctrl_c_raises():  # a process started in the background may inherit SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([str(WINNOW), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_raises)
    deadline = time.time() + 120
    while not ready():
        assert proc.poll() is None, "finished before it could be interrupted"
        assert time.time() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def test_an_interrupted_run_with_no_finished_shard_leaves_nothing(lake, tmp_path):
    out = tmp_path / "int0"
    args = ["materialize", lake.uri, "sample", "--out", out, "--tokenizer", SP, "--no-progress"]
    proc = interrupt(args, out, lambda: (out / "shard-00000.bin.tmp").exists())  # one shard, half written
    assert proc.returncode == 130 and "error: interrupted" in proc.stderr
    assert not out.exists()


def test_an_interrupted_run_keeps_its_shards_to_resume_and_overwrite_starts_over(lake, tmp_path):
    whole = tmp_path / "whole"
    winnow.materialize(lake, "sample", whole, tokenizer=SP, shard_tokens=20_000)
    out = tmp_path / "int"
    args = ["materialize", lake.uri, "sample", "--out", out, "--tokenizer", SP, "--shard-tokens", "20000",
            "--no-progress"]
    proc = interrupt(args, out, lambda: len(list(out.glob("shard-*.bin"))) >= 2)
    assert proc.returncode == 130 and "error: interrupted" in proc.stderr
    assert not list(out.glob("*.tmp")) and not (out / "manifest.json").exists()
    finished = len(json.loads((out / "progress.json").read_text())["shards"])
    assert finished >= 1  # a shard whose file was renamed but not yet recorded is not finished
    again, broken = tmp_path / "again", tmp_path / "broken"
    shutil.copytree(out, again)
    shutil.copytree(out, broken)
    (broken / "shard-00000.ids.txt").unlink()  # an unfinished folder missing a finished shard's file
    with pytest.raises(winnow.UsageError, match="whose shard-00000.ids.txt is missing \\(pass --overwrite"):
        winnow.materialize(lake, "sample", broken, tokenizer=SP, shard_tokens=20_000)
    # the same call again resumes after the finished shards ...
    r = winnow.materialize(lake, "sample", out, tokenizer=SP, shard_tokens=20_000)
    assert r.resumed_from_shard == finished and not (out / "progress.json").exists()
    # ... and --overwrite starts over
    r = winnow.materialize(lake, "sample", again, tokenizer=SP, shard_tokens=20_000, overwrite=True)
    assert r.resumed_from_shard == 0
    shards = [sorted(p.name for p in d.glob("shard-*")) for d in (whole, out, again)]
    assert shards[0] == shards[1] == shards[2]
    for name in shards[0]:
        assert (whole / name).read_bytes() == (out / name).read_bytes() == (again / name).read_bytes()
