"""Materialization in parallel, on real data: one process, two local worker processes and two
Ray actors (a real cluster on this machine) write the same shard bytes and manifest with both
real tokenizers; a worker killed mid-run is replaced and changes nothing; a killed run
resumes to the same bytes, on either engine; the fast byte-level BPE encoder gives exactly
HF tokenizers' ids (real data, every code point of the Basic Multilingual Plane and every
61st beyond), and a tokenizer.json it cannot prove equal is left to its library."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

import winnow
from winnow.lake.tokenizer import load_tokenizer
from winnow.lake.workers import is_worker
from winnow.train.materialize.bpe import byte_level_bpe
from winnow.train.materialize.shards import open_shards

from .helpers import C4, GITHUB, OWT, SHARED, WINNOW, cli, fails, kill_after_shards, same_shards

SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")
GPT2 = str(SHARED / "tokenizers" / "gpt2-tokenizer.json")
SHARD_TOKENS = 50_000  # ~28 shards: shard cuts fall inside the units of every run


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = winnow.init(tmp_path_factory.mktemp("par") / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4), str(GITHUB)])
    winnow.select(lake, "all", "SELECT id FROM docs", seed=5)
    return lake


@pytest.fixture(scope="module")
def one_process(lake, tmp_path_factory):
    """Each tokenizer's shards written by one process: what every other run must equal."""
    root = tmp_path_factory.mktemp("one")
    made = {}
    for tok in (GPT2, SP):
        r = winnow.materialize(lake, "all", root / Path(tok).stem, tokenizer=tok, shard_tokens=SHARD_TOKENS, workers=1)
        assert r.workers == 1 and r.shards > 20
        made[tok] = root / Path(tok).stem
    return made


@pytest.mark.parametrize("tok", [GPT2, SP], ids=["gpt2", "sentencepiece"])
def test_every_engine_and_worker_count_writes_the_same_bytes(lake, one_process, ray_cluster, tmp_path, tok):
    for name, options in (("local-2", dict(workers=2)), ("ray-2", dict(engine="ray", workers=2))):
        r = winnow.materialize(lake, "all", tmp_path / name, tokenizer=tok, shard_tokens=SHARD_TOKENS, **options)
        assert (r.engine, r.workers) == (options.get("engine", "local"), 2)
        assert r.encoder == ("fast byte-level BPE (tiktoken)" if tok == GPT2 else "sentencepiece")
        same_shards(one_process[tok], tmp_path / name)


def test_the_shards_hold_exactly_the_ids_hf_tokenizers_gives(lake, one_process):
    shards = open_shards(one_process[GPT2], tokenizer=load_tokenizer(GPT2))
    text = lake.docs().to_table(columns=["id", "text"])
    texts = dict(zip(text["id"].to_pylist(), text["text"].to_pylist()))
    order = [doc_id for s in range(len(shards.tokens)) for doc_id in shards.ids(s)]
    hf = load_tokenizer(GPT2).impl.encode_batch([texts[i] for i in order], add_special_tokens=False)
    got = [arr[1:-1] for _, _, arr in shards.documents()]  # between BOS and EOS
    assert len(got) == len(hf) == len(texts)
    assert all(np.array_equal(g, h.ids) for g, h in zip(got, hf))


def test_the_fast_encoder_equals_hf_tokenizers_on_every_code_point():
    tok = load_tokenizer(GPT2)
    fast, why = byte_level_bpe(tok)
    assert fast is not None, why
    points = [c for c in range(0x10000) if not 0xD800 <= c < 0xE000] + list(range(0x10000, 0x110000, 61))
    texts = [f"a{chr(c)}b {chr(c)}1 {chr(c)}{chr(c)}  x'{chr(c)}s \n" for c in points]
    texts += ["<|endoftext|>", "a<|endoftext|>b", " <|endoftext|> <|endoftext|>\n\n", "<|endoftext",
              "ab  \n\t\r\n 12,345.6"]
    hf = tok.impl.encode_batch_fast(texts, add_special_tokens=False)
    wrong = [t for t, a, h in zip(texts, fast.encode(texts), hf) if not np.array_equal(a, h.ids)]
    assert not wrong, f"{len(wrong)} texts differ, e.g. {wrong[:3]!r}"


def test_a_tokenizer_it_cannot_prove_equal_is_left_to_its_library(tmp_path):
    assert byte_level_bpe(load_tokenizer(SP)) == (None, "a sentencepiece tokenizer")
    spec = json.loads(Path(GPT2).read_text())
    merges = spec["model"]["merges"]
    cases = {
        "lowercase": ({**spec, "normalizer": {"type": "Lowercase"}}, "not a plain byte-level BPE"),
        "swapped": ({**spec, "model": {**spec["model"], "merges": [merges[1], merges[0], *merges[2:]]}},
                    "its token ids do not grow with the merges"),
        # without the merge 'Ġ t' the tokens built on 'Ġt' are not the BPE of their own bytes
        "missing": ({**spec, "model": {**spec["model"], "merges": merges[1:]}}, "is not the BPE of its own bytes"),
    }
    for name, (changed, why) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(changed))
        fast, reason = byte_level_bpe(load_tokenizer(str(path)))
        assert fast is None and why in reason, (name, reason)


def _workers(kind: str) -> list[psutil.Process]:
    """This test process's descendants that are engine workers: local processes (forked by the
    fork server) or Ray actors."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            line, parent = p.cmdline(), p.parent().cmdline()
        except (psutil.Error, AttributeError):  # gone, or its parent gone
            continue
        if is_worker(line, parent) if kind == "local" else " ".join(line).startswith("ray::Worker"):
            found.append(p)
    return found


@pytest.mark.parametrize("kind", ["local", "ray"])
def test_a_worker_killed_mid_run_is_replaced_and_the_bytes_are_the_same(lake, one_process, ray_cluster, tmp_path,
                                                                        kind):
    out, outcome = tmp_path / "killed", {}

    def run():
        try:
            outcome["report"] = winnow.materialize(lake, "all", out, tokenizer=SP, shard_tokens=SHARD_TOKENS,
                                                   engine=kind, workers=2)
        except BaseException as e:  # noqa: BLE001 - shown by the assertion below
            outcome["error"] = e

    job = threading.Thread(target=run)
    job.start()
    deadline = time.time() + 120
    while not ((out / "shard-00000.bin").exists() and _workers(kind)):
        assert job.is_alive() and time.time() < deadline, f"finished before a worker could be killed: {outcome}"
        time.sleep(0.005)
    before = {p.pid for p in _workers(kind)}
    victim = _workers(kind)[0]
    victim.kill()
    assert job.is_alive() and not (out / "manifest.json").exists()  # killed mid-run
    replaced = False
    while job.is_alive() and time.time() < deadline:
        replaced = replaced or any(p.pid not in before for p in _workers(kind))  # its unit runs again elsewhere
        time.sleep(0.005)
    job.join()
    assert "error" not in outcome, outcome
    assert replaced and not victim.is_running() and outcome["report"].documents == 1495
    same_shards(one_process[SP], out)


def test_a_killed_run_resumes_to_the_same_bytes_on_either_engine(lake, one_process, ray_cluster, tmp_path):
    """Killed (the whole process group: the command and its workers) on the local engine with
    two workers, then resumed on the Ray cluster of this module (--ray-address)."""
    out = tmp_path / "resumed"
    args = ["materialize", lake.uri, "all", "--out", str(out), "--tokenizer", GPT2, "--shard-tokens",
            str(SHARD_TOKENS), "--no-progress"]
    kill_after_shards([str(WINNOW), *args, "--workers", "2"], out, 3)
    assert not (out / "manifest.json").exists()
    res = cli(*args, "--engine", "ray", "--ray-address", ray_cluster, "--workers", "2")
    assert "resumed after" in res.stdout and "ray, 2 worker(s)" in res.stdout
    same_shards(one_process[GPT2], out)


def test_a_bad_engine_is_one_line_before_anything_is_written(lake, ray_cluster, tmp_path):
    out = tmp_path / "never"
    base = ("materialize", lake.uri, "all", "--out", out, "--tokenizer", GPT2, "--no-progress")
    fails(*base, "--engine", "spark", code=2, contains="--engine 'spark': use one of local, ray")
    fails(*base, "--engine", "ray", "--ray-address", "127.0.0.1:9", code=2,
          contains="--ray-address 127.0.0.1:9: no Ray cluster answers there")
    assert not out.exists()
    mem = winnow.init("memory://parallel")
    winnow.ingest_files(mem, [str(C4)])
    winnow.select(mem, "all", "SELECT id FROM docs")
    with pytest.raises(winnow.UsageError, match="a memory:// lake lives in this process only"):
        winnow.materialize(mem, "all", out, tokenizer=GPT2, engine="ray")
    assert not out.exists()
    r = winnow.materialize(mem, "all", out, tokenizer=GPT2, workers=2)  # local: its workers are this process
    assert r.workers == 1 and r.documents == winnow.query(mem, "SELECT count(*) AS n FROM docs")["n"][0].as_py()
