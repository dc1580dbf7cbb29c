"""winnow: a pretraining-data lake with SQL selection.

The Python API has the command line's verbs (`ingest_files` and `query` are the verbs
`ingest` and `sql`: those names are the subpackages `winnow.ingest` and `winnow.sql`)::

    import winnow
    lake = winnow.init("demo")                       # or winnow.open("demo")
    report = winnow.ingest_files(lake, ["../shared/data"])
    print(report.total())
    winnow.score(lake, "gopher")                     # one column per metric
    winnow.select(lake, "top", "WITH c AS (SELECT id, n_tokens, gopher_word_count AS score FROM docs) "
                               "SELECT id FROM top_k(c, 1e6)")
    winnow.materialize(lake, "top", "shards/", tokenizer="../shared/tokenizers/llama-style-sp32k.model")
    winnow.info(lake).documents
    winnow.query(lake, "SELECT source, count(*) FROM docs GROUP BY source")
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

# Lance logs a warning on every DataReplacement commit (scoring's column files: "not stable
# yet"); it reads LANCE_LOG once, when it is first imported, so this precedes every import.
os.environ.setdefault("LANCE_LOG", "warn,lance_table::transaction::manifest_build=error")

from winnow.lake import lazy  # noqa: E402

# The names the API offers, each imported from its module when it is first read (PEP 562,
# lake/lazy.py): `import winnow` and `winnow --help` load none of Lance, DuckDB, pyarrow,
# numpy or torch, and a verb loads what it runs when it is called.
__getattr__, __dir__ = lazy.names(__name__, {
    "__version__": "winnow.lake.version",
    "WINNOW_VERSION": "winnow.lake.version",
    "Lake": "winnow.lake",
    "LakeError": "winnow.lake",
    "LakeInfo": "winnow.lake",
    "UsageError": "winnow.lake",
    "WinnowError": "winnow.lake",
    "describe": "winnow.lake",
    "CompactResult": "winnow.lake.compact",
    "Engine": "winnow.lake.engine",
    "IndexResult": "winnow.lake.vectors",
    "Neighbours": "winnow.lake.vectors",
    "FieldNames": "winnow.ingest",
    "IngestResult": "winnow.ingest",
    "ImportResult": "winnow.scoring",
    "ScoreResult": "winnow.scoring",
    "DedupResult": "winnow.scoring.dedup.clusters",
    "Diff": "winnow.sql",
    "Preview": "winnow.sql",
    "Selection": "winnow.sql",
    "Session": "winnow.sql",
    "connect": "winnow.sql",
    "Agreement": "winnow.train.eval",
    "EvalResult": "winnow.train.eval",
    "CompareResult": "winnow.train.compare",
    "MaterializeResult": "winnow.train.materialize",
    "RaterResult": "winnow.train.raters",
    "WeightsResult": "winnow.train.weights.labels",
    "RunsResult": "winnow.train.weights.runs",
    "SampleResult": "winnow.train.weights.runs",
    "TrainResult": "winnow.train.llm.launch",
}, submodules=("lake", "ingest", "scoring", "sql", "train"))

if TYPE_CHECKING:  # the names the signatures below show
    import pyarrow

    from winnow.ingest import IngestResult
    from winnow.lake import Lake, LakeInfo
    from winnow.lake.compact import CompactResult
    from winnow.lake.engine import Engine
    from winnow.lake.vectors import IndexResult, Neighbours
    from winnow.scoring import ImportResult, ScoreResult
    from winnow.scoring.dedup.clusters import DedupResult
    from winnow.sql import Diff, Preview, Selection, Session
    from winnow.train.compare import CompareResult
    from winnow.train.eval import EvalResult
    from winnow.train.llm.launch import TrainResult
    from winnow.train.materialize import MaterializeResult
    from winnow.train.raters import RaterResult
    from winnow.train.weights.labels import WeightsResult
    from winnow.train.weights.runs import RunsResult, SampleResult

# for the command line: the registries its help lists (each in a module that imports nothing heavy)
from winnow.ingest import DEFAULT_COMMIT_BYTES, DEFAULT_MAX_DOC_BYTES  # noqa: E402
from winnow.lake.engine import ENGINES  # noqa: E402
from winnow.scoring.registry import BUILTINS as _BUILTIN_SCORERS  # noqa: E402
from winnow.sql import TABLES  # noqa: E402
from winnow.train.llm import FLAVORS as _FLAVORS  # noqa: E402
from winnow.train.materialize import OUTPUT_FORMATS as MATERIALIZE_FORMATS  # noqa: E402
from winnow.train.raters import KINDS as RATER_KINDS  # noqa: E402
from winnow.train.weights import MODELS as WEIGHT_MODELS  # noqa: E402


def init(uri, storage_options: dict[str, str] | None = None, compress_text: bool = False) -> Lake:
    """Create an empty lake at a path or URI (s3://, gs://, az://, memory://)."""
    from winnow.lake import Lake

    return Lake.create(uri, storage_options, compress_text)


def open(uri, storage_options: dict[str, str] | None = None) -> Lake:  # noqa: A001
    """Open an existing lake."""
    from winnow.lake import Lake

    return Lake.open(uri, storage_options)


def _lake(lake: Lake | str) -> Lake:
    from winnow.lake import Lake

    return lake if isinstance(lake, Lake) else Lake.open(lake)


def engine(name: str | None = None, address: str | None = None, workers: int | None = None) -> Engine:
    """An engine to run jobs on (`--engine`, `--ray-address`, `--workers`): "local" (the
    default, or $WINNOW_ENGINE) or "ray" at `address` ($WINNOW_RAY_ADDRESS; none: a
    one-machine cluster on 127.0.0.1); `workers` processes or actors. Pass it as `engine=`
    to `ingest_files`, `score`, `dedup` or `materialize`, which also take the three options
    and build it themselves.

        >>> eng = winnow.engine("local", workers=2)
        >>> (eng.name, eng.workers, eng.runs_in_process)
        ('local', 2, True)
    """
    from winnow.lake.engine import build as _build_engine

    return _build_engine(name, address, workers)


def guard() -> None:
    """Have whatever this process starts from now on end with it, however it ends (even by
    SIGKILL): workers, torchrun, a Ray cluster. Every `winnow` command does this first; an
    engine does it for the workers or the cluster it starts. One watchdog per process
    (lake/processes.py)."""
    from winnow.lake.processes import guard as _guard

    _guard()


@contextmanager
def _engine_of(options: dict):
    """The engine that `options` name (`engine`, an Engine or a name, `ray_address`,
    `workers`: taken out of `options`), built once here at the edge and handed to the job."""
    from winnow.lake.engine import build as _build_engine

    given = options.pop("engine", None)
    eng = _build_engine(given, options.pop("ray_address", None), options.pop("workers", None))
    try:
        yield eng
    finally:
        if eng is not given:
            eng.close()


def _progress(options: dict) -> dict:
    """`progress=True` in a verb's options: the bar that suits where it runs, one output
    updated in place in a Jupyter notebook, a line on stderr elsewhere (`winnow.lake.progress.auto`)."""
    if options.get("progress") is True:
        from winnow.lake.progress import auto

        options["progress"] = auto()
    return options


def ingest_files(lake: Lake | str, inputs: list[str] | str, **options) -> IngestResult:
    """Ingest files, directories, globs or URIs; see `winnow.ingest.ingest` for options
    (`engine="ray"`, `ray_address=...` run it on a Ray cluster; both engines give the same lake;
    `progress=True` shows a bar, in place in a notebook)."""
    from winnow.ingest import ingest as _ingest

    lake = _lake(lake)
    _progress(options)
    with _engine_of(options) as eng:
        return _ingest(lake, [inputs] if isinstance(inputs, str) else list(inputs), engine=eng, **options)


def info(lake: Lake | str) -> LakeInfo:
    """Documents, sources, bytes, columns, versions and size on disk of a lake."""
    from winnow.lake import describe

    return describe(_lake(lake))


def compact(lake: Lake | str, older_than: float = 0.0) -> CompactResult:
    """Rewrite the lake compactly and remove the versions nothing needs (`winnow compact`):
    each table's small fragments merged with Lance's compaction (their column files with
    them), then every version removed except the latest, tagged ones (each selection's),
    those a selection is pinned to and, with `older_than` (seconds), recent ones. Refused
    while a job is unfinished; a killed compaction loses nothing (run it again). Selections
    return the same ids after it; see `winnow.lake.compact`.

        >>> r = winnow.compact(lake)
        >>> r.size_before, r.size_after, [(t.table, t.fragments) for t in r.tables]
    """
    from winnow.lake.compact import compact as _compact

    return _compact(_lake(lake), older_than)


def score(lake: Lake | str, scorer: str, **options) -> ScoreResult:
    """Add a scorer's columns to the rows that lack them, on `engine` (local, the default, or
    ray at `ray_address`, with `workers`; or an Engine); see `winnow.scoring.score` for the
    other options (`progress=True`: a bar, in place in a notebook)."""
    from winnow.scoring import score as _score

    lake = _lake(lake)
    _progress(options)
    options.setdefault("query", lambda statement, version: query(lake, statement, version))  # for scorers that fit on the lake
    with _engine_of(options) as eng:
        return _score(lake, scorer, engine=eng, **options)


def dedup(lake: Lake | str, method: str = "minhash", **options) -> DedupResult:
    """Mark near-duplicates as columns, deleting nothing (`winnow dedup`): `method="minhash"`
    writes `dup_cluster` / `dup_keep` from the signature column of the `minhash` scorer
    (`winnow.scoring.dedup.lsh.dedup`), `method="semantic"` writes `semdup_cluster` /
    `semdup_keep` from an embedding column (`winnow.scoring.dedup.semantic.dedup`). Options:
    `column`, `threshold`, `keep_by` (an SQL expression over docs: the highest value is kept,
    ties by the smallest id), `progress`, and the method's own (minhash: `engine`,
    `ray_address`, `workers`; semantic: `clusters`). Returns a DedupResult.

        >>> winnow.score(lake, "minhash")
        >>> r = winnow.dedup(lake, "minhash", threshold=0.8, keep_by="n_chars")
        >>> r.clusters, r.duplicates
        >>> winnow.query(lake, "SELECT count(*) FROM docs WHERE dup_keep")
    """
    import importlib
    import inspect

    from winnow.lake import UsageError

    methods = _DEDUP_MODULES
    if method not in methods:
        raise UsageError(f"--method {method!r}: use one of {', '.join(methods)}")
    run = importlib.import_module(methods[method]).dedup  # imported when asked (semantic needs more)
    lake = _lake(lake)
    options = _progress({k: v for k, v in options.items() if v is not None})
    accepted = list(inspect.signature(run).parameters)
    if "engine" in accepted:  # the engine is built here, from these
        accepted += ["ray_address", "workers"]
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise UsageError(f"dedup --method {method} takes no option {', '.join(unknown)}; its options: "
                         f"{', '.join(k for k in accepted if k not in ('lake', 'query'))}")
    options.setdefault("query", lambda statement, version: query(lake, statement, version))  # for --keep-by
    if "engine" not in accepted:
        return run(lake, **options)
    with _engine_of(options) as eng:
        return run(lake, engine=eng, **options)


def index(lake: Lake | str, column: str = "embedding", *, partitions: int | None = None,
          sub_vectors: int | None = None) -> IndexResult:
    """Build an IVF-PQ vector index (cosine) on a vector column through lancedb (`winnow
    index`); `partitions` (default sqrt(rows), at most rows / 256) and `sub_vectors`
    (default dimension / 16). `similar` then searches through it. Returns an IndexResult;
    see `winnow.lake.vectors`.

        >>> winnow.score(lake, "embed")
        >>> winnow.index(lake, "embedding").partitions
    """
    from winnow.lake.vectors import build_index as _build_index

    return _build_index(_lake(lake), column, partitions=partitions, sub_vectors=sub_vectors)


def similar(lake: Lake | str, *, id: str | None = None, text: str | None = None, k: int = 10,  # noqa: A002
            where: str | None = None, column: str = "embedding") -> Neighbours:
    """The `k` documents nearest to document `id`, or to `text` embedded with the model and
    parameters that wrote `column` (`winnow similar`), by cosine distance; `where`: a DuckDB
    SQL filter over docs (as in `winnow sql`), applied before the search. Through the column's index when there
    is one (`index`), an exact search otherwise. Returns Neighbours, whose `documents` has
    rank, id, distance, source, text and the lake's numeric score columns, nearest first
    (with `id`, that document first when the search returns it, as it does at distance 0).

        >>> winnow.similar(lake, id="owt-1000-0005", k=5).documents.column("id")
        >>> winnow.similar(lake, text="a recipe for bread", where="source = 'c4'").documents
    """
    import duckdb
    import pyarrow as pa

    from winnow.lake import UsageError, WinnowError, vectors

    lake = _lake(lake)
    if (id is None) == (text is None):
        raise UsageError("give exactly one of --id ID or --text TEXT")
    vectors.check_k(k)  # every option before a model is loaded to embed --text (~30 s)
    vectors.vector_field(lake, column)
    ids = None
    if where is not None:
        try:
            ids = query(lake, f"SELECT id FROM docs WHERE ({where})").column("id")
        except (WinnowError, duckdb.Error) as e:
            raise UsageError(f"--where {where!r} is not a filter over docs: {' '.join(str(e).split())}") from None
    if id is not None:
        vector = vectors.vector_of(lake, column, id)
    else:
        from winnow.scoring.similar import embed_query

        vector = embed_query(lake, column, text)
    scores = [c for c in vectors.numeric_columns(lake.docs().schema) if c != column]
    found = vectors.nearest(lake, column, vector, k, ids, columns=["id", "source", "text", *scores])
    docs = found.documents
    if id is not None and docs.num_rows:
        ids = docs.column("id").to_pylist()
        if id in ids:  # the document itself first (another at distance 0 may tie with it)
            at = ids.index(id)
            docs = docs.take([at, *(i for i in range(docs.num_rows) if i != at)])
    found.documents = docs.add_column(0, "rank", pa.array(range(1, docs.num_rows + 1), pa.int64()))
    return found


def import_scores(lake: Lake | str, path: str, **options) -> ImportResult:
    """Import scores computed elsewhere; see `winnow.scoring.import_scores`."""
    from winnow.scoring.import_scores import import_scores as _import_scores

    return _import_scores(_lake(lake), path, **options)


def query(lake: Lake | str, statement: str, version: int | str | None = None, to: str = "arrow", **options):
    """Run SQL over the lake's tables (`winnow sql`: docs, rejects, ingests, metrics, selections,
    runs, column_stats); an Arrow table back, or with `to="pandas"` / `to="polars"` a data
    frame over the same buffers where Arrow allows (`winnow.sql.frames`). It reads and writes
    only the files it names, never inside the lake (`files=` sets them; see
    `winnow.sql.connection.query`).

        >>> winnow.query(lake, "SELECT source, count(*) AS n FROM docs GROUP BY source", to="pandas")
    """
    from winnow.sql import query as _query
    from winnow.sql.frames import FORMATS, convert

    if to not in FORMATS:  # before the query runs
        raise _usage(f"to={to!r}: use one of {', '.join(FORMATS)}")
    return convert(_query(_lake(lake), statement, version, **options), to)


def _usage(line: str):
    from winnow.lake import UsageError

    return UsageError(line)


def select(lake: Lake | str, name: str, sql: str, seed: int = 0, replace: bool = False,
           exclude: list[str] | tuple[str, ...] = ()) -> Selection:
    """Create a named selection pinned to the current lake version (`winnow select create`);
    `seed` is an integer from 0 to 2**63 - 1, read in the SQL as `seed()`; `exclude`: names
    of selections whose documents it leaves out (its SQL sees docs without them).

        >>> winnow.select(lake, "val", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.01", seed=1)
        >>> winnow.select(lake, "top", "WITH c AS (SELECT id, n_tokens, fasttext_oh_eli5 AS score FROM docs) "
        ...                            "SELECT id FROM top_k(c, 1e8)", exclude=["val"])
    """
    from winnow.sql import create as _create_selection

    return _create_selection(_lake(lake), name, sql, seed=seed, replace=replace, exclude=exclude)


def select_rows(lake: Lake | str, name: str) -> pyarrow.Table:
    """A named selection's rows, from its pinned lake version."""
    from winnow.sql import evaluate as _evaluate

    return _evaluate(_lake(lake), name)


def materialize(lake: Lake | str, name: str, out, **options) -> MaterializeResult:
    """Write a selection as token shards (`format`: winnow's `tokens`, `megatron`, `datatrove`), as
    `parquet` / `jsonl`, or as a Hugging Face dataset with its provenance card (`hf`); see
    `winnow.train.materialize.job`.
    `engine="local"|"ray"`, `ray_address=` and `workers=` say where the tokenizing runs; the
    shards are the same bytes on every engine and worker count. `progress=True`: a bar, in
    place in a notebook."""
    from winnow.lake.outputs import check_out as _check_out
    from winnow.train.materialize import materialize as _materialize

    lake = _lake(lake)
    _progress(options)
    _check_out(out, folder=True)
    with _engine_of(options) as eng:
        return _materialize(lake, name, out, engine=eng, **options)


def rater_train(lake: Lake | str, name: str, kind: str = "fasttext", *, label: str | None = None,
                where: str | None = None, positive: str | None = None, negative: str | None = None,
                out=None, seed: int = 0, **options) -> RaterResult:
    """Train a rater (`winnow rater train`): fastText or an embedding head, on labels from the
    lake (`label`: an SQL expression over docs, `where`: a filter) or DCLM's `positive` and
    `negative` queries; it writes a folder (default LAKE/raters/NAME) that the `fasttext` or
    `embedding-head` scorer reads, and returns a `RaterResult` with the validation AUC and
    accuracy. See `winnow.train.raters.train_rater` for the options.

        >>> r = winnow.rater_train(lake, "hq", "embedding-head", label="(meta->>'label')::INT")
        >>> winnow.score(lake, "embedding-head", params={"model": r.out})
    """
    from winnow.lake.outputs import check_out as _check_out
    from winnow.train.raters import train_rater as _train_rater

    if out is not None:
        _check_out(out, folder=True)
    _progress(options)
    return _train_rater(_lake(lake), name, kind, label=label, where=where, positive=positive, negative=negative,
                        out=out, seed=seed, **options)


def eval_expressions(lake: Lake | str, label: str, expressions: list[str] | str, *, where: str | None = None,
                     version: int | str | None = None) -> EvalResult:
    """How well columns or SQL expressions over docs agree with labels (`winnow eval`): per
    expression an `Agreement` with the AUC, the accuracy at the best threshold, Spearman and
    the count, over the rows matching `where` at lake `version`; see `winnow.train.eval`.

        >>> r = winnow.eval_expressions(lake, "(meta->>'label')::INT", ["gopher_word_count", "-gopher_dup_line_frac"])
        >>> [(a.expression, round(a.auc, 3)) for a in r.agreements]
    """
    from winnow.train.eval import evaluate as _eval_expressions

    return _eval_expressions(_lake(lake), label, [expressions] if isinstance(expressions, str) else list(expressions),
                             where=where, version=version)


def weights_fit(lake: Lake | str, name: str, columns: list[str] | str | None = None, label: str | None = None, *,
                runs=None, model: str | None = None, budget: int | None = None, out=None, seed: int = 0,
                replace: bool = False) -> WeightsResult | RunsResult:
    """Learn weights of score columns from labels (`winnow weights fit --label`): a regularized
    logistic (binary label) or ridge (numeric label) model on the columns matching `columns`
    (glob patterns), log1p for counts, z-scores with the lake's constants; stored as the
    selection `name` (top documents by the learned score up to `budget` tokens, default half
    the lake's), whose SQL holds every weight, mean and scale as literals. `out`: a folder for
    NAME.sql and NAME.score.sql. Returns a `WeightsResult` (CV AUC, chosen C, weights); see
    `winnow.train.weights.labels`.

        >>> r = winnow.weights_fit(lake, "learned", ["gopher_*"], "(meta->>'label')::INT", out="sql/")
        >>> r.cv_score, r.regularization

    With `runs` (a compare of a `weights_sample`, by name or compare.json) instead of
    `label`: weights from proxy runs, Meta-rater's method (`model` "quadratic" or "gbt"); a
    `RunsResult` (see `winnow.train.weights.runs.fit_runs`).

        >>> r = winnow.weights_fit(lake, "learned", runs="s")
        >>> r.loo_spearman, r.predicted_loss
    """
    from winnow.lake.outputs import check_out as _check_out
    from winnow.train.weights.labels import fit as _fit_weights

    columns = [columns] if isinstance(columns, str) else list(columns or ())
    if out is not None:
        _check_out(out, folder=True)
    return _fit_weights(_lake(lake), name, columns, label, runs=runs, model=model, budget=budget, out=out, seed=seed,
                        replace=replace)


def weights_sample(lake: Lake | str, name: str, columns: list[str] | str, k: int, budget: int | None = None,
                   seed: int = 0, exclude: list[str] | tuple[str, ...] = (), alpha: float = 1.0,
                   replace: bool = False, progress=None) -> SampleResult:
    """Draw `k` weight vectors ~ Dirichlet(alpha) over the score columns matching `columns`
    and store selections NAME-1 .. NAME-k, the top documents by each weighted sum of
    z-scores up to `budget` tokens, leaving out the `exclude` selections (`winnow weights
    sample`, Meta-rater's method); compare them, then `weights_fit(..., runs=...)`. Returns
    a `SampleResult`; see `winnow.train.weights.runs.sample`. `k` is 2 to 1,024 (`MAX_K`);
    `progress` (a `winnow.lake.progress.Progress`) sees the selections evaluated, then stored.

        >>> r = winnow.weights_sample(lake, "s", ["gopher_*"], 8, exclude=["val"])
        >>> winnow.compare(lake, [x.name for x in r.selections], tokens=4096, validation="val", tokenizer=sp, name="s")
    """
    from winnow.train.weights.runs import sample as _sample_weights

    return _sample_weights(_lake(lake), name, [columns] if isinstance(columns, str) else list(columns), k,
                           budget=budget, seed=seed, exclude=exclude, alpha=alpha, replace=replace,
                           progress=_progress({"progress": progress})["progress"])


def compare(lake: Lake | str, selections: list[str], *, flavor: str = "tiny", tokens: int, validation: str,
            tokenizer: str, seed: int = 0, **options) -> CompareResult:
    """Train one proxy run per selection at the same token budget, flavor, seed and
    validation set (`winnow compare`), reusing runs already in the lake's `runs` table, and
    compare them: a `CompareResult` with per selection the final validation loss, the tokens
    needed to reach the first selection's final validation loss and that as a speedup; its
    files (compare.json, curves.png, curves.html) are in `report.out`. See
    `winnow.train.compare.compare` for the options (ngpu, out, runs, name, extra, echo).

        >>> r = winnow.compare(lake, ["random", "top"], tokens=20_480, validation="val", tokenizer="../shared/tokenizers/llama-style-sp32k.model")
        >>> [(x.selection, x.speedup) for x in r.runs]
    """
    from winnow.lake.outputs import check_out as _check_out
    from winnow.train.compare import compare as _compare

    if options.get("out") is not None:
        _check_out(options["out"], folder=True)
    return _compare(_lake(lake), list(selections), flavor=flavor, tokens=tokens, validation=validation,
                    tokenizer=tokenizer, seed=seed, **options)


def report(lake: Lake | str, out, *, selections: list[str] | str | None = None,
           columns: list[str] | str | None = None):
    """Write the lake's report, one self-contained HTML file with no network request (`winnow
    report`): the lake (documents, tokens, sources, versions, ingests, rejects), every numeric
    score column (histograms overall and by source, null and NaN shares, quantiles, example
    documents), their correlations, the `selections` named against the lake (shares by source,
    distributions, overlaps) and the recorded runs' loss curves. `columns`: glob patterns of
    the score columns to show (default all). Returns a ReportResult (path, bytes, seconds); see
    `winnow.views.report` (`render` gives the page as a string).

        >>> winnow.report(lake, "report.html", selections=["top", "random"], columns=["gopher_*"])
    """
    from winnow.views.report import write  # imported when asked: altair loads only here

    return write(_lake(lake), out, selections=selections, columns=columns)


def serve(lake: Lake | str, *, port: int = 8000, host: str = "127.0.0.1", **options) -> None:
    """Serve the lake read-only in a local web app at http://host:port/ until Ctrl-C (`winnow
    serve`): the SQL box, documents with their scores and lineage, selections, the report.
    Options: `max_rows`, `timeout` (seconds a query may run); see `winnow.views.serve.serve`.

        >>> winnow.serve("demo", port=8000)   # then open http://127.0.0.1:8000/
    """
    from winnow.lake import Lake
    from winnow.lake.extras import need

    need("app", "winnow serve")
    from winnow.views.serve import serve as _serve  # imported when asked: the web stack loads only here

    if isinstance(lake, Lake):
        options.setdefault("storage_options", lake.storage_options)
        lake = lake.uri
    _serve(lake, host=host, port=port, **options)


# The names the command line's help lists, from the registries (a new scorer, flavor or
# format shows up there by itself).
SCORERS = tuple(_BUILTIN_SCORERS)  # built-in scorers (entry points and files: `winnow.scoring.names`)
_DEDUP_MODULES = {"minhash": "winnow.scoring.dedup.lsh", "semantic": "winnow.scoring.dedup.semantic"}
DEDUP_METHODS = tuple(_DEDUP_MODULES)
FLAVORS = tuple(_FLAVORS)  # model flavors of `pretrain` and `compare`


def describe_scorer(scorer: str) -> str:
    """A scorer's name, version, summary and parameters (`winnow score --help SCORER`);
    `scorer`: a built-in name (SCORERS), an entry point or `path/to/file.py:ClassName`.

        >>> winnow.describe_scorer("gopher").startswith("scorer gopher v")
        True
    """
    from winnow.scoring.registry import resolve

    return resolve(scorer).describe()


def scorer_params(scorers: list[str] | str, params: dict) -> list[dict]:
    """Each scorer's parameters out of one set of NAME=VALUE (`winnow score -p`), checked and
    converted before any of them runs: a name that no scorer declares is a UsageError
    naming the ones they do declare. Pass each as `score(..., params=)`.

        >>> winnow.scorer_params(["gopher", "tokens"], {"tokenizer": "gpt2"})
        [{}, {'tokenizer': 'gpt2'}]
    """
    from winnow.scoring.registry import params_for as _params_for

    return [checked for _, checked in _params_for([scorers] if isinstance(scorers, str) else list(scorers),
                                                  dict(params))]


def select_list(lake: Lake | str) -> list[Selection]:
    """Every named selection (`winnow select list`): its name, SQL, pinned lake version,
    seed, documents and the selections it excludes.

        >>> [s.name for s in winnow.select_list(lake)]
    """
    from winnow.sql import all_selections

    return all_selections(_lake(lake))


def select_show(lake: Lake | str, name: str) -> Selection:
    """A named selection's definition (`winnow select show`); a UsageError naming the
    selections there are when there is none of that name.

        >>> print(winnow.select_show(lake, "top").sql)
    """
    from winnow.sql import get as _get_selection

    return _get_selection(_lake(lake), name)


def select_preview(lake: Lake | str, name: str, samples: int = 2) -> Preview:
    """A selection at a glance (`winnow select preview`): documents, tokens, text bytes,
    shares per source, a histogram of its `score` column and `samples` documents from the
    top, middle and bottom; see `winnow.sql.preview`.

        >>> p = winnow.select_preview(lake, "top")
        >>> p.documents, p.tokens, p.sources[0]["source"]
    """
    from winnow.sql.preview import preview as _preview

    return _preview(_lake(lake), name, samples=samples)


def select_diff(lake: Lake | str, a: str, b: str) -> Diff:
    """The overlap of two selections in documents and tokens (`winnow select diff`).

        >>> d = winnow.select_diff(lake, "top", "random")
        >>> d.only_a, d.both, d.only_b
    """
    from winnow.sql import diff as _diff

    return _diff(_lake(lake), a, b)


def session(lake: Lake | str, version: int | str | None = None) -> Session:
    """A SQL session over the lake at `version` (the `winnow sql` shell): statements run one
    at a time with `.sql(text)`, and the tables, views and macros they create carry over;
    each statement reads and writes only the files it names, outside the lake (`query`).
    Close it, or use it in a `with` block.

        >>> with winnow.session(lake) as s:
        ...     s.sql("CREATE TABLE few AS SELECT id FROM docs ORDER BY id LIMIT 3")
        ...     s.sql("SELECT count(*) FROM few").fetchall()
    """
    from winnow.sql import Session

    return Session(_lake(lake), version)


def inside_lake(lake: Lake | str, path) -> bool:
    """Whether a local path (`~` and links resolved) is the lake's folder or inside it: where
    no output may go (`winnow sql --out`, `winnow report --out`).

        >>> winnow.inside_lake(lake, "report.html")
        False
    """
    from winnow.sql.sandbox import inside_lake as _inside

    return _inside(path, _lake(lake))


def check_out(out, *, folder: bool, lake: Lake | str | None = None, option: str = "--out"):
    """`out` as the local path to write (a Path), by the rule every `--out` follows: its
    folder exists, a file is not a folder (nor a folder a file), and with `lake` a file is
    not a hard link to one of the lake's files; a UsageError naming the fault otherwise
    (see `winnow.lake.outputs`).

        >>> path = winnow.check_out("report.html", folder=False, lake=lake)
    """
    from winnow.lake.outputs import check_out as _check_out

    return _check_out(out, folder=folder, lake=None if lake is None else _lake(lake), option=option)


def output_file(path, mode: str = "wb"):
    """A file opened for writing that appears at `path` whole when the `with` block ends, and
    not at all when it raises or the process is killed: written beside it, fsynced, renamed
    in last (`winnow sql --out`). It replaces `path` itself, never writing through a link.

        >>> with winnow.output_file("top.csv", "w") as f:
        ...     f.write("id\\n")
    """
    from pathlib import Path

    from winnow.lake import atomic

    return atomic.file(Path(path), mode)


def pretrain(lake: Lake | str, source: str, *, flavor: str = "tiny", steps: int | None = None,
             ngpu: int | None = None, nnodes: int = 1, rdzv_endpoint: str | None = None,
             tokenizer: str | None = None, out=None, validation: str | None = None,
             extra: list[str] | tuple[str, ...] = (), dry_run: bool = False, echo=None,
             storage_options: dict[str, str] | None = None) -> TrainResult:
    """Pretrain with torchtitan (`winnow train`) on `source`: a selection of the lake
    (materialized with `tokenizer` into OUT/shards) or a shard folder (the lake is then not
    opened). `out`: the run folder (default runs/SOURCE-FLAVOR), whose last checkpoint a
    second call resumes from; `ngpu`: GPUs per node (default all visible; 0: the CPU smoke
    path); `nnodes` > 1 with `rdzv_endpoint`; `validation`: a selection or shard folder
    sharing no document with the training data; `extra`: torchtitan's --section.key
    arguments. `echo` gets the torchrun command line ("$ ...") and then each line of the
    log; with `dry_run` nothing runs. Returns a TrainResult (losses and validation losses by
    step, tokens/s, the exit status); see `winnow.train.llm.launch`.

        >>> r = winnow.pretrain(lake, "top", tokenizer="../shared/tokenizers/llama-style-sp32k.model", ngpu=0, steps=2, out="runs/top")
        >>> r.returncode, r.losses
    """
    from pathlib import Path

    from winnow.lake import Lake
    from winnow.lake.outputs import check_out as _check_out
    from winnow.train.llm import launch

    uri, options = (lake.uri, lake.storage_options) if isinstance(lake, Lake) else (lake, storage_options or {})
    launch.check_options(flavor, steps, ngpu, nnodes, rdzv_endpoint)
    if out is not None:
        _check_out(out, folder=True)
    run_dir = Path(out) if out is not None else Path("runs") / f"{Path(source).name}-{flavor}"
    if ngpu is None:
        import torch  # imported when asked: importing winnow does not import torch

        ngpu = torch.cuda.device_count()
    if validation is not None:  # before anything is materialized
        launch.check_disjoint(uri, source, validation, options)
    seq_len = launch.FLAVORS[flavor][2]
    shards, tok = launch.prepare_shards(uri, source, run_dir, tokenizer, seq_len, options)
    val_shards = None if validation is None else launch.prepare_validation(
        uri, validation, run_dir, tok, seq_len, max(ngpu, 1) * nnodes, options)
    cmd = launch.command(flavor, shards, tok, run_dir, steps, ngpu, nnodes, rdzv_endpoint, list(extra),
                         validation=val_shards)
    if echo:
        echo("$ " + " ".join(cmd))
    if dry_run:
        return launch.TrainResult(cmd, str(run_dir), str(shards))
    return launch.run(cmd, run_dir, shards, echo=echo)


__all__ = [
    "Engine",
    "engine",
    "guard",
    "report",
    "serve",
    "IndexResult",
    "Neighbours",
    "index",
    "similar",
    "DedupResult",
    "dedup",
    "CompareResult",
    "compare",
    "Agreement",
    "EvalResult",
    "eval_expressions",
    "WeightsResult",
    "weights_fit",
    "RunsResult",
    "SampleResult",
    "weights_sample",
    "RaterResult",
    "rater_train",
    "FieldNames",
    "IngestResult",
    "MaterializeResult",
    "UsageError",
    "WinnowError",
    "Lake",
    "LakeError",
    "LakeInfo",
    "CompactResult",
    "compact",
    "__version__",
    "connect",
    "import_scores",
    "info",
    "ingest_files",
    "materialize",
    "score",
    "select",
    "select_rows",
    "init",
    "open",
    "query",
    "DEFAULT_COMMIT_BYTES",
    "DEFAULT_MAX_DOC_BYTES",
    "DEDUP_METHODS",
    "ENGINES",
    "FLAVORS",
    "MATERIALIZE_FORMATS",
    "RATER_KINDS",
    "SCORERS",
    "TABLES",
    "WEIGHT_MODELS",
    "Diff",
    "Preview",
    "Session",
    "Selection",
    "TrainResult",
    "describe_scorer",
    "select_diff",
    "select_show",
    "inside_lake",
    "check_out",
    "output_file",
    "select_list",
    "select_preview",
    "pretrain",
    "scorer_params",
    "session",
]
