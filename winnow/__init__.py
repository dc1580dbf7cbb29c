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
from winnow.scoring import ImportReport, MetricReport
from winnow.scoring import import_scores as _import_scores
from winnow.scoring import score as _score
from winnow.sql import Selection, connect
from winnow.sql import query as _query
from winnow.sql import create as _create_selection
from winnow.sql import evaluate as _evaluate
from winnow.sql.eval import Agreement, EvalReport
from winnow.sql.eval import evaluate as _eval_expressions
from winnow.sql.weights import WeightsReport
from winnow.sql.weights import fit as _fit_weights
from winnow.sql.weights_runs import RunsReport, SampleReport
from winnow.sql.weights_runs import sample as _sample_weights
from winnow.train import MaterializeReport
from winnow.train.compare import CompareReport
from winnow.train.compare import compare as _compare
from winnow.train import materialize as _materialize
from winnow.train.rater import RaterReport
from winnow.train.rater import train_rater as _train_rater

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
    """Write a selection as token shards (or parquet / JSON lines); see `winnow.train.materialize`.
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
    accuracy. See `winnow.train.rater.train_rater` for the options.

        >>> r = winnow.train_rater(lake, "hq", "embedding-head", label="(meta->>'label')::INT")
        >>> winnow.score(lake, "embedding-head", params={"model": r.out})
    """
    return _train_rater(_lake(lake), name, kind, label=label, where=where, positive=positive, negative=negative,
                        out=out, seed=seed, **options)


def eval_expressions(lake: Lake | str, label: str, expressions: list[str] | str, *, where: str | None = None,
                     version: int | str | None = None) -> EvalReport:
    """How well columns or SQL expressions over docs agree with labels (`winnow eval`): per
    expression an `Agreement` with the AUC, the accuracy at the best threshold, Spearman and
    the count, over the rows matching `where` at lake `version`; see `winnow.sql.eval`.

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
    `winnow.sql.weights`.

        >>> r = winnow.fit_weights(lake, "learned", ["gopher_*"], "(meta->>'label')::INT", out="sql/")
        >>> r.cv_score, r.regularization

    With `runs` (a compare of a `sample_weights`, by name or compare.json) instead of
    `label`: weights from proxy runs, Meta-rater's method (`model` "quadratic" or "gbt"); a
    `RunsReport` (see `winnow.sql.weights_runs.fit_runs`).

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
    a `SampleReport`; see `winnow.sql.weights_runs.sample`.

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


__all__ = [
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
