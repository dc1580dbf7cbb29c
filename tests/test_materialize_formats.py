"""Other trainers' formats, read back by their own readers on real data: Megatron-LM's indexed
dataset (megatron-core's IndexedDataset), datatrove's tokenized files (datatrove's readers,
the data nanotron trains on), a selection as a Hugging Face dataset (`datasets.load_dataset`,
offline) whose card's SQL selects the same ids again, and Hugging Face datasets ingested
through fsspec's `hf://` (a local stand-in for the Hub: tests/hub_standin.py)."""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import winnow
from winnow.train.materialize import datatrove, megatron
from winnow.train.materialize.shards import ShardError, ShardWriter, open_shards

from .helpers import C4, GITHUB, ROOT, SHARED, cli, fails, same_shards

GPT2 = str(SHARED / "tokenizers" / "gpt2-tokenizer.json")
SHARD_TOKENS = 20_000  # ~13 shards of the selection
TOP = "SELECT id, n_tokens FROM docs WHERE n_tokens > 50 AND rps_doc_word_count > 20 -- not n_chars"


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """~500 real documents, counted with GPT-2's tokenizer and a RedPajama signal; `top`
    leaves out a validation set `val`."""
    lake = winnow.init(tmp_path_factory.mktemp("formats") / "lake")
    winnow.ingest_files(lake, [str(C4), str(GITHUB)])
    winnow.score(lake, "tokens", params={"tokenizer": GPT2})
    winnow.score(lake, "rps", params={})
    winnow.select(lake, "val", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.1", seed=3)
    winnow.select(lake, "top", TOP, seed=7, exclude=["val"])
    return lake


@pytest.fixture(scope="module")
def reference(lake, tmp_path_factory):
    """winnow's own shards of `top` (one process): the documents every format must hold."""
    out = tmp_path_factory.mktemp("ref") / "tokens"
    winnow.materialize(lake, "top", out, tokenizer=GPT2, shard_tokens=SHARD_TOKENS, workers=1)
    shards = open_shards(out)
    ids = [i for s in range(len(shards.tokens)) for i in shards.ids(s)]
    return out, ids, [np.array(a) for _, _, a in shards.documents()]


@pytest.fixture(scope="module")
def one(lake, tmp_path_factory):
    """`top` in Megatron's and datatrove's formats, written by one process."""
    root, made = tmp_path_factory.mktemp("one"), {}
    for fmt in ("megatron", "datatrove"):
        r = winnow.materialize(lake, "top", root / fmt, tokenizer=GPT2, format=fmt, shard_tokens=SHARD_TOKENS,
                               workers=1)
        assert r.workers == 1 and r.shards > 5
        made[fmt] = root / fmt
    return made


def _same_documents(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want) > 300
    bad = [k for k, (g, w) in enumerate(zip(got, want)) if not np.array_equal(g, w)]
    assert not bad, f"{len(bad)} documents differ, the first is document {bad[0]}"


def test_megatron_core_reads_every_document_back(reference, one, tmp_path):
    """~35 s at load 10, most of it importing megatron.core (torch and its model stack)."""
    with warnings.catch_warnings():  # megatron.core warns that Transformer Engine and Apex are not installed
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import DType, IndexedDataset

    for vocab in (32_000, 50_257, 65_499, 65_500, 65_536, 128_256):  # the dtype Megatron chooses
        assert megatron.dtype_for(vocab) == np.dtype(DType.optimal_dtype(vocab))
    ref, ids, want = reference
    shutil.copytree(one["megatron"], tmp_path / "m")
    got, got_ids = [], []
    for shard in sorted((tmp_path / "m").glob("shard-*.bin")):
        ds = IndexedDataset(str(shard.with_suffix("")))
        assert ds.index.dtype == np.uint16 and list(ds.document_indices) == list(range(len(ds) + 1))
        got += [np.array(ds[k]) for k in range(len(ds))]  # copied: the arrays are views of ds's memory map
        got_ids += shard.with_suffix(".ids.txt").read_text().split()
        assert shard.read_bytes() == (ref / shard.name).read_bytes()  # uint16 both: winnow's token bytes
        del ds
    _same_documents(got, want)
    shards = open_shards(tmp_path / "m")  # winnow's checks: the .bin's checksum, the .idx field by field
    assert shards.manifest["format"] == "winnow-megatron" and shards.manifest["dtype"] == "uint16"
    assert got_ids == ids and shards.manifest["tokens"] == sum(map(len, want))
    big = tmp_path / "big"  # a vocabulary past 65,500: int32, as Megatron writes it
    big.mkdir()
    writer = ShardWriter(big, 128_256, 1 << 20, layout=megatron.LAYOUT)
    docs = [np.array([128_000, 5, 70_000, 128_255]), np.array([1]), np.array([65_535, 65_536, 0])]
    entry = next(iter(writer.add_many(["a", "b", "c"], np.concatenate(docs), np.array([4, 1, 3]))), None)
    entry = entry or writer.close_shard()
    ds = IndexedDataset(str(big / "shard-00000"))
    assert ds.index.dtype == np.int32 and [list(ds[k]) for k in range(3)] == [list(d) for d in docs]
    del ds
    idx = tmp_path / "m" / "shard-00001.idx"
    data = bytearray(idx.read_bytes())
    data[-8] ^= 1  # the last document index
    idx.write_bytes(bytes(data))
    with pytest.raises(ShardError, match=re.escape(f"{idx}: sequence pointers or document indices")):
        open_shards(tmp_path / "m", verify=False)


def test_datatrove_reads_every_document_back(reference, one):
    from datatrove.io import get_datafolder
    from datatrove.pipeline.tokens.merger import get_data_reader, load_doc_ends
    from datatrove.utils.dataset import DatatroveFolderDataset

    _, ids, want = reference
    folder = get_datafolder(str(one["datatrove"]))
    files = folder.list_files(glob_pattern="*.ds")
    got = []
    for f in files:  # the readers of datatrove's merger: one document at a time, from the .ds.index
        ends = load_doc_ends(folder.open(f"{f}.index", "rb"))
        got += [np.frombuffer(b, np.uint16) for b in get_data_reader(folder.open(f, "rb"), ends, 2)]
    _same_documents(got, want)
    assert [i for f in files for i in folder.open(f[:-3] + ".ids.txt", "rt").read().split()] == ids
    seq = 1023  # the dataset nanotron trains on: windows of seq + 1 tokens, positions restart at each document
    ds = DatatroveFolderDataset(str(one["datatrove"]), seq_len=seq, filename_pattern="*.ds", return_positions=True)
    flat, starts = np.concatenate(want), np.cumsum([0, *map(len, want)])
    at, shard_start = 0, 0
    for file in ds.files:
        n = len(file)
        for k in range(n):
            item = ds[at + k]
            window = shard_start + k * (seq + 1)
            assert np.array_equal(item["input_ids"].numpy(), flat[window:window + seq + 1])
            restarts = np.flatnonzero(item["positions"].numpy() == 0) + window
            assert set(restarts[1:]) <= set(starts.tolist())
        at += n
        shard_start += file.fsize // 2
    assert len(ds) == at > 0 and shard_start == len(flat)
    meta = (one["datatrove"] / "shard-00000.ds.metadata").read_text().split("\n")
    tokens = open_shards(one["datatrove"]).manifest["shards"][0]["tokens"]
    assert meta == ["gpt2-tokenizer.json|2", str(tokens), datatrove.si(tokens)]


def test_dtypes_and_token_counts_as_datatrove_writes_them():
    import humanize

    for vocab in (32_000, 50_257, 65_536, 65_537, 128_256):
        assert datatrove.dtype_for(vocab).itemsize == (4 if vocab > 65_536 else 2)
    for count in (0, 1, 9, 999, 1_000, 9_995, 99_949, 99_950, 999_999, 1_234_567, 10**12 - 1, 7 * 10**15):
        assert datatrove.si(count) == humanize.metric(count, "T"), count


def test_every_engine_worker_count_and_resume_writes_the_same_bytes(lake, one, ray_cluster, tmp_path):
    """Megatron: killed after 2 shards on local with 2 workers, resumed on Ray; datatrove: 2
    local workers. Each equals one process's bytes (~45 s at load 12)."""
    out = tmp_path / "killed"
    args = ["materialize", lake.uri, "top", "--out", out, "--tokenizer", GPT2, "--format", "megatron",
            "--shard-tokens", SHARD_TOKENS, "--no-progress"]
    killed = cli(*args, "--workers", "2", check=False, env={**os.environ, "WINNOW_KILL_AT": "materialize:shard:2"})
    assert killed.returncode == -9 and len(list(out.glob("shard-*.bin"))) == 2
    resumed = cli(*args, "--engine", "ray", "--ray-address", ray_cluster, "--workers", "2")
    assert "resumed after 2 finished shard(s)" in resumed.stdout
    same_shards(one["megatron"], out)
    r = winnow.materialize(lake, "top", tmp_path / "local-2", tokenizer=GPT2, format="datatrove",
                           shard_tokens=SHARD_TOKENS, workers=2)
    assert (r.engine, r.workers) == ("local", 2)
    same_shards(one["datatrove"], tmp_path / "local-2")
    fails("train", lake.uri, one["datatrove"], "--dry-run", code=2,
          contains="shards in winnow-datatrove's format are for another trainer; winnow train reads winnow's own")


def _card_sql(card: str) -> str:
    provenance = card.split("## Provenance", 1)[1]
    return re.search(r"```sql\n(.*?)\n```", provenance, re.S).group(1)


def test_a_selection_as_a_hugging_face_dataset(lake, reference, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "hf"
    res = cli("materialize", lake.uri, "top", "--out", out, "--format", "hf", "--column", "source",
              "--column", "n_tokens", "--shard-docs", "150", "--no-progress")
    assert "3 shard(s)" in res.stdout
    assert sorted(p.name for p in (out / "data").iterdir()) == [f"train-0000{k}-of-00003.parquet" for k in range(3)]
    train = datasets.load_dataset(str(out), split="train")
    text = lake.docs().to_table(columns=["id", "text"])
    texts = dict(zip(text["id"].to_pylist(), text["text"].to_pylist()))
    _, ids, _ = reference
    assert train["id"] == ids  # the materialization's order, as in the token shards
    assert train["text"] == [texts[i] for i in ids] and train.column_names == ["id", "text", "source", "n_tokens"]
    card = (out / "README.md").read_text()
    assert _card_sql(card) == TOP and "- seed: 7" in card and "### Excluded: `val`" in card
    for column, scorer in (("n_tokens", "tokens"), ("rps_doc_word_count", "rps")):
        row = next(line for line in card.splitlines() if line.startswith(f"| `{column}` |"))
        assert f"| `{scorer}` | 1 |" in row, row
    assert "n_chars" not in card.split("## Score columns")[1]  # named in the SQL's comment only
    assert "gpt2-tokenizer.json" in card and f"| documents | {len(ids):,} |" in card
    assert f"| tokens | {sum(train['n_tokens']):,} (the lake's `n_tokens`" in card
    winnow.select(lake, "again", _card_sql(card), seed=int(re.search(r"- seed: (\d+)", card).group(1)),
                  exclude=re.findall(r"### Excluded: `(\w+)`", card))
    assert sorted(winnow.select_rows(lake, "again")["id"].to_pylist()) == sorted(ids)
    (out / "README.md").write_text(card.replace(f"num_examples: {len(ids)}", f"num_examples: {len(ids) - 1}"))
    with pytest.raises(datasets.exceptions.NonMatchingSplitsSizesError):  # datasets checks the card's count
        datasets.load_dataset(str(out), split="train", download_mode="force_redownload")


def test_hugging_face_datasets_are_ingested_through_fsspec(lake, tmp_path):
    """`hf://datasets/ORG/NAME/...` through the `hf` filesystem fsspec knows (huggingface_hub's
    HfFileSystem); here a local stand-in registered for `hf` in the command and its workers."""
    hub = tmp_path / "hub"
    (hub / "datasets" / "me").mkdir(parents=True)
    winnow.materialize(lake, "top", hub / "datasets" / "me" / "top", format="hf", shard_docs=200)
    site = tmp_path / "site"
    (site / "hub_standin-0.dist-info").mkdir(parents=True)
    (site / "hub_standin-0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-standin\nVersion: 0\n")
    (site / "hub_standin-0.dist-info" / "entry_points.txt").write_text(
        "[fsspec.specs]\nhf = tests.hub_standin:LocalHub\n")
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "WINNOW_HUB_ROOT": str(hub)}
    other = tmp_path / "other"
    cli("init", other, env=env)
    res = cli("ingest", other, "hf://datasets/me/top/data/*.parquet", "--workers", "2", "--no-progress", env=env)
    want = winnow.select_rows(lake, "top")["id"].to_pylist()
    assert f"total: read {len(want)} = written {len(want)} + duplicates 0 + rejected 0 · 3 input(s)" in res.stdout
    assert "hf://datasets/me/top/data/train-00002-of-00003.parquet: read" in res.stdout
    got = winnow.open(str(other)).docs().to_table(columns=["text"])["text"].to_pylist()
    texts = lake.docs().to_table(columns=["id", "text"])
    by_id = dict(zip(texts["id"].to_pylist(), texts["text"].to_pylist()))
    assert sorted(got) == sorted(by_id[i] for i in want)
    shutil.rmtree(hub)
