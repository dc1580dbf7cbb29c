"""Every `--out`, one rule (lake/outputs.py): a missing parent folder is one usage error
naming it, whatever the verb (none creates a chain of folders), and a file output never
writes through a hard link into the lake."""

from __future__ import annotations

import os

import pytest

import winnow

from .helpers import GITHUB, cli, fails, lake_state

MISSING = "/nonexistent-winnow-parent/sub"

# Each verb with --out, with the arguments it needs to reach it; {lake} is the lake.
VERBS = {
    "sql": ["sql", "{lake}", "SELECT 1", "--out", f"{MISSING}/x.csv"],
    "report": ["report", "{lake}", "--out", f"{MISSING}/r.html"],
    "materialize": ["materialize", "{lake}", "top", "--out", f"{MISSING}/shards", "--tokenizer", "x"],
    "rater train": ["rater", "train", "{lake}", "rq", "--kind", "fasttext", "--label", "1", "--out", f"{MISSING}/rq"],
    "weights fit": ["weights", "fit", "{lake}", "w", "--columns", "n_bytes", "--label", "1", "--out", f"{MISSING}/w"],
}
# train and compare run as a process of their own (helpers.OWN_PROCESS, ~4-8 s a call):
# through the API, which their commands call with --out as given.
API = {
    "train": lambda lake: winnow.pretrain(lake, "top", ngpu=0, out=f"{MISSING}/run"),
    "compare": lambda lake: winnow.compare(lake, ["a", "b"], tokens=1000, validation="v", tokenizer="x",
                                           out=f"{MISSING}/cmp"),
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = winnow.init(tmp_path_factory.mktemp("outputs") / "lake")
    winnow.ingest_files(lake, [str(GITHUB)])
    return lake


@pytest.mark.parametrize("verb", VERBS)
def test_every_out_refuses_a_missing_parent_folder(lake, verb):
    before = lake_state(lake)
    said = fails(*[a.format(lake=lake.uri) for a in VERBS[verb]])
    assert f"--out {MISSING}/" in said and f"the folder {MISSING} does not exist" in said, said
    assert lake_state(lake) == before
    assert not os.path.exists(os.path.dirname(MISSING))


@pytest.mark.parametrize("verb", API)
def test_train_and_compare_refuse_a_missing_parent_folder(lake, verb):
    with pytest.raises(winnow.UsageError, match=f"--out {MISSING}/.*: the folder {MISSING} does not exist"):
        API[verb](lake)
    assert not os.path.exists(os.path.dirname(MISSING))


def test_out_never_writes_through_a_hard_link(lake, tmp_path):
    """`--out` naming a hard link to a lake file is refused (sql, report); one to any other
    file is replaced (written aside, renamed), the other file left as it was."""
    versions = os.path.join(lake.uri, "docs.lance", "_versions")
    manifest = os.path.join(versions, sorted(os.listdir(versions))[0])
    kept = open(manifest, "rb").read()
    os.link(manifest, tmp_path / "x.csv")
    said = fails("sql", lake.uri, "SELECT 'garbage' AS g", "--format", "csv", "--out", tmp_path / "x.csv")
    assert "is a hard link to the lake's file" in said and manifest in said, said
    fails("report", lake.uri, "--out", tmp_path / "x.csv", contains="is a hard link to the lake's file")
    assert open(manifest, "rb").read() == kept
    assert winnow.info(lake.uri).documents == 50

    (tmp_path / "keep.csv").write_text("keep\n")
    os.link(tmp_path / "keep.csv", tmp_path / "other.csv")
    cli("sql", lake.uri, "SELECT 1 AS one", "--format", "csv", "--out", tmp_path / "other.csv")
    assert (tmp_path / "other.csv").read_text() == "\"one\"\n1\n"
    assert (tmp_path / "keep.csv").read_text() == "keep\n"
    assert sorted(os.listdir(tmp_path)) == ["keep.csv", "other.csv", "x.csv"]  # nothing left aside
