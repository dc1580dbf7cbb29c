"""The kill suite's machinery (tests/test_kill_steps*.py): every verb that writes, killed
(SIGKILL) at each of its write steps, then run again; the run after the kill must complete
without --replace, and its result equal a clean run's (the lake's columns and rows, catalog
states, selections and their rows, the files written), with no temporary file left behind.

The steps are lake/killpoints.py's `step()` calls. `VERBS` declares each verb's steps in the
order a clean run on the tiny lakes below reaches them; the first test of each verb runs it
once with WINNOW_STEPS_LOG and checks that declaration, so a step added to the code and not
here fails. A step reached several times (a commit per fragment, a shard) is killed at its
first hit, and at the later hits declared with WINNOW_TESTS_KILL=all. The killed run is a
real process (`winnow` with WINNOW_KILL_AT=STEP:N); the clean run and the run after the kill
go through `cli()` in the test's process.

Not covered: `compare` and `train` (torchtitan runs, ~1 minute each on 2 cores: killed at
each step, minutes per verb), `score --engine ray` and `materialize --format tokens` (their
write steps are the same calls as those covered), semantic dedup (its write steps are
`write_clusters`', covered through minhash dedup).

The figures (trials, runs after a kill that completed, results equal to a clean run's) are
printed at the end of each module with `-s`:

    python -m pytest -q -s tests/test_kill_steps.py tests/test_kill_steps_files.py
"""

from __future__ import annotations

import difflib
import json
import os
import random
import re
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow
from winnow.lake import catalog
from winnow.lake.killpoints import KILL_AT, STEPS_LOG
from winnow.sql.selections import all_selections, evaluate

from .helpers import OWT, SHARED, WINNOW, cli, edited, texts

TOKENIZER = SHARED / "tokenizers" / "gpt2-tokenizer.json"


@dataclass(frozen=True)
class Verb:
    pre: str  # the lake it starts from (`make_lakes`)
    args: tuple[str, ...]  # after `winnow`; LAKE, ROOT, INPUT and SCORES are put in
    steps: tuple[str, ...]  # "name" or "name:N" (the N-th hit), the order of a clean run
    env: tuple[tuple[str, str], ...] = ()  # set for each run of the verb


COLUMN_STEPS = ("score:claimed", "score:columns", "columns:staged", "columns:staged:3", "columns:commit",
                "score:written")
VERBS = {
    "ingest": Verb("empty", ("ingest", "LAKE", "INPUT", "--commit-mb", "0.06", "--workers", "1"),
                   ("ingest:claimed", "ingest:rejects", "ingest:docs", "ingest:docs:3", "ingest:ended")),
    # a lake past the key index's lag limit (ingest/keyindex.py): the index of each key column built
    "ingest-index": Verb("empty", ("ingest", "LAKE", "INPUT", "--commit-mb", "0.06", "--workers", "1"),
                         ("ingest:claimed", "ingest:rejects", "ingest:docs", "ingest:docs:3", "ingest:ended",
                          "ingest:index", "ingest:index:2"), (("WINNOW_KEY_INDEX_ROWS", "10"),)),
    "score-gopher": Verb("base", ("score", "LAKE", "gopher", "--workers", "1"), COLUMN_STEPS),
    "score-minhash": Verb("base", ("score", "LAKE", "minhash", "--workers", "1"), COLUMN_STEPS),
    "import-scores": Verb("base", ("import-scores", "LAKE", "SCORES"),
                          ("import:claimed", "import:columns", "columns:commit", "import:commit")),
    "dedup-minhash": Verb("signed", ("dedup", "LAKE", "--method", "minhash"),
                          ("dedup:claimed", "dedup:columns", "columns:commit", "dedup:written")),
    "select-create": Verb("base", ("select", "create", "LAKE", "long", "-q",
                                   "SELECT id FROM docs WHERE n_chars > 3000"), ("select:pinned",)),
    "materialize": Verb("scored", ("materialize", "LAKE", "sel", "--out", "ROOT/shards", "--format", "jsonl",
                                   "--shard-docs", "10"),
                        ("materialize:started", "materialize:shard", "materialize:shard:4", "materialize:manifest")),
    "rater-train": Verb("scored", ("rater", "train", "LAKE", "rq", "--kind", "fasttext", "--label", "n_tokens > 700"),
                        ("rater:model", "rater:card", "atomic:publish")),
    "weights-fit": Verb("scored", ("weights", "fit", "LAKE", "w", "--columns", "gopher_word*", "--columns",
                                   "gopher_stop*", "--label", "n_tokens > 700", "--out", "ROOT/weights"),
                        ("atomic:publish", "weights:file", "atomic:publish:2", "weights:file:2", "select:pinned")),
    "report": Verb("scored", ("report", "LAKE", "--out", "ROOT/report.html"), ("atomic:publish",)),
    "compact": Verb("scored", ("compact", "LAKE"), ("compact:docs", "compact:cleaned", "compact:tables")),
    "sql-out": Verb("scored", ("sql", "LAKE", "SELECT id, n_tokens, gopher_word_count FROM docs ORDER BY id",
                               "--format", "csv", "--out", "ROOT/result.csv"), ("atomic:publish",)),
}


def trials(names) -> list[tuple[str, str]]:
    """(verb, step) for every declared step of the verbs `names`: its first hit only, unless
    WINNOW_TESTS_KILL=all asks for the later hits too (a commit per fragment, a shard: the
    same window again, ~3 s per trial)."""
    every = os.environ.get("WINNOW_TESTS_KILL") == "all"
    return [(name, step) for name in names for step in VERBS[name].steps if every or _hits(step)[1] == 1]


def _hits(step: str) -> tuple[str, int]:
    """"name:N" -> (name, N); a name without a count -> (name, 1)."""
    name, _, n = step.rpartition(":")
    return (name, int(n)) if n.isdigit() else (step, 1)


def _declared(steps) -> list[tuple[str, int]]:
    return [_hits(s) for s in steps]


# ------------------------------------------------------------------ the lakes before each verb


def _input(path: Path) -> None:
    """34 records: 30 OpenWebText documents, 3 near copies (1% of words edited, for dedup)
    and one broken line (a reject)."""
    docs = texts(OWT, 30)
    rng = random.Random(1)
    vocab = " ".join(docs).split()[:500]
    with open(path, "w") as f:
        for i, text in enumerate(docs):
            f.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
            if i % 10 == 3:
                f.write(json.dumps({"id": f"e{i}", "text": edited(text, 0.01, rng, vocab)}) + "\n")
            if i == 7:
                f.write('{"id": "broken", "text": \n')


def make_lakes(top: Path, wanted: set[str]) -> dict[str, Path]:
    """The lakes the verbs start from, under `top`, those `wanted` and what they need:
    `empty`; `base`: the input ingested in three fragments; `signed`: base with minhash;
    `scored`: base with minhash, gopher and n_tokens, and a selection `sel`."""
    _input(top / "input.jsonl")
    made = {"top": top, "empty": top / "empty"}
    winnow.init(made["empty"] / "lake")
    if wanted == {"empty"}:
        return made
    made["base"] = top / "base"
    shutil.copytree(made["empty"], made["base"])
    cli("ingest", made["base"] / "lake", top / "input.jsonl", "--commit-mb", "0.06", "--workers", "1")
    docs = winnow.open(made["base"] / "lake").docs().to_table(columns=["id", "n_chars"])
    pq.write_table(pa.table({"id": docs["id"], "v": pa.compute.multiply(docs["n_chars"], 2)}), top / "scores.parquet")
    if "signed" in wanted:
        made["signed"] = top / "signed"
        shutil.copytree(made["base"], made["signed"])
        cli("score", made["signed"] / "lake", "minhash", "--workers", "1")
    if "scored" in wanted:
        made["scored"] = top / "scored"
        shutil.copytree(made["base"], made["scored"])
        scored = made["scored"] / "lake"
        cli("score", scored, "minhash", "gopher", "--workers", "1")
        cli("score", scored, "tokens", "--tokenizer", TOKENIZER, "--workers", "1")
        cli("select", "create", scored, "sel", "-q", "SELECT id FROM docs WHERE n_tokens > 100")
    return made


def _args(verb: Verb, root: Path, lakes) -> list[str]:
    put = {"LAKE": str(root / "lake"), "INPUT": str(lakes["top"] / "input.jsonl"),
           "SCORES": str(lakes["top"] / "scores.parquet")}
    return [put.get(a, a.replace("ROOT", str(root))) for a in verb.args]


def _copy(lakes, verb: Verb, root: Path) -> Path:
    shutil.copytree(lakes[verb.pre], root)
    return root


# ------------------------------------------------------------------ what a run leaves


_STAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d| UTC)?|computed in [\d.]+ s")
_MOVING = {"created", "created_at", "seconds"}
# DuckDB's parallel sums and correlations differ in the last digits from run to run (two clean
# runs of `weights fit` or `report` do too): numbers are compared to 9 significant digits.
_FLOAT = re.compile(r"-?\d+\.\d+(e-?\d+)?")


def _text(text: str, root: Path) -> str:
    text = _STAMP.sub("STAMP", text.replace(str(root), "ROOT"))
    return _FLOAT.sub(lambda m: f"{float(m.group()):.9g}", text)


def _json(value):
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items() if k not in _MOVING}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _file(path: Path, root: Path):
    data = path.read_bytes()
    if path.suffix == ".json":
        return _json(json.loads(data.decode().replace(str(root), "ROOT")))
    if path.suffix in (".html", ".sql", ".csv", ".jsonl", ".txt"):
        return _text(data.decode(), root)
    return data


def state(root: Path) -> dict:
    """What a run leaves under `root` (its lake and output files), without what moves from
    run to run (ingest ids, times, lake version numbers, fragment layout)."""
    lake = winnow.open(root / "lake")
    docs = lake.docs().to_table()
    docs = docs.drop_columns(["ingest_id"]).sort_by("id")
    rejects = lake.dataset("rejects").to_table(columns=["input", "input_row", "reason"]).sort_by("input_row")
    metrics = catalog.metrics(lake)
    ingests = catalog.ingests(lake)
    selections = {s.name: (_text(s.sql, root), s.seed, s.documents, s.exclude,
                           sorted(evaluate(lake, s)["id"].to_pylist())) for s in all_selections(lake)}
    files = {}
    for path in sorted(root.rglob("*")):
        inside = path.relative_to(root).parts
        if path.is_file() and (inside[0] != "lake" or inside[1] == "raters"):
            files["/".join(inside)] = _file(path, root)
    return {
        "columns": docs.column_names,
        "docs": json.dumps(docs.to_pylist(), default=str),
        "rejects": rejects.to_pylist(),
        "metrics": [{k: r[k] for k in ("metric", "scorer", "scorer_version", "params", "status", "rows")}
                    for r in metrics.to_pylist()],
        "ingests": [{k: r[k] for k in ("input", "status", "n_read", "n_written", "n_duplicates", "n_rejected")}
                    for r in ingests.to_pylist()],
        "selections": selections,
        "tags": sorted(lake.docs().tags.list()),
        "files": files,
    }


def leftovers(root: Path) -> list[str]:
    """Temporary files and staged column files that a completed run must not leave."""
    found = [str(p.relative_to(root)) for p in root.rglob("*") if ".tmp" in p.name]
    staging = root / "lake" / "_staging"
    found += [str(p.relative_to(root)) for p in staging.rglob("*") if p.is_file()] if staging.is_dir() else []
    return found


def _diff(a, b) -> str:
    show = lambda v: json.dumps(v, indent=1, default=repr, sort_keys=True).splitlines()  # noqa: E731
    return "\n".join(list(difflib.unified_diff(show(a), show(b), "clean", "after the kill", lineterm=""))[:40])


_clean: dict[str, dict] = {}


@contextmanager
def _environ(values: dict[str, str]):
    """os.environ with `values` set, as it was after."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def clean_state(lakes, name: str, tmp_root: Path) -> dict:
    """A clean run's state (made once per verb); the steps it reached are checked against
    the declared ones."""
    if name not in _clean:
        verb = VERBS[name]
        root = _copy(lakes, verb, tmp_root / f"clean-{name}")
        log = root.parent / f"steps-{name}.log"
        with _environ({**dict(verb.env), STEPS_LOG: str(log)}):
            cli(*_args(verb, root, lakes))
        reached = log.read_text().split()
        counted, seen = [], {}
        for s in reached:
            seen[s] = seen.get(s, 0) + 1
            counted.append((s, seen[s]))
        wanted = _declared(verb.steps)
        firsts_and_lasts = [(s, n) for s, n in counted if n == 1 or (n == seen[s] and n > 1)]
        assert firsts_and_lasts == wanted, f"{name} reached {reached}; declared {verb.steps}"
        assert not leftovers(root), leftovers(root)
        _clean[name] = state(root)
    return _clean[name]


# ------------------------------------------------------------------ a trial


def check_steps(lakes, name: str, tmp_root: Path) -> None:
    """A clean run reaches the declared steps, in order (first and last hit of each)."""
    clean_state(lakes, name, tmp_root)


def trial(lakes, name: str, step: str, tmp_path: Path, figures: dict) -> None:
    """Kill verb `name` at `step` (in a process of its own), run it again, compare with a
    clean run; counted in `figures`."""
    verb = VERBS[name]
    expected = clean_state(lakes, name, tmp_path)
    figures["trials"] += 1
    root = _copy(lakes, verb, tmp_path / "killed")
    target, n = _hits(step)
    env = {**os.environ, **dict(verb.env), KILL_AT: f"{target}:{n}"}
    killed = subprocess.run([str(WINNOW), *_args(verb, root, lakes)], env=env, capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == -9, f"not killed at {step}: exit {killed.returncode}\n{killed.stderr}"
    figures["killed"] += 1
    with _environ(dict(verb.env)):
        again = cli(*_args(verb, root, lakes), check=False)
    assert again.returncode == 0, f"the run after a kill at {step} failed:\n{again.stdout}\n{again.stderr}"
    figures["completed"] += 1
    assert not leftovers(root), leftovers(root)
    got = state(root)
    for key in expected:
        assert got[key] == expected[key], f"{key} differs from a clean run's after a kill at {step}:\n" + _diff(
            expected[key], got[key])
    figures["equal"] += 1


def figures_line(names, figures: dict) -> str:
    return (f"kill suite ({', '.join(names)}): {figures['trials']} trials (verb x kill point), "
            f"{figures['killed']} killed at their step, {figures['completed']} runs after the kill completed, "
            f"{figures['equal']} results equal to a clean run's")


def suite(names: list[str]):
    """The tests of one kill-suite module over the verbs `names` (tests/test_kill_steps*.py: the
    verbs are split over two modules so that xdist's two workers share them): its `lakes`
    fixture, the steps test, the trials, and the teardown that prints the figures. A module
    binds them to these names: `lakes, test_steps_of, test_killed_at_each_step_then_run_again,
    teardown_module = kill.suite(NAMES)`."""
    figures = {"trials": 0, "killed": 0, "completed": 0, "equal": 0}
    cases = trials(names)

    @pytest.fixture(scope="module")
    def lakes(tmp_path_factory):
        return make_lakes(tmp_path_factory.mktemp("kill"), {VERBS[n].pre for n in names})

    @pytest.mark.parametrize("name", names)
    def test_steps_of(lakes, tmp_path_factory, name):
        """A clean run reaches the declared steps, in order; its result is kept for the trials."""
        check_steps(lakes, name, tmp_path_factory.mktemp(name))

    @pytest.mark.parametrize("name,step", cases, ids=[f"{v}@{s}" for v, s in cases])
    def test_killed_at_each_step_then_run_again(lakes, tmp_path, name, step):
        """Killed at `step`, run again without --replace: it completes, equal to a clean run."""
        trial(lakes, name, step, tmp_path, figures)

    def teardown_module(module):
        if figures["trials"]:
            print("\n" + figures_line(names, figures))

    return lakes, test_steps_of, test_killed_at_each_step_then_run_again, teardown_module

