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

# Lance logs a warning on every DataReplacement commit (scoring's column files: "not stable
# yet"); it reads LANCE_LOG once, when it is first imported, so this precedes every import.
os.environ.setdefault("LANCE_LOG", "warn,lance_table::transaction::manifest_build=error")

import pyarrow as pa  # noqa: E402

from winnow.ingest import FieldNames, IngestReport
from winnow.ingest import ingest as _ingest
from winnow.lake import WINNOW_VERSION, Lake, LakeError, LakeInfo, UsageError, WinnowError, describe
from winnow.lake.vectors import IndexReport, Neighbours
from winnow.lake.vectors import build_index as _build_index
from winnow.scoring import ImportReport, MetricReport
from winnow.scoring import import_scores as _import_scores
from winnow.scoring import score as _score
from winnow.scoring.dedup.clusters import DedupReport
from winnow.sql import Selection, connect
from winnow.sql import query as _query
from winnow.sql import create as _create_selection
from winnow.sql import evaluate as _evaluate
from winnow.train.eval import Agreement, EvalReport
from winnow.train.eval import evaluate as _eval_expressions
from winnow.train.weights.labels import WeightsReport
from winnow.train.weights.labels import fit as _fit_weights
from winnow.train.weights.runs import RunsReport, SampleReport
from winnow.train.weights.runs import sample as _sample_weights
from winnow.train.materialize import MaterializeReport
from winnow.train.compare import CompareReport
from winnow.train.compare import compare as _compare
from winnow.train.materialize import materialize as _materialize
from winnow.train.raters import RaterReport
from winnow.train.raters import train_rater as _train_rater

__version__ = WINNOW_VERSION


def init(uri, storage_options: dict[str, str] | None = None, compress_text: bool = False) -> Lake:
    """Create an empty lake at a path or URI (s3://, gs://, az://, memory://)."""
    return Lake.create(uri, storage_options, compress_text)


def open(uri, storage_options: dict[str, str] | None = None) -> Lake:  # noqa: A001
    """Open an existing lake."""
    return Lake.open(uri, storage_options)


def _lake(lake: Lake | str) -> Lake:
    return lake if isinstance(lake, Lake) else Lake.open(lake)


def ingest_files(lake: Lake | str, inputs: list[str] | str, **options) -> IngestReport:
    """Ingest files, directories, globs or URIs; see `winnow.ingest.ingest` for options
    (`engine="ray"`, `ray_address=...` run it on a Ray cluster; both engines give the same lake)."""
    return _ingest(_lake(lake), [inputs] if isinstance(inputs, str) else list(inputs), **options)


def info(lake: Lake | str) -> LakeInfo:
    """Documents, sources, bytes, columns, versions and size on disk of a lake."""
    return describe(_lake(lake))


def score(lake: Lake | str, scorer: str, *, engine: str | None = None, ray_address: str | None = None,
          **options) -> MetricReport:
    """Add a scorer's columns to the rows that lack them, on `engine` (local, the default, or
    ray at `ray_address`); see `winnow.scoring.score` for the other options."""
    lake = _lake(lake)
    options.setdefault("query", lambda statement, version: query(lake, statement, version))  # for scorers that fit on the lake
    return _score(lake, scorer, engine=engine, ray_address=ray_address, **options)


def dedup(lake: Lake | str, method: str = "minhash", **options) -> DedupReport:
    """Mark near-duplicates as columns, deleting nothing (`winnow dedup`): `method="minhash"`
    writes `dup_cluster` / `dup_keep` from the signature column of the `minhash` scorer
    (`winnow.scoring.dedup.lsh.dedup`), `method="semantic"` writes `semdup_cluster` /
    `semdup_keep` from an embedding column (`winnow.scoring.dedup.semantic.dedup`). Options:
    `column`, `threshold`, `keep_by` (an SQL expression over docs: the highest value is kept,
    ties by the smallest id), `progress`, and the method's own (minhash: `engine`,
    `ray_address`, `workers`; semantic: `clusters`). Returns a DedupReport.

        >>> winnow.score(lake, "minhash")
        >>> r = winnow.dedup(lake, "minhash", threshold=0.8, keep_by="n_chars")
        >>> r.clusters, r.duplicates
        >>> winnow.query(lake, "SELECT count(*) FROM docs WHERE dup_keep")
    """
    import importlib
    import inspect

    methods = {"minhash": "winnow.scoring.dedup.lsh", "semantic": "winnow.scoring.dedup.semantic"}
    if method not in methods:
        raise UsageError(f"--method {method!r}: use one of {', '.join(methods)}")
    run = importlib.import_module(methods[method]).dedup  # imported when asked (semantic needs more)
    lake = _lake(lake)
    options = {k: v for k, v in options.items() if v is not None}
    accepted = inspect.signature(run).parameters
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise UsageError(f"dedup --method {method} takes no option {', '.join(unknown)}; its options: "
                         f"{', '.join(k for k in accepted if k not in ('lake', 'query'))}")
    options.setdefault("query", lambda statement, version: query(lake, statement, version))  # for --keep-by
    return run(lake, **options)


def index(lake: Lake | str, column: str = "embedding", *, partitions: int | None = None,
          sub_vectors: int | None = None) -> IndexReport:
    """Build an IVF-PQ vector index (cosine) on a vector column through lancedb (`winnow
    index`); `partitions` (default sqrt(rows), at most rows / 256) and `sub_vectors`
    (default dimension / 16). `similar` then searches through it. Returns an IndexReport;
    see `winnow.lake.vectors`.

        >>> winnow.score(lake, "embed")
        >>> winnow.index(lake, "embedding").partitions
    """
    return _build_index(_lake(lake), column, partitions=partitions, sub_vectors=sub_vectors)


def similar(lake: Lake | str, *, id: str | None = None, text: str | None = None, k: int = 10,  # noqa: A002
            where: str | None = None, column: str = "embedding") -> Neighbours:
    """The `k` documents nearest to document `id`, or to `text` embedded with the model and
    parameters that wrote `column` (`winnow similar`), by cosine distance; `where`: a Lance
    SQL filter over docs, applied before the search. Through the column's index when there
    is one (`index`), an exact search otherwise. Returns Neighbours, whose `documents` has
    rank, id, distance, source, text and the lake's numeric score columns, nearest first
    (with `id`, that document first when the search returns it, as it does at distance 0).

        >>> winnow.similar(lake, id="owt-1000-0005", k=5).documents.column("id")
        >>> winnow.similar(lake, text="a recipe for bread", where="source = 'c4'").documents
    """
    from winnow.lake import vectors

    lake = _lake(lake)
    if (id is None) == (text is None):
        raise UsageError("give exactly one of --id ID or --text TEXT")
    vectors.vector_field(lake, column)
    if id is not None:
        vector = vectors.vector_of(lake, column, id)
    else:
        from winnow.scoring.similar import embed_query

        vector = embed_query(lake, column, text)
    scores = [c for c in vectors.numeric_columns(lake.docs().schema) if c != column]
    found = vectors.nearest(lake, column, vector, k, where, columns=["id", "source", "text", *scores])
    docs = found.documents
    if id is not None and docs.num_rows:
        ids = docs.column("id").to_pylist()
        if id in ids:  # the document itself first (another at distance 0 may tie with it)
            at = ids.index(id)
            docs = docs.take([at, *(i for i in range(docs.num_rows) if i != at)])
    found.documents = docs.add_column(0, "rank", pa.array(range(1, docs.num_rows + 1), pa.int64()))
    return found


def import_scores(lake: Lake | str, path: str, **options) -> ImportReport:
    """Import scores computed elsewhere; see `winnow.scoring.import_scores`."""
    return _import_scores(_lake(lake), path, **options)


def query(lake: Lake | str, statement: str, version: int | str | None = None, **options) -> pa.Table:
    """Run SQL over the lake's tables (`winnow sql`: docs, rejects, ingests, metrics, selections,
    runs, column_stats); an Arrow table back. It reads and writes only the files it names, never inside the
    lake (`files=` sets them; see `winnow.sql.connection.query`)."""
    return _query(_lake(lake), statement, version, **options)


def select(lake: Lake | str, name: str, sql: str, seed: int = 0, replace: bool = False,
           exclude: list[str] | tuple[str, ...] = ()) -> Selection:
    """Create a named selection pinned to the current lake version (`winnow select create`);
    `seed` is an integer from 0 to 2**63 - 1, read in the SQL as `seed()`; `exclude`: names
    of selections whose documents it leaves out (its SQL sees docs without them).

        >>> winnow.select(lake, "val", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.01", seed=1)
        >>> winnow.select(lake, "top", "WITH c AS (SELECT id, n_tokens, fasttext_oh_eli5 AS score FROM docs) "
        ...                            "SELECT id FROM top_k(c, 1e8)", exclude=["val"])
    """
    return _create_selection(_lake(lake), name, sql, seed=seed, replace=replace, exclude=exclude)


def selection(lake: Lake | str, name: str) -> pa.Table:
    """A named selection's rows, from its pinned lake version."""
    return _evaluate(_lake(lake), name)


def materialize(lake: Lake | str, name: str, out, **options) -> MaterializeReport:
    """Write a selection as token shards (or parquet / JSON lines); see `winnow.train.materialize.job`.
    `engine="local"|"ray"`, `ray_address=` and `workers=` say where the tokenizing runs; the
    shards are the same bytes on every engine and worker count."""
    return _materialize(_lake(lake), name, out, **options)


def train_rater(lake: Lake | str, name: str, kind: str = "fasttext", *, label: str | None = None,
                where: str | None = None, positive: str | None = None, negative: str | None = None,
                out=None, seed: int = 0, **options) -> RaterReport:
    """Train a rater (`winnow rater train`): fastText or an embedding head, on labels from the
    lake (`label`: an SQL expression over docs, `where`: a filter) or DCLM's `positive` and
    `negative` queries; it writes a folder (default LAKE/raters/NAME) that the `fasttext` or
    `embedding-head` scorer reads, and returns a `RaterReport` with the validation AUC and
    accuracy. See `winnow.train.raters.train_rater` for the options.

        >>> r = winnow.train_rater(lake, "hq", "embedding-head", label="(meta->>'label')::INT")
        >>> winnow.score(lake, "embedding-head", params={"model": r.out})
    """
    return _train_rater(_lake(lake), name, kind, label=label, where=where, positive=positive, negative=negative,
                        out=out, seed=seed, **options)


def eval_expressions(lake: Lake | str, label: str, expressions: list[str] | str, *, where: str | None = None,
                     version: int | str | None = None) -> EvalReport:
    """How well columns or SQL expressions over docs agree with labels (`winnow eval`): per
    expression an `Agreement` with the AUC, the accuracy at the best threshold, Spearman and
    the count, over the rows matching `where` at lake `version`; see `winnow.train.eval`.

        >>> r = winnow.eval_expressions(lake, "(meta->>'label')::INT", ["gopher_word_count", "-gopher_dup_line_frac"])
        >>> [(a.expression, round(a.auc, 3)) for a in r.agreements]
    """
    return _eval_expressions(_lake(lake), label, [expressions] if isinstance(expressions, str) else list(expressions),
                             where=where, version=version)


def fit_weights(lake: Lake | str, name: str, columns: list[str] | str | None = None, label: str | None = None, *,
                runs=None, model: str | None = None, budget: int | None = None, out=None, seed: int = 0,
                replace: bool = False) -> WeightsReport | RunsReport:
    """Learn weights of score columns from labels (`winnow weights fit --label`): a regularized
    logistic (binary label) or ridge (numeric label) model on the columns matching `columns`
    (glob patterns), log1p for counts, z-scores with the lake's constants; stored as the
    selection `name` (top documents by the learned score up to `budget` tokens, default half
    the lake's), whose SQL holds every weight, mean and scale as literals. `out`: a folder for
    NAME.sql and NAME.score.sql. Returns a `WeightsReport` (CV AUC, chosen C, weights); see
    `winnow.train.weights.labels`.

        >>> r = winnow.fit_weights(lake, "learned", ["gopher_*"], "(meta->>'label')::INT", out="sql/")
        >>> r.cv_score, r.regularization

    With `runs` (a compare of a `sample_weights`, by name or compare.json) instead of
    `label`: weights from proxy runs, Meta-rater's method (`model` "quadratic" or "gbt"); a
    `RunsReport` (see `winnow.train.weights.runs.fit_runs`).

        >>> r = winnow.fit_weights(lake, "learned", runs="s")
        >>> r.loo_spearman, r.predicted_loss
    """
    columns = [columns] if isinstance(columns, str) else list(columns or ())
    return _fit_weights(_lake(lake), name, columns, label, runs=runs, model=model, budget=budget, out=out, seed=seed,
                        replace=replace)


def sample_weights(lake: Lake | str, name: str, columns: list[str] | str, k: int, budget: int | None = None,
                   seed: int = 0, exclude: list[str] | tuple[str, ...] = (), alpha: float = 1.0,
                   replace: bool = False) -> SampleReport:
    """Draw `k` weight vectors ~ Dirichlet(alpha) over the score columns matching `columns`
    and store selections NAME-1 .. NAME-k, the top documents by each weighted sum of
    z-scores up to `budget` tokens, leaving out the `exclude` selections (`winnow weights
    sample`, Meta-rater's method); compare them, then `fit_weights(..., runs=...)`. Returns
    a `SampleReport`; see `winnow.train.weights.runs.sample`.

        >>> r = winnow.sample_weights(lake, "s", ["gopher_*"], 8, exclude=["val"])
        >>> winnow.compare(lake, [x.name for x in r.selections], tokens=4096, validation="val", tokenizer=sp, name="s")
    """
    return _sample_weights(_lake(lake), name, [columns] if isinstance(columns, str) else list(columns), k,
                           budget=budget, seed=seed, exclude=exclude, alpha=alpha, replace=replace)


def compare(lake: Lake | str, selections: list[str], *, flavor: str = "tiny", tokens: int, validation: str,
            tokenizer: str, seed: int = 0, **options) -> CompareReport:
    """Train one proxy run per selection at the same token budget, flavor, seed and
    validation set (`winnow compare`), reusing runs already in the lake's `runs` table, and
    compare them: a `CompareReport` with per selection the final validation loss, the tokens
    needed to reach the first selection's final validation loss and that as a speedup; its
    files (compare.json, curves.png, curves.html) are in `report.out`. See
    `winnow.train.compare.compare` for the options (ngpu, out, runs, name, extra, echo).

        >>> r = winnow.compare(lake, ["random", "top"], tokens=20_480, validation="val", tokenizer="sp32k.model")
        >>> [(x.selection, x.speedup) for x in r.runs]
    """
    return _compare(_lake(lake), list(selections), flavor=flavor, tokens=tokens, validation=validation,
                    tokenizer=tokenizer, seed=seed, **options)


def report(lake: Lake | str, out, *, selections: list[str] | str | None = None,
           columns: list[str] | str | None = None):
    """Write the lake's report, one self-contained HTML file with no network request (`winnow
    report`): the lake (documents, tokens, sources, versions, ingests, rejects), every numeric
    score column (histograms overall and by source, null and NaN shares, quantiles, example
    documents), their correlations, the `selections` named against the lake (shares by source,
    distributions, overlaps) and the recorded runs' loss curves. `columns`: glob patterns of
    the score columns to show (default all). Returns a ReportFile (path, bytes, seconds); see
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
    from winnow.views.serve import serve as _serve  # imported when asked: the web stack loads only here

    if isinstance(lake, Lake):
        options.setdefault("storage_options", lake.storage_options)
        lake = lake.uri
    _serve(lake, host=host, port=port, **options)

__all__ = [
    "report",
    "serve",
    "IndexReport",
    "Neighbours",
    "index",
    "similar",
    "DedupReport",
    "dedup",
    "CompareReport",
    "compare",
    "Agreement",
    "EvalReport",
    "eval_expressions",
    "WeightsReport",
    "fit_weights",
    "RunsReport",
    "SampleReport",
    "sample_weights",
    "RaterReport",
    "train_rater",
    "FieldNames",
    "IngestReport",
    "MaterializeReport",
    "UsageError",
    "WinnowError",
    "Lake",
    "LakeError",
    "LakeInfo",
    "__version__",
    "connect",
    "import_scores",
    "info",
    "ingest_files",
    "materialize",
    "score",
    "select",
    "selection",
    "init",
    "open",
    "query",
]
