"""Token shards are verified when they are opened: the manifest in itself (readable, totals
equal to its shard list), every shard's files, checksums (xxh3_128; sha256 in format 1) and
token ids inside the vocabulary. Damage is one clear error, never a traceback or a run
that trains on wrong tokens."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

import winnow
from winnow.train.llm.loader import split_shards
from winnow.train.materialize.shards import ShardError, ShardUsageError, open_shards

from .helpers import C4, SHARED, fails

SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A lake of 445 real documents and their shards (8 of ~30,000 tokens)."""
    root = tmp_path_factory.mktemp("shards")
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(C4)])
    winnow.select(lake, "all", "SELECT id FROM docs")
    winnow.materialize(lake, "all", root / "s", tokenizer=SP, shard_tokens=30_000)
    return lake, root / "s"


@pytest.fixture
def shards(made, tmp_path):
    """A copy of the shards, for a test to damage."""
    return shutil.copytree(made[1], tmp_path / "s")


def manifest(path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def write_manifest(path, m: dict) -> None:
    (path / "manifest.json").write_text(json.dumps(m))


def test_intact_shards_verify_and_record_xxh3(shards):
    m = manifest(shards)
    assert m["format_version"] == 2 and len(m["shards"]) >= 4
    assert all(len(e["xxh3_128"]) == 32 and "sha256" not in e for e in m["shards"])
    s = open_shards(shards)  # verify is the default
    assert sum(len(t) for t in s.tokens) == m["tokens"]


def test_a_truncated_manifest_is_one_clear_error(made, shards):
    path = shards / "manifest.json"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ShardError, match="manifest.json: not readable JSON"):
        open_shards(shards)
    lake, _ = made
    fails("train", lake.uri, shards, "--tokenizer", SP, "--ngpu", "0", "--dry-run", code=1,
          contains="manifest.json: not readable JSON")


def test_a_missing_index_or_id_file_is_one_clear_error(shards):
    (shards / "shard-00002.idx.npy").unlink()
    with pytest.raises(ShardError, match=r"shard-00002.idx.npy: missing"):
        open_shards(shards, verify=False)
    np.save(shards / "shard-00002.idx.npy", np.array([0, 5], dtype=np.int64))
    with pytest.raises(ShardError, match=r"shard-00002.idx.npy: the document index does not match"):
        open_shards(shards, verify=False)
    (shards / "shard-00002.ids.txt").unlink()
    with pytest.raises(ShardError, match=r"shard-00002.ids.txt: missing"):
        open_shards(shards, verify=False)


def test_the_manifests_totals_must_match_its_shard_list(shards):
    m = manifest(shards)
    write_manifest(shards, {**m, "tokens": m["tokens"] + 1})
    with pytest.raises(ShardError, match="tokens .* its shards add up to"):
        open_shards(shards, verify=False)
    write_manifest(shards, {**m, "shards": m["shards"][:-1]})  # a shard dropped from the list
    with pytest.raises(ShardError, match="documents .* its shards add up to"):
        open_shards(shards, verify=False)
    write_manifest(shards, {**m, "shards": [m["shards"][1], m["shards"][0], *m["shards"][2:]]})
    with pytest.raises(ShardError, match="shard 0 is not shard-00000.bin"):
        open_shards(shards, verify=False)


def test_the_loader_verifies_checksums_at_open(shards):
    from winnow.train.llm.loader import ShardDataLoader, ShardDataset

    ShardDataset(shards, seq_len=256, held_out=1)
    bin_ = shards / "shard-00001.bin"
    data = bytearray(bin_.read_bytes())
    data[1001] ^= 0x10  # one flipped bit: same size, a valid token id
    bin_.write_bytes(bytes(data))
    with pytest.raises(ShardError, match=r"shard-00001.bin: checksum mismatch"):
        ShardDataset(shards, seq_len=256, held_out=1)
    with pytest.raises(ShardError, match="checksum mismatch"):
        ShardDataLoader.Config(dataset_path=str(shards)).build(dp_world_size=1, dp_rank=0, seq_len=256,
                                                               local_batch_size=2)
    # the validation split reads only the last shard, so only that one is verified for it
    ShardDataset(shards, seq_len=256, split="validation", held_out=1)
    # verification can be turned off (dataloader.verify false)
    ShardDataLoader.Config(dataset_path=str(shards), verify=False).build(dp_world_size=1, dp_rank=0, seq_len=256,
                                                                         local_batch_size=2)


def test_token_ids_outside_the_vocabulary_are_refused(shards):
    """A shard whose checksum matches (it was written so) but holds an id the tokenizer does
    not have: it would crash the model's embedding with an IndexError."""
    import xxhash

    bin_ = shards / "shard-00000.bin"
    tokens = np.fromfile(bin_, dtype="<u2")
    tokens[10] = 40_000  # SentencePiece 32k
    tokens.tofile(bin_)
    m = manifest(shards)
    m["shards"][0]["xxh3_128"] = xxhash.xxh3_128_hexdigest(bin_.read_bytes())
    write_manifest(shards, m)
    with pytest.raises(ShardError, match="token id 40,000 is outside the tokenizer's vocabulary of 32,000"):
        open_shards(shards)


def test_format_1_manifests_with_sha256_are_still_read_and_verified(shards):
    m = manifest(shards)
    m["format_version"] = 1
    for e in m["shards"]:
        del e["xxh3_128"]
        e["sha256"] = hashlib.sha256((shards / e["file"]).read_bytes()).hexdigest()
    write_manifest(shards, m)
    open_shards(shards)
    bin_ = shards / "shard-00003.bin"
    data = bytearray(bin_.read_bytes())
    data[0] ^= 1
    bin_.write_bytes(bytes(data))
    with pytest.raises(ShardError, match="shard-00003.bin: checksum mismatch \\(sha256"):
        open_shards(shards)
    write_manifest(shards, {**m, "format_version": 7})
    with pytest.raises(ShardUsageError, match="format winnow-tokens v7, expected winnow-tokens v1 or v2"):
        open_shards(shards)


def test_split_shards_refuses_to_hold_out_more_shards_than_there_are():
    assert split_shards(4, 1, "validation") == [3] and split_shards(4, 4, "validation") == [0, 1, 2, 3]
    assert split_shards(4, 1, "train") == [0, 1, 2]
    with pytest.raises(ShardUsageError, match="3 shard\\(s\\): cannot hold out 5"):
        split_shards(3, 5, "validation")
    with pytest.raises(ShardUsageError, match="cannot hold out 3 for validation and keep any for training"):
        split_shards(3, 3, "train")
    with pytest.raises(ShardUsageError, match="split 'test'"):
        split_shards(3, 1, "test")
