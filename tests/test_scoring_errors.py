"""Scoring and import-scores asked wrongly: one line naming the cause (exit 2), and the lake
left as it was (same version, tags, columns, catalog); a job that fails once it has begun
writing is recorded as `failed` and resumes when run again."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow
from winnow.lake import UsageError, catalog
from winnow.lake.tokenizer import load_tokenizer
from winnow.scoring import BUILTINS, Param, ScoreError, ScoreUsageError, params_for, resolve

from .helpers import GITHUB, OWT, SHARED, cli, fails, lake_state

GPT2 = SHARED / "tokenizers" / "gpt2-tokenizer.json"
SCORERS = Path(__file__).parent / "scorers"
UPPER = f"{SCORERS / 'upper.py'}:UpperFraction"
FLAKY = f"{SCORERS / 'flaky.py'}:Flaky"
N = 200


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A lake of 200 real documents, shared by the tests that must leave it as it was."""
    root = tmp_path_factory.mktemp("errors")
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(corpus(root))])
    return lake


@pytest.fixture
def unchanged(small):
    """The shared lake; the test must leave it exactly as it found it."""
    before = lake_state(small)
    yield small
    assert lake_state(small) == before


# ---------------------------------------------------------------- score


def test_bad_where_leaves_the_lake_as_it_was(unchanged):
    """It used to add the columns (all null) and leave `running` rows in the catalog."""
    line = fails("score", unchanged.uri, "gopher", "--where", "n_chars >> (", "--no-progress", contains="--where")
    assert "n_chars >> (" in line
    with pytest.raises(ScoreUsageError, match="--where .*no_such_column"):  # DuckDB SQL: the line names the column
        winnow.score(unchanged, UPPER, where="no_such_column > 3")
    with pytest.raises(ScoreUsageError, match="--where"):  # fails only once evaluated over the data
        winnow.score(unchanged, UPPER, where="CAST(text AS INT) > 3")


@pytest.mark.parametrize("args, says", [
    (["tokens"], "parameter tokenizer is required"),
    (["tokens", "--tokenizer", "/nonexistent/tok.json"], "tokenizer /nonexistent/tok.json: no such file"),
    (["tokens", "--tokenizer", str(OWT)], f"tokenizer {OWT}: not a tokenizer.json"),
    (["tokens", "--tokenizer", str(GPT2), "-p", "threads=abc"], "parameter threads='abc' is not an integer"),
    (["gopher", "--batch-rows", "0"], "--batch-rows) must be > 0, got 0"),
    (["gopher", "--batch-size", "50"], "--batch-size is now --batch-rows"),
])
def test_scorer_usage_errors_are_one_line(unchanged, args, says):
    fails("score", unchanged.uri, *args, "--no-progress", contains=says)


def test_usage_errors_through_the_api_write_nothing(unchanged):
    with pytest.raises(ScoreUsageError, match="scorer gopher has no parameter 'nope'; it takes no parameters"):
        winnow.score(unchanged, "gopher", params={"nope": 1})
    with pytest.raises(ScoreUsageError, match="no scorer of gopher, tokens has parameter.s. nope; their parameters: "
                                              "threads, tokenizer"):
        params_for(["gopher", "tokens"], {"tokenizer": str(GPT2), "nope": "1"})
    assert [p for _, p in params_for(["gopher", "tokens"], {"tokenizer": str(GPT2), "threads": "2"})] == \
        [{}, {"tokenizer": str(GPT2), "threads": 2}]
    with pytest.raises(UsageError, match="commit_rows .--commit-rows. must be > 0"):
        winnow.score(unchanged, UPPER, commit_rows=-5)
    with pytest.raises(ScoreUsageError, match="has no parameter 'colum'; its parameters: column"):
        winnow.score(unchanged, UPPER, params={"colum": "x"})
    with pytest.raises(ScoreUsageError, match="would write column.s. text"):
        winnow.score(unchanged, UPPER, params={"column": "text"})
    with pytest.raises(ScoreUsageError, match="max_chars=0 must be >= 1"):
        winnow.score(unchanged, "lang", params={"max_chars": 0})
    with pytest.raises(ScoreUsageError, match="model /nonexistent/model: no such folder"):
        winnow.score(unchanged, "hf-classifier", params={"model": "/nonexistent/model"})
    with pytest.raises(UsageError, match="device 'gpu'"):
        winnow.score(unchanged, UPPER, device="gpu")
    with pytest.raises(UsageError, match="workers"):
        winnow.score(unchanged, UPPER, workers=0)


def test_a_device_is_refused_where_missing_and_named_unused_where_no_model_runs(lake):
    """`score gopher --device cuda` exited 0 without a word; a scorer that runs no model now
    says that the device is not used (a warning, exit 0: in `score a b --device cuda` the
    model scorer uses it), and a model scorer is refused a GPU this machine lacks before
    its model is loaded."""
    import torch

    winnow.ingest_files(lake, [str(GITHUB)])
    proc = cli("score", lake.uri, "gopher", "--device", "cuda", "--no-progress")
    assert proc.stderr.strip().splitlines() == [
        "warning: scorer gopher runs no model: --device cuda is not used (it runs on the CPU)"]
    assert "gopher v" in proc.stdout
    assert "warning" not in cli("score", lake.uri, UPPER, "--no-progress").stderr  # --device cpu, the default
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    before = lake_state(lake)
    with pytest.raises(ScoreUsageError, match="no CUDA device is visible" if n == 0 else "shows"):
        winnow.score(lake, "hf-classifier", params={"model": "/nonexistent/model"}, device=f"cuda:{n}")
    assert lake_state(lake) == before


def test_load_tokenizer_names_the_path_and_what_it_expected(tmp_path):
    """Every user of load_tokenizer (tokens, materialize, the loader) gets one UsageError."""
    not_json = tmp_path / "notes.json"
    not_json.write_text("these are not tokens\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = {
        "/nonexistent/tok.json": "no such file or folder",
        str(not_json): "not a tokenizer.json",
        str(OWT): "not a SentencePiece .model",  # another suffix: both kinds tried
        str(empty): "a folder that transformers' AutoTokenizer cannot load",
    }
    for spec, says in cases.items():
        with pytest.raises(UsageError) as e:
            load_tokenizer(spec)
        assert f"tokenizer {spec}: " in str(e.value) and says in str(e.value)
        assert "expected a tokenizer.json file, a SentencePiece .model file" in str(e.value)


def corpus(tmp_path: Path, n: int = N) -> Path:
    path = tmp_path / f"owt-{n}.jsonl"
    path.write_text("".join(OWT.read_text().splitlines(keepends=True)[:n]))
    return path


def test_materialize_with_a_missing_tokenizer_is_one_line(lake, tmp_path):
    winnow.ingest_files(lake, [str(corpus(tmp_path, 20))])
    winnow.select(lake, "all", "SELECT id FROM docs")
    fails("materialize", lake.uri, "all", "--out", tmp_path / "shards", "--tokenizer", "/nonexistent/tok.json",
          "--no-progress", contains="tokenizer /nonexistent/tok.json: no such file or folder")


# ---------------------------------------------------------------- parameters


def test_every_builtin_scorer_declares_typed_parameters():
    for name in BUILTINS:
        cls = resolve(name)
        assert isinstance(cls.parameters, dict), name
        for key, p in cls.parameters.items():
            assert isinstance(p, Param) and p.type in (str, int, float, bool) and p.help, (name, key)
    tokens, hf = resolve("tokens"), resolve("hf-classifier")
    assert tokens.check_params({"tokenizer": GPT2, "threads": "2"}) == {"tokenizer": str(GPT2), "threads": 2}
    assert hf.check_params({"model": "m", "per_label": "yes", "max_length": 64}) == \
        {"model": "m", "per_label": True, "max_length": 64}
    for bad in ({"model": "m", "per_label": "maybe"}, {"model": "m", "max_length": 1.5},
                {"model": "m", "batch_size": True}):
        with pytest.raises(ScoreUsageError):
            hf.check_params(bad)


def test_score_help_lists_a_scorers_parameters():
    out = cli("score", "--help", "tokens").stdout
    assert "scorer tokens v1" in out
    assert [line.split()[:3] for line in out.splitlines() if line.startswith("  ")] == [
        ["tokenizer", "string", "required"], ["threads", "integer", "optional"]]
    out = cli("score", "--help", "hf-classifier", "gopher").stdout
    rows = {line.split()[0]: line.split()[1:4] for line in out.splitlines() if line.startswith("  ")}
    assert rows["max_length"][:3] == ["integer", "default:", "512"]
    assert rows["per_label"][:3] == ["boolean", "default:", "false"]
    assert rows["model"][:2] == ["string", "required"] and rows["long_docs"][:2] == ["string", "optional"]
    assert "scorer gopher v2" in out and "parameters: none" in out
    assert "--help SCORER" in cli("score", "--help").stdout
    fails("score", "--help", "no-such-scorer", contains="no scorer named 'no-such-scorer'")


# ---------------------------------------------------------------- a job that fails part-way


def test_a_job_that_fails_is_recorded_failed_and_resumes(lake, tmp_path, monkeypatch):
    winnow.ingest_files(lake, [str(corpus(tmp_path, 300))])
    monkeypatch.setenv("FLAKY_FAIL_AFTER", "100")
    with pytest.raises(ScoreError, match=r"failed after committing 100 of 300 rows \(ValueError: flaky gave up"):
        winnow.score(lake, FLAKY, workers=1, batch_rows=50, commit_rows=50)
    m = catalog.metric(lake, "flaky_len")
    assert (m["status"], m["rows"]) == ("failed", 100)
    assert m["error"] == "ValueError: flaky gave up after 100 rows"
    # the command line: exit 1, one line; the next 100 rows were committed first
    line = fails("score", lake.uri, FLAKY, "--workers", "1", "--batch-rows", "50", "--commit-rows", "50",
                 "--no-progress", code=1, contains="recorded as failed")
    assert "committing 100 of 200 rows" in line
    assert catalog.metric(lake, "flaky_len")["rows"] == 200
    monkeypatch.delenv("FLAKY_FAIL_AFTER")
    r = winnow.score(lake, FLAKY, workers=1)
    assert (r.scored, r.rows) == (100, 300)
    m = catalog.metric(lake, "flaky_len")
    assert (m["status"], m["rows"], m["error"]) == ("done", 300, None)


def test_an_older_metrics_catalog_gains_the_error_column(lake):
    """A lake made before `error` existed: opening it gives its metrics table the column."""
    lake.dataset("metrics").drop_columns(["error"])
    assert "error" not in lake.dataset("metrics").schema.names
    lake = winnow.open(lake.uri)
    winnow.ingest_files(lake, [str(SHARED / "data" / "github-sample-50.jsonl")])
    winnow.score(lake, UPPER)
    assert catalog.metric(lake, "upper_frac")["status"] == "done"
    assert lake.dataset("metrics").schema.names[-1] == "error"


# ---------------------------------------------------------------- import-scores


@pytest.fixture(scope="module")
def files(small, tmp_path_factory):
    root = tmp_path_factory.mktemp("scores")
    ids = small.docs().to_table(columns=["id"])["id"].to_pylist()
    made = {
        "good": {"id": ids, "edu": [float(i % 6) for i in range(N)]},
        "repeated": {"id": ids + ids[:3], "edu": [1.0] * (N + 3)},
        "null_id": {"id": ids[:5] + [None] + ids[6:], "edu": [1.0] * N},
        "text": {"id": ids, "text": ["overwritten"] * N},
        "lists": {"id": ids, "q": [[1.0, 2.0]] * N},
        "nulls": {"id": ids, "empty": pa.nulls(N)},
        "ids": {"id": ids},
        "two_ids": {"doc": ids, "id": ids, "edu": [1.0] * N},
    }
    paths = {}
    for name, columns in made.items():
        paths[name] = root / f"{name}.parquet"
        pq.write_table(pa.table(columns), paths[name])
    paths["broken"] = root / "broken.parquet"
    paths["broken"].write_bytes(b"PAR1 not really")
    return paths


def test_import_errors_are_one_line_and_write_nothing(unchanged, files):
    fails("import-scores", unchanged.uri, files["good"], "--on", "doc_id", contains="no id column 'doc_id'")
    fails("import-scores", unchanged.uri, files["broken"], contains="cannot be read as parquet")
    fails("import-scores", unchanged.uri, "/nonexistent/scores.jsonl", contains="no such file")
    cases = [
        (files["good"], {"columns": ["edu", "nope"]}, "no column(s) nope"),
        (files["repeated"], {}, "appears 2 times (3 id(s) repeat)"),
        (files["null_id"], {}, "is null in row 6"),
        (files["text"], {"replace": True}, "would overwrite the documents' own columns"),
        (files["lists"], {"split": {"q": ["a", "b", "c"]}}, "has 2 element(s) in row 1, fewer than the 3 names"),
        (files["lists"], {"split": {"other": ["a"]}}, "--split other: not a column being imported"),
        (files["lists"], {"split": {"q": ["a", "a"]}}, "column 'a' is named twice"),
        (files["nulls"], {}, "hold no values"),
        (files["ids"], {}, "no column to import besides the id column 'id'"),
        (files["two_ids"], {"on": "doc"}, "column 'id' would overwrite the documents' ids"),
    ]
    for path, options, says in cases:
        with pytest.raises(ScoreUsageError) as e:
            winnow.import_scores(unchanged, str(path), **options)
        assert says in str(e.value), (options, str(e.value))


def test_import_an_existing_column_needs_replace(lake, files, tmp_path):
    winnow.ingest_files(lake, [str(corpus(tmp_path))])
    winnow.import_scores(lake, str(files["good"]))
    before = lake_state(lake)
    fails("import-scores", lake.uri, files["good"], contains="edu already exist: pass --replace")
    assert lake_state(lake) == before
