"""Outputs that appear whole or not at all (lake/atomic.py): a folder or a file is written
beside its place and renamed into it last; the rename never replaces what another process
put there meanwhile, unless asked to; a killed run's temporary is removed by the next one.
Raters are such folders: two `rater train` of the same name at once end with one rater,
whole, and one clear error."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import winnow
from winnow.lake import atomic
from winnow.lake.killpoints import KILL_AT

from .helpers import OWT, WINNOW, fails

LABEL = "n_chars > 3000"


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out" / "r"
    with pytest.raises(RuntimeError):
        with atomic.folder(target) as tmp:
            (tmp / "model.bin").write_bytes(b"half")
            raise RuntimeError("killed before the card")
    assert not target.exists() and os.listdir(tmp_path / "out") == []
    with atomic.folder(target) as tmp:
        (tmp / "model.bin").write_bytes(b"one")
        (tmp / "card.json").write_text("{}")
    assert sorted(os.listdir(target)) == ["card.json", "model.bin"]
    with pytest.raises(atomic.TargetExists, match="pass --replace"):
        with atomic.folder(target) as tmp:
            (tmp / "model.bin").write_bytes(b"two")
    assert (target / "model.bin").read_bytes() == b"one" and os.listdir(tmp_path / "out") == ["r"]
    with atomic.folder(target, replace=True) as tmp:
        (tmp / "model.bin").write_bytes(b"three")
    assert os.listdir(target) == ["model.bin"] and (target / "model.bin").read_bytes() == b"three"
    assert os.listdir(tmp_path / "out") == ["r"]


def test_an_empty_folder_in_place_is_taken(tmp_path):
    (tmp_path / "r").mkdir()
    with atomic.folder(tmp_path / "r") as tmp:
        (tmp / "a").write_text("1")
    assert (tmp_path / "r" / "a").read_text() == "1"


def test_a_dead_process_temporary_is_removed_a_live_one_kept(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f".r.tmp-{dead.pid}-0a1b2c3d").mkdir()
    (tmp_path / f".r.tmp-{dead.pid}-0a1b2c3d" / "model.bin").write_bytes(b"x")
    (tmp_path / f".f.csv.tmp-{dead.pid}-0a1b2c3d").write_text("half")
    (tmp_path / f".r.tmp-{os.getppid()}-0a1b2c3d").mkdir()  # alive: another run writing now
    with atomic.folder(tmp_path / "r") as tmp:
        (tmp / "a").write_text("1")
    with atomic.file(tmp_path / "f.csv", "w") as f:
        f.write("id\n")
    assert sorted(os.listdir(tmp_path)) == sorted([f".r.tmp-{os.getppid()}-0a1b2c3d", "f.csv", "r"])


def test_a_file_never_writes_through_a_link(tmp_path):
    precious = tmp_path / "precious"
    precious.write_text("keep")
    os.link(precious, tmp_path / "out.csv")
    with atomic.file(tmp_path / "out.csv", "w") as f:
        f.write("new")
    assert precious.read_text() == "keep" and (tmp_path / "out.csv").read_text() == "new"
    with pytest.raises(atomic.TargetExists):
        with atomic.file(tmp_path / "out.csv", "w", replace=False) as f:
            f.write("newer")
    assert (tmp_path / "out.csv").read_text() == "new" and sorted(os.listdir(tmp_path)) == ["out.csv", "precious"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    top = tmp_path_factory.mktemp("atomic")
    (top / "docs.jsonl").write_text("".join(OWT.read_text().splitlines(keepends=True)[:200]))
    lake = winnow.init(top / "lake")
    winnow.ingest_files(lake, [str(top / "docs.jsonl")], workers=1, progress=None)
    return lake


def _card(path) -> dict:
    return json.loads((path / "card.json").read_text())


def test_a_rater_finished_meanwhile_is_kept_and_this_one_refused(lake, monkeypatch):
    """Deterministic interleaving: while run A is about to rename its folder into place, run B
    trains and publishes the same rater. A ends with a TargetExists; B's rater stays whole."""
    from winnow.lake import killpoints

    original = killpoints.step
    other = {}

    def step(name):
        if name == "atomic:publish" and not other:
            other["b"] = None  # B's own publish goes on
            other["b"] = winnow.rater_train(lake, "rq", "fasttext", label=LABEL, seed=2)
        original(name)

    monkeypatch.setattr(atomic, "step", step)
    with pytest.raises(atomic.TargetExists, match="pass --replace"):
        winnow.rater_train(lake, "rq", "fasttext", label=LABEL, seed=1)
    folder = Path(other["b"].out)
    assert _card(folder)["split"]["seed"] == 2 and sorted(os.listdir(folder)) == ["card.json", "model.bin"]
    assert sorted(os.listdir(folder.parent)) == ["rq"]  # no temporary left

    # With replace, the last one wins whole.
    monkeypatch.undo()
    winnow.rater_train(lake, "rq", "fasttext", label=LABEL, seed=3, replace=True)
    assert _card(folder)["split"]["seed"] == 3 and sorted(os.listdir(folder.parent)) == ["rq"]


def test_two_rater_trains_at_once_leave_one_rater_and_one_error(lake, tmp_path):
    out = tmp_path / "rq"
    command = [str(WINNOW), "rater", "train", lake.uri, "rq", "--kind", "fasttext", "--label", LABEL, "--out", str(out)]
    procs = [subprocess.Popen([*command, "--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for seed in (1, 2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    errors = [line for line in loser.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "pass --replace" in errors[0] and "Traceback" not in loser, loser
    winner = next(seed for (code, _, _), seed in zip(results, (1, 2)) if code == 0)
    assert _card(out)["split"]["seed"] == winner  # the rater in place is the one that said it wrote it
    assert sorted(os.listdir(out)) == ["card.json", "model.bin"] and sorted(os.listdir(tmp_path)) == ["rq"]


def test_a_rater_killed_before_its_rename_leaves_no_rater(lake, tmp_path):
    """Killed with model.bin and card.json written but not yet in place: no rater folder,
    only a temporary, which the next run removes; that run needs no --replace."""
    out = tmp_path / "rq"
    command = [str(WINNOW), "rater", "train", lake.uri, "rq", "--kind", "fasttext", "--label", LABEL, "--out", str(out)]
    for at in ("rater:card", "atomic:publish"):
        killed = subprocess.run(command, env={**os.environ, KILL_AT: at}, capture_output=True, text=True)
        assert killed.returncode == -9, killed.stderr
        assert not out.exists() and [p.name.startswith(".rq.tmp-") for p in tmp_path.iterdir()] == [True]
    subprocess.run(command, check=True, capture_output=True)
    assert sorted(os.listdir(out)) == ["card.json", "model.bin"] and os.listdir(tmp_path) == ["rq"]
    fails("rater", "train", lake.uri, "rq", "--kind", "fasttext", "--label", LABEL, "--out", out,
          contains="pass --replace")
