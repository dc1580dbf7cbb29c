"""Scoring on both engines (issue 12 §2) with a real local Ray cluster on 127.0.0.1 (2 CPUs)
and real data (C4 449 + OpenWebText 1,000, ingested in small commits: several fragments).

- `local` and `ray` write the same values, every one compared by id, as one column file per
  fragment (the text's files untouched) and one commit per job; a model scorer on Ray's CPU
  actors gives the columns of one local process.
- A Ray worker killed mid-job is replaced and its fragment scored again; a fragment whose
  worker dies on every try fails the job, the finished fragments stay staged, and the next
  run commits those and scores only the rest: nothing lost, nothing twice.
- An ingest that lands while a Ray scoring job runs keeps its rows and every column; the
  next run scores them.
- A Ray address nothing answers at is one line, exit 2, the lake as it was.
- Fragments whose column shares a file with others (after compaction) are filled by id.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import winnow
from winnow.lake.fragments import current_file, field_ids
from winnow.scoring import ScoreError, ScoreUsageError

from .helpers import C4, OWT, SHARED, fails, lake_state

SP = SHARED / "tokenizers" / "llama-style-sp32k.model"
TOTAL = 1445  # C4 449 (4 duplicates) + OpenWebText 1,000

# A scorer as a user writes one, with a switch the tests throw: a file saying `die ID` kills
# the worker process that meets document ID (`die ID once`: the first time only).
SCORER = '''
import os, time
import pyarrow as pa
from winnow.scoring import Param, Scorer


class Upper(Scorer):
    name = "upper_t"
    inputs = ("text",)
    parameters = {"switch": Param(str, "", "a file: `die ID [once]`"),
                  "delay": Param(float, 0.0, "seconds to wait per batch")}

    def outputs(self):
        return [pa.field("upper_t", pa.float32())]

    def score(self, batch):
        words = open(self.param("switch")).read().split() if self.param("switch") else []
        if words[:1] == ["die"] and words[1] in batch.column("id").to_pylist():
            if "once" in words:
                open(self.param("switch"), "w").close()
            os._exit(7)
        time.sleep(self.param("delay"))
        texts = batch.column("text").to_pylist()
        return {"upper_t": [sum(c.isupper() for c in t) / max(1, sum(c.isalpha() for c in t)) for t in texts]}
'''


def upper(text: str) -> float:
    return sum(c.isupper() for c in text) / max(1, sum(c.isalpha() for c in text))


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A lake of C4 + OpenWebText in ~0.5 MB commits (about a dozen fragments), and the scorer."""
    root = tmp_path_factory.mktemp("engines")
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(C4), str(OWT)], commit_bytes=1 << 19, workers=1)
    assert lake.docs().count_rows() == TOTAL and len(lake.docs().get_fragments()) >= 6
    (root / "upper_t.py").write_text(SCORER)
    return root


def copy_of(source: Path, tmp_path: Path):
    shutil.copytree(source / "lake", tmp_path / "lake")
    return winnow.open(tmp_path / "lake")


def spec(source: Path) -> str:
    return f"{source / 'upper_t.py'}:Upper"


def column(lake, name: str) -> dict:
    t = lake.docs().to_table(columns=["id", name])
    return dict(zip(t["id"].to_pylist(), t[name].to_pylist()))


def scored(lake) -> int:
    docs = lake.docs()
    return docs.count_rows(filter="upper_t IS NOT NULL") if "upper_t" in docs.schema.names else 0


def data_files(lake) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (Path(lake.uri) / "docs.lance" / "data").iterdir()}


def test_local_and_ray_write_the_same_columns(ray_cluster, source, tmp_path):
    local, ray_lake = copy_of(source, tmp_path / "local"), copy_of(source, tmp_path / "ray")
    text_files = data_files(ray_lake)
    for name, params in (("gopher", {}), ("rps", {}), ("tokens", {"tokenizer": str(SP)})):
        a = winnow.score(local, name, params=params, workers=2)
        before = ray_lake.docs().version
        b = winnow.score(ray_lake, name, params=params, workers=2, engine="ray")
        assert (a.engine, b.engine) == ("local", "ray") and a.scored == b.scored == b.rows == TOTAL
        assert ray_lake.docs().version == before + 2  # columns registered, then one commit of every fragment
        docs = ray_lake.docs()
        ids = field_ids(docs, b.columns)
        for fragment in docs.get_fragments():  # one file per fragment holds exactly the scorer's columns
            assert current_file(fragment, ids)
    after = data_files(ray_lake)
    assert all(after[n] == size for n, size in text_files.items())  # the text's files untouched
    core = set(winnow.lake.schema.DOCS.names)
    names = [n for n in local.docs().schema.names if n not in core]
    assert len(names) == 21 + 11 + 1 and set(names) == set(ray_lake.docs().schema.names) - core
    mine = local.docs().to_table(columns=["id", *names]).sort_by("id")
    theirs = ray_lake.docs().to_table(columns=["id", *names]).sort_by("id")
    assert mine["id"].equals(theirs["id"]) and mine.num_rows == TOTAL
    for n in names:  # every value, NaN included
        np.testing.assert_array_equal(mine[n].to_numpy(zero_copy_only=False),
                                      theirs[n].to_numpy(zero_copy_only=False), n)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer BERT regression head (hidden size 32, random weights) with GPT-2's tokenizer,
    saved as a user's model folder is."""
    import torch
    from tokenizers import Tokenizer, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    backend = Tokenizer.from_file(str(SHARED / "tokenizers" / "gpt2-tokenizer.json"))
    backend.add_special_tokens(["[CLS]", "[SEP]", "[PAD]"])
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                           special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=128, pad_token="[PAD]",
                                        cls_token="[CLS]", sep_token="[SEP]")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=backend.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=1, initializer_range=0.2)
    path = tmp_path_factory.mktemp("model") / "tiny-reg"
    BertForSequenceClassification(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_model_scorer_on_ray_cpu_workers_gives_the_local_columns(ray_cluster, source, tiny_model, tmp_path):
    """No GPU here: on --device cpu a model scorer runs in CPU actors, each loading the model once."""
    import torch

    local, ray_lake = copy_of(source, tmp_path / "local"), copy_of(source, tmp_path / "ray")
    params = {"model": str(tiny_model), "max_length": 64, "column": "tiny"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Ray actor of one CPU has
    try:
        a = winnow.score(local, "hf-classifier", params=params)
    finally:
        torch.set_num_threads(threads)
    b = winnow.score(ray_lake, "hf-classifier", params=params, engine="ray", workers=2)
    assert a.scored == b.scored == TOTAL and b.engine == "ray"
    mine, theirs = column(local, "tiny"), column(ray_lake, "tiny")
    assert mine.keys() == theirs.keys()
    ids = sorted(mine)
    np.testing.assert_allclose([theirs[i] for i in ids], [mine[i] for i in ids], atol=1e-5)
    assert len({round(mine[i], 4) for i in ids}) > 100  # the model tells documents apart
    state = lake_state(ray_lake)  # --device cuda asks one GPU per actor: this cluster has none
    with pytest.raises(ScoreUsageError, match="--device cuda: the Ray cluster has no GPU"):
        winnow.score(ray_lake, "hf-classifier", params={**params, "column": "tiny_gpu"}, device="cuda", engine="ray")
    assert lake_state(ray_lake) == state


def test_a_killed_ray_worker_is_replaced_and_its_fragment_scored_again(ray_cluster, source, tmp_path):
    lake = copy_of(source, tmp_path)
    victim = lake.docs().to_table(columns=["id"])["id"][700].as_py()
    switch = tmp_path / "switch"
    switch.write_text(f"die {victim} once")
    r = winnow.score(lake, spec(source), params={"switch": str(switch)}, engine="ray", workers=2)
    assert switch.read_text() == ""  # a worker died on the victim
    assert r.scored == r.rows == TOTAL
    texts = dict(zip(*lake.docs().to_table(columns=["id", "text"]).to_pydict().values()))
    assert all(abs(v - upper(texts[i])) < 1e-6 for i, v in column(lake, "upper_t").items())
    again = winnow.score(lake, spec(source), params={"switch": str(switch)}, engine="ray", workers=2)
    assert again.scored == 0 and "up to date" in again.note


def test_a_fragment_that_always_kills_its_worker_fails_the_job_and_the_rerun_does_the_rest(
        ray_cluster, source, tmp_path):
    lake = copy_of(source, tmp_path)
    docs = lake.docs()
    last = docs.get_fragments()[-1]
    victim = last.to_table(columns=["id"])["id"][0].as_py()
    switch = tmp_path / "switch"
    switch.write_text(f"die {victim}")
    params = {"switch": str(switch)}
    with pytest.raises(ScoreError, match=rf"unit fragment {last.fragment_id} .* failed: its worker died 3 time"):
        winnow.score(lake, spec(source), params=params, engine="ray", workers=2)
    failed = winnow.query(lake, "SELECT status FROM metrics WHERE metric = 'upper_t'")["status"].to_pylist()
    assert failed == ["failed"]
    done = lake.docs().count_rows(filter="upper_t IS NOT NULL")
    staged = list((Path(lake.uri) / "_staging").rglob("*.lance"))
    assert staged  # finished fragments kept, not committed (one commit per --commit-rows)

    switch.write_text("")
    r = winnow.score(lake, spec(source), params=params, engine="ray", workers=2)
    assert r.staged > 0 and r.scored >= last.count_rows()
    assert done + r.staged + r.scored == TOTAL == r.rows  # each row computed once over the two runs
    assert not list((Path(lake.uri) / "_staging").rglob("*.lance"))
    values = column(lake, "upper_t")
    texts = dict(zip(*lake.docs().to_table(columns=["id", "text"]).to_pydict().values()))
    assert len(values) == TOTAL and all(abs(v - upper(texts[i])) < 1e-6 for i, v in values.items())


def test_an_ingest_during_a_ray_scoring_job_loses_nothing(ray_cluster, source, tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(OWT)], commit_bytes=1 << 19, workers=1)
    winnow.score(lake, "c4", workers=1)  # a column another job wrote before
    got: dict = {}

    def run():
        try:
            got["report"] = winnow.score(lake, spec(source), params={"delay": 0.25}, engine="ray", workers=2,
                                         batch_rows=40, commit_rows=200)
        except BaseException as e:  # noqa: BLE001 - shown by the assertion below
            got["error"] = e

    job = threading.Thread(target=run)
    job.start()
    deadline = time.time() + 120
    while not scored(lake):  # the job has committed once: it is under way
        assert job.is_alive() and time.time() < deadline, got
        time.sleep(0.05)
    ingested = winnow.ingest_files(lake, [str(C4)], workers=1)  # commits while the job still runs
    assert job.is_alive(), "the scoring job ended before the ingest committed: nothing was concurrent"
    job.join()
    assert "error" not in got, got
    assert got["report"].scored == 1000 and ingested.total().written == 445
    counts = winnow.query(lake, "SELECT count(*) AS n, count(upper_t) AS u, count(c4_lines) AS c, "
                                "count(text) AS t FROM docs").to_pylist()[0]
    assert counts == {"n": TOTAL, "u": 1000, "c": 1000, "t": TOTAL}
    later = winnow.score(lake, spec(source), params={"delay": 0.25}, engine="ray", workers=2)
    assert later.scored == 445 and later.rows == TOTAL
    texts = dict(zip(*lake.docs().to_table(columns=["id", "text"]).to_pydict().values()))
    assert all(abs(v - upper(texts[i])) < 1e-6 for i, v in column(lake, "upper_t").items())


def test_an_unreachable_ray_address_is_one_line_and_writes_nothing(ray_cluster, source, tmp_path):
    lake = copy_of(source, tmp_path)
    state = lake_state(lake)
    t0 = time.perf_counter()
    said = fails("score", lake.uri, "rps", "--engine", "ray", "--ray-address", "127.0.0.1:9", "--no-progress")
    assert "--ray-address 127.0.0.1:9: no Ray cluster answers there" in said and time.perf_counter() - t0 < 60
    assert lake_state(lake) == state
    memory = winnow.init("memory://engines/lake")
    winnow.ingest_files(memory, [str(C4)])
    with pytest.raises(ScoreUsageError, match="memory:// lake lives in this process"):
        winnow.score(memory, "rps", engine="ray")
    assert "rps_doc_word_count" not in memory.docs().schema.names


def test_fragments_whose_files_were_compacted_are_filled_by_id(source, tmp_path):
    """Compaction writes a column into the same file as the text: such a fragment cannot take a
    replacement of the column's file, so its rows are written by id, and still only once."""
    lake = copy_of(source, tmp_path)
    first = winnow.score(lake, spec(source), where="n_chars > 3000", workers=1)
    lake.docs().optimize.compact_files(target_rows_per_fragment=800)
    docs = lake.docs()
    ids = field_ids(docs, ["upper_t"])
    assert any(current_file(f, ids) is None for f in docs.get_fragments())  # the column shares a file now
    rest = winnow.score(lake, spec(source), workers=2)
    assert first.scored + rest.scored == TOTAL == rest.rows
    texts = dict(zip(*lake.docs().to_table(columns=["id", "text"]).to_pydict().values()))
    values = column(lake, "upper_t")
    assert len(values) == TOTAL and all(abs(v - upper(texts[i])) < 1e-6 for i, v in values.items())
