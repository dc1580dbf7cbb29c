"""A common held-out set on real data: `select create --exclude` leaves a validation
selection's documents out before the token budget is cut, and `train --validation`
validates on it, refusing any overlap with the training data before torchrun starts."""

from __future__ import annotations

import json
import re

import pytest

import winnow
from winnow.sql import SelectionUsageError, evaluate
from winnow.sql.selections import get

from .helpers import C4, GITHUB, OWT, SHARED, cli, fails, lake_state

SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")
BUDGET = 300_000

# tokens approximated by bytes / 4; the score is a real signal (share of letters)
CANDIDATES = """
WITH c AS (
    SELECT id, (n_bytes // 4) AS n_tokens,
           length(regexp_replace(text, '[^A-Za-z]', '', 'g')) / n_chars AS score
    FROM docs)
"""
TOP = CANDIDATES + f"SELECT id, n_tokens, score FROM top_k(c, {BUDGET})"
RANDOM = "SELECT id FROM docs WHERE uniform(id, seed()) < 0.3"
VALIDATION = "SELECT id FROM docs WHERE uniform(id, seed()) < 0.1"


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = winnow.init(tmp_path_factory.mktemp("val") / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4), str(GITHUB)])
    winnow.select(lake, "val", VALIDATION, seed=11)
    winnow.select(lake, "top", TOP, exclude=["val"])
    winnow.select(lake, "random", RANDOM, seed=3, exclude=["val"])
    winnow.select(lake, "top-all", TOP)
    return lake


def ids(lake, name) -> set[str]:
    return set(evaluate(lake, name)["id"].to_pylist())


def test_exclude_applies_before_the_token_budget(lake):
    val = ids(lake, "val")
    assert 100 < len(val) < 250
    assert ids(lake, "top-all") & val  # without --exclude the top-k takes validation documents
    rows = evaluate(lake, "top").to_pylist()
    assert not {r["id"] for r in rows} & val
    # the budget is filled from the documents that remain: QuRating's cut over docs without val
    tokens = sum(r["n_tokens"] for r in rows)
    ranked = sorted(rows, key=lambda r: (-r["score"], r["id"]))
    assert tokens >= BUDGET and tokens - ranked[-1]["n_tokens"] < BUDGET
    everything = winnow.query(lake, CANDIDATES + "SELECT id, n_tokens, score FROM c ORDER BY score DESC, id").to_pylist()
    want, total = [], 0
    for r in everything:
        if r["id"] in val:
            continue
        if total >= BUDGET:
            break
        want.append(r["id"])
        total += r["n_tokens"]
    assert [r["id"] for r in ranked] == want


def test_one_validation_set_left_out_of_two_training_selections(lake):
    val = ids(lake, "val")
    top, rnd = ids(lake, "top"), ids(lake, "random")
    assert top and rnd and not top & val and not rnd & val
    # the random sample is the same draw as without the exclusion, less the validation documents
    drawn = {r["id"] for r in winnow.query(lake, RANDOM.replace("seed()", "3")).to_pylist()}
    assert rnd == drawn - val and drawn & val
    # recorded in the catalog: `select show`, the `selections` table, the Python object
    assert get(lake, "top").exclude == ("val",) and get(lake, "top-all").exclude == ()
    shown = cli("select", "show", lake.uri, "random").stdout
    assert "excludes val" in shown.splitlines()[0]
    table = winnow.query(lake, "SELECT name, exclude FROM selections ORDER BY name").to_pylist()
    assert {r["name"]: r["exclude"] for r in table} == {"random": ["val"], "top": ["val"], "top-all": None, "val": None}


def test_the_cli_excludes_and_refuses_an_unknown_selection_in_one_line(lake):
    before = lake_state(lake)
    fails("select", "create", lake.uri, "x", "-q", "SELECT id FROM docs", "--exclude", "nope",
          contains="no selection named 'nope'")
    fails("select", "create", lake.uri, "val", "-q", "SELECT id FROM docs", "--replace", "--exclude", "val",
          contains="cannot leave out its own documents")
    assert lake_state(lake) == before
    made = cli("select", "create", lake.uri, "rest", "-q", "SELECT id FROM docs", "--exclude", "val",
               "--exclude", "top")
    assert "without the documents of val, top" in made.stdout
    rest = ids(lake, "rest")
    assert not rest & (ids(lake, "val") | ids(lake, "top"))
    assert len(rest) == lake.docs().count_rows() - len(ids(lake, "val") | ids(lake, "top"))


def test_a_selection_whose_excluded_selection_was_redefined_is_refused(tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(GITHUB)])
    winnow.select(lake, "v", "SELECT id FROM docs ORDER BY id LIMIT 5")
    winnow.select(lake, "t", "SELECT id FROM docs", exclude=["v"])
    assert len(ids(lake, "t")) == lake.docs().count_rows() - 5
    winnow.select(lake, "v", "SELECT id FROM docs ORDER BY id DESC LIMIT 5", replace=True)
    with pytest.raises(SelectionUsageError, match="'v' was redefined .* create that selection again"):
        evaluate(lake, "t")


def test_train_refuses_an_overlapping_validation_set_before_torchrun(lake, tmp_path):
    common = ["--flavor", "tiny", "--tokenizer", SP, "--ngpu", "0", "--dry-run"]
    run = tmp_path / "run"
    line = fails("train", lake.uri, "top-all", *common, "--validation", "val", "--out", run,
                 contains="documents are in the training data top-all")
    shared = len(ids(lake, "top-all") & ids(lake, "val"))
    assert f"{shared:,} of its {len(ids(lake, 'val')):,} documents" in line and "--exclude val" in line
    assert not run.exists()  # refused before anything was materialized
    # a shard folder as the validation set: its ids are read from the shards
    winnow.materialize(lake, "val", tmp_path / "val-shards", tokenizer=SP)
    fails("train", lake.uri, "top-all", *common, "--validation", tmp_path / "val-shards", "--out", run,
          contains="documents are in the training data")
    fails("train", lake.uri, "top", *common, "--validation", "nope", "--out", run, contains="neither a shard folder")
    # disjoint: the command validates on the validation shards and trains on every shard
    ok = cli("train", lake.uri, "top", *common, "--validation", tmp_path / "val-shards", "--out", run)
    cmd = ok.stderr.splitlines()[0]
    assert f"--validator.dataloader.dataset_path {tmp_path / 'val-shards'}" in cmd
    assert "--dataloader.held_out 0" in cmd and "--validator.dataloader.split all" in cmd


def test_cpu_training_reports_validation_loss_on_the_common_set(lake, tmp_path):
    run = tmp_path / "run"
    proc = cli("train", lake.uri, "random", "--flavor", "tiny", "--tokenizer", SP, "--ngpu", "0", "--steps", "2",
               "--validation", "val", "--validator.freq", "2", "--out", run, "--debug.seed", "0", "--metrics.disable_color_printing")
    val = json.loads((run / "validation" / "manifest.json").read_text())
    train = json.loads((run / "shards" / "manifest.json").read_text())
    assert val["selection"]["name"] == "val" and val["tokenizer"] == train["tokenizer"]
    assert val["documents"] == len(ids(lake, "val"))
    # the validator read every shard of the validation set, the trainer every shard of its own
    assert f"{run / 'validation'} (all): {val['documents']:,} documents" in proc.stderr
    assert f"{run / 'shards'} (train): {train['documents']:,} documents" in proc.stderr
    reported = re.search(r"validation loss ([0-9.]+) \(step 2, on val\)", " ".join(proc.stdout.split()))
    assert reported, proc.stdout
    assert 0 < float(reported.group(1)) < 11  # ln(32,000) = 10.4 at the start
