"""`winnow compare` on a real lake: two selections and a validation selection left out of
both, the `tiny` flavor on the CPU: runs recorded in the `runs` table, the table's ratio
recomputed from the recorded curves, runs reused, an unreachable budget refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import winnow
from winnow.train.compare import schedule, tokens_to_reach

from .helpers import C4, GITHUB, OWT, SHARED, cli, fails, lake_state

SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")
TOKENS = 4 * 1024  # tiny: 4 sequences of 256 per step on one rank -> 4 steps, validated at every step
TOP = """
WITH c AS (
    SELECT id, (n_bytes // 4) AS n_tokens,
           length(regexp_replace(text, '[^A-Za-z]', '', 'g')) / n_chars AS score
    FROM docs)
SELECT id, n_tokens, score FROM top_k(c, 200000)
"""


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = winnow.init(tmp_path_factory.mktemp("compare") / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4), str(GITHUB)])
    winnow.select(lake, "val", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.1", seed=11)
    winnow.select(lake, "random", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.3", seed=3, exclude=["val"])
    winnow.select(lake, "top", TOP, exclude=["val"])
    return lake


def lake_dir(lake) -> Path:
    return Path(lake.uri)


def args(lake, tokens=TOKENS, *more):
    return ("compare", lake.uri, "random", "top", "--flavor", "tiny", "--tokens", tokens, "--validation", "val",
            "--tokenizer", SP, "--ngpu", "0", "--seed", "0", *more)


@pytest.fixture(scope="module")
def first(lake):
    return cli(*args(lake))


def test_two_runs_are_recorded_with_their_curves(lake, first):
    rows = winnow.query(lake, "SELECT * FROM runs ORDER BY selection").to_pylist()
    assert [r["selection"] for r in rows] == ["random", "top"]
    sel = {s["name"]: s for s in winnow.query(lake, "SELECT name, lake_version FROM selections").to_pylist()}
    for r in rows:
        assert r["flavor"] == "tiny" and r["tokens"] == TOKENS and r["seed"] == 0 and r["validation"] == "val"
        assert r["lake_version"] == sel[r["selection"]]["lake_version"]
        assert r["validation_version"] == sel["val"]["lake_version"]
        assert r["steps"] == 4 and r["tokens_per_step"] == 1024
        assert [p["tokens"] for p in r["train_loss"]] == [1024 * s for s in range(1, 5)]
        val = [p["tokens"] for p in r["validation_loss"]]
        assert val[0] == 1024 and val[-1] == TOKENS and len(val) >= 4  # step 1, every freq, the last
        assert all(0 < p["loss"] < 11 for p in r["validation_loss"] + r["train_loss"])
        assert r["validation_loss"][-1]["loss"] < r["validation_loss"][0]["loss"]  # it learned
        assert r["tokens_per_second"] > 0 and r["created_at"] is not None
        log = (Path(r["run_folder"]) / "train.log").read_text()
        assert "--validator.dataloader.dataset_path" in log and "--debug.seed 0" in log
    assert rows[0]["config_hash"] == rows[1]["config_hash"]


def test_the_table_is_computed_from_the_recorded_curves(lake, first):
    proc = first
    rows = {r["selection"]: r for r in winnow.query(lake, "SELECT * FROM runs").to_pylist()}
    base = rows["random"]["validation_loss"]
    target = base[-1]["loss"]
    # recomputed by hand: the first point at or below the target, interpolated from the one before
    def reach(curve):
        for a, b in zip([None, *curve], curve):
            if b["loss"] <= target:
                return b["tokens"] if a is None else a["tokens"] + (a["loss"] - target) / (a["loss"] - b["loss"]) * (
                    b["tokens"] - a["tokens"])
        return None

    assert reach(base) == tokens_to_reach(base, target)
    table = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:3]}
    assert float(table["random"][1]) == pytest.approx(target, abs=1e-4)
    assert float(table["top"][1]) == pytest.approx(rows["top"]["validation_loss"][-1]["loss"], abs=1e-4)
    top = reach(rows["top"]["validation_loss"])
    if top is None:
        assert table["top"][2:4] == ["not", "reached"]
    else:
        assert table["top"][2] == f"{top:,.0f}" and table["top"][3] == f"{reach(base) / top:.2f}x"
    assert table["random"][3] == "1.00x"
    summary = json.loads((lake_dir(lake) / "compare" / f"random-top-tiny-{TOKENS}" / "compare.json").read_text())
    assert [r["selection"] for r in summary["runs"]] == ["random", "top"]


def test_png_and_html_name_both_selections(lake, first):
    out = lake_dir(lake) / "compare" / f"random-top-tiny-{TOKENS}"
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "curves.html").read_text()
    assert "<svg" in page and "random" in page and "top" in page and "http" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def run_files(lake) -> dict[str, tuple[int, int]]:
    """Every file under the lake's runs/ folder (shards, logs, checkpoints): size and mtime."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in (lake_dir(lake) / "runs").rglob("*")
            if p.is_file()}


def test_compare_again_reuses_both_runs(lake, first):
    before = lake.dataset("runs").version
    files = run_files(lake)
    proc = cli(*args(lake))
    assert proc.stdout.count("reused ") == 2 and "trained " not in proc.stdout
    assert "torchrun" not in proc.stderr and "step:" not in proc.stderr  # nothing trained
    assert lake.dataset("runs").version == before
    # the work is reused, not redone: no shard materialized, no log or checkpoint written again
    assert any(f.endswith("train.log") for f in files) and run_files(lake) == files
    assert winnow.query(lake, "SELECT count(*) AS n FROM runs").to_pylist() == [{"n": 2}]


def test_a_budget_a_selection_cannot_reach_is_refused_with_nothing_written(lake, first):
    before = lake_state(lake), lake.dataset("runs").version, sorted((lake_dir(lake) / "runs").iterdir())
    line = fails(*args(lake, 400_000), contains="cannot be reached")
    assert "top holds" in line and "short" in line  # the 200,000-token selection, and by how much
    assert "random holds" not in line  # it has more than 400,000 tokens
    after = lake_state(lake), lake.dataset("runs").version, sorted((lake_dir(lake) / "runs").iterdir())
    assert after == before
    assert not (lake_dir(lake) / "compare" / "random-top-tiny-400000").exists()
    fails(*args(lake, 10), contains="less than one step of tiny")
    fails("compare", lake.uri, "random", "--tokens", TOKENS, "--validation", "val", "--tokenizer", SP,
          contains="two selections or more")
    fails("compare", lake.uri, "random", "nope", "--tokens", TOKENS, "--validation", "val", "--tokenizer", SP,
          contains="'nope'")


def test_a_bad_ngpu_is_refused_before_anything_is_written(lake):
    import torch

    def files():
        return sorted(p for p in lake_dir(lake).rglob("*"))

    before = files()
    base = ("compare", lake.uri, "random", "top", "--tokens", TOKENS, "--validation", "val", "--tokenizer", SP,
            "--name", "bad-ngpu")
    fails(*base, "--ngpu", "-1", contains="--ngpu must be >= 0, got -1")
    assert files() == before
    more = torch.cuda.device_count() + 1
    fails(*base, "--ngpu", more, contains=f"--ngpu {more}: ")
    assert files() == before  # no run folder, no shards, no compare folder


def test_schedule_ends_on_a_validation_and_reach_interpolates():
    assert schedule(12 * 1024, 1024) == (12, 1)
    assert schedule(20 * 1024 + 5, 1024) == (20, 2)  # a partial step is not trained
    assert schedule(1526 * 262_144, 262_144) == (1526, 109)  # proxy-20m's budget: 15 validations
    assert schedule(101 * 1024, 1024) == (100, 10)  # a prime: rounded down, not 101 validations
    curve = [{"tokens": 100, "loss": 5.0}, {"tokens": 200, "loss": 4.0}, {"tokens": 300, "loss": 3.0}]
    assert tokens_to_reach(curve, 3.5) == 250 and tokens_to_reach(curve, 6.0) == 100
    assert tokens_to_reach(curve, 2.9) is None
