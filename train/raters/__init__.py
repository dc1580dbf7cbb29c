"""Raters you train yourself: `winnow rater train LAKE NAME --kind fasttext|embedding-head`.

The result is a folder that a scorer reads: `winnow score LAKE fasttext -p model=DIR` or
`winnow score LAKE embedding-head -p model=DIR`, whose column is NAME.

Training data, read through SQL over the lake at one lake version:
- labels: `label` is an SQL expression over `docs` (`(meta->>'label')::INT`), `where` an
  optional filter; rows whose label is NULL are left out (counted as `unlabeled`);
- DCLM's recipe: `positive` and `negative` are queries, each returning a `text` column (an
  `id` column is optional); their rows are the classes 1 and 0.
Documents with no text (empty or only spaces) are left out (counted as `empty`).

Classes: the distinct label values (at most MAX_CLASSES), in sorted order; the positive
class is the greatest (1 over 0, true over false). With two classes the column is
P(positive); with more it is still the probability of that top class (fastText reads the
positive label's own probability, the head a softmax), so one rule serves both kinds and the
`fasttext` scorer reads either. Accuracy counts the most probable class against the label;
AUC ranks P(positive class) against the rest.

Validation: a stratified hold-out. Rows are ordered by id (by the xxh3-64 of the text when a
query gives no id); each class's rows, in that order, are permuted with numpy's
`default_rng(seed)` (classes in sorted order, one generator) and the first
round(fraction * n) of them (at least 1, at most n - 1) are held out. The card records the
seed, the fraction and the held-out ids, so the split can be checked or reproduced.

Kinds:
- fasttext: DCLM's classifier (mlfoundations/dclm `baselines/train_fasttext_classifier.py`:
  lr 0.1, dim 100, ws 5, epoch 5, minCount 1; wordNgrams 2 as in DCLM's released bigram
  model; bucket 200,000 rather than fastText's 2,000,000, which makes an 800 MB file),
  trained with fastText's supervised mode on one thread (reproducible for a seed), on the
  text as DCLM's scorer gives it (`dclm_text`: lines joined by one space), training rows
  shuffled with the seed. Labels `__label__hq` (positive) and `__label__cc` (negative) for two
  classes, as DCLM names them; `__label__<value>` for more. Writes model.bin + card.json.
- embedding-head: each text embedded by the `embed` scorer (all-MiniLM-L6-v2 unless
  `embed_model=`), then a logistic regression (scikit-learn, lbfgs, L2 with `C`, multinomial
  for more than two classes) on the embeddings. Writes head.safetensors + card.json (read by
  `winnow.scoring.scorers.embedding_head`).

The folder is written in a temporary folder and moved into place at the end: a failure
leaves nothing behind. Its default is LAKE/raters/NAME for a lake on the local disk.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import duckdb
import numpy as np
import pyarrow as pa

from winnow.lake import WINNOW_VERSION, Lake
from winnow.lake.errors import UsageError, check
from winnow.lake.progress import Progress
from winnow.lake.schema import DOCS
from winnow.scoring.card import CARD_FILE
from winnow.scoring.model import MODEL_PARAMETERS
from winnow.scoring.scorer import Param
from winnow.sql import check_seed
from winnow.sql import query as sql_query
from winnow.sql.connection import check_sql
from winnow.sql.sandbox import inside_lake, lake_folder

KINDS = ("fasttext", "embedding-head")
MAX_CLASSES = 32
DEFAULT_FRACTION = 0.2
RATERS_FOLDER = "raters"  # LAKE/raters/NAME: the default folder of a local lake's raters
POSITIVE_LABEL, NEGATIVE_LABEL = "__label__hq", "__label__cc"  # DCLM's names
EMBED_WINDOW = 256  # documents per embedding window (the progress line's step)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

PARAMETERS: dict[str, dict[str, Param]] = {
    "fasttext": {
        "lr": Param(float, 0.1, "learning rate (DCLM's default)", minimum=0.0),
        "dim": Param(int, 100, "size of the word vectors", minimum=1),
        "ws": Param(int, 5, "context window", minimum=1),
        "epoch": Param(int, 5, "passes over the training rows", minimum=1),
        "minCount": Param(int, 1, "word occurrences needed to be in the vocabulary", minimum=1),
        "wordNgrams": Param(int, 2, "word n-grams (DCLM's released model: bigrams)", minimum=1),
        "bucket": Param(int, 200_000, "hash buckets for the n-grams (fastText's and DCLM's 2,000,000 make "
                                      "an 800 MB model)", minimum=1),
        "thread": Param(int, 1, "training threads (more than 1 is not reproducible)", minimum=1),
    },
    "embedding-head": {
        "embed_model": Param(str, None, "a sentence-transformers id or folder (default: the embed scorer's, "
                                        "all-MiniLM-L6-v2)"),
        "max_length": Param(int, None, "tokens read per document (default: the model's max_seq_length)", minimum=4),
        "batch_tokens": MODEL_PARAMETERS["batch_tokens"],
        "batch_size": MODEL_PARAMETERS["batch_size"],
        "C": Param(float, 1.0, "inverse L2 strength of the logistic regression"),
        "max_iter": Param(int, 1000, "lbfgs iterations at most", minimum=1),
    },
}


@dataclass(frozen=True)
class RaterReport:
    """What `train_rater` did: the folder, the classes and the validation metrics."""

    name: str
    kind: str
    out: str  # the rater folder
    lake_version: int
    classes: list  # label values, sorted; the last is the positive class
    class_rows: list[int]  # rows per class (training + validation)
    validation_class_rows: list[int]
    train_rows: int
    validation_rows: int
    auc: float  # P(positive class) on the validation rows
    accuracy: float  # the most probable class on the validation rows
    dropped: dict[str, int] = field(default_factory=dict)  # rows left out, by reason
    seconds: float = 0.0
    card: dict = field(default_factory=dict)

    @property
    def positive_class(self):
        return self.classes[-1]


@dataclass
class _Examples:
    """The training rows: split key, text and class index of each, and where they came from."""

    keys: list[str]
    texts: list[str]
    y: np.ndarray  # class index of each row
    classes: list
    queries: list[str]
    dropped: Counter

    def subset(self, keep: np.ndarray) -> "_Examples":
        idx = np.flatnonzero(keep)
        return _Examples([self.keys[i] for i in idx], [self.texts[i] for i in idx], self.y[idx], self.classes,
                         self.queries, self.dropped)


# ---------------------------------------------------------------- the verb


def train_rater(lake: Lake, name: str, kind: str = "fasttext", *, label: str | None = None,
                where: str | None = None, positive: str | None = None, negative: str | None = None,
                out: str | os.PathLike | None = None, seed: int = 0, fraction: float = DEFAULT_FRACTION,
                params: Mapping[str, Any] | None = None, device: str = "cpu", replace: bool = False,
                progress: Progress | None = None) -> RaterReport:
    """Train a rater on labels from the lake (or DCLM's positive/negative queries), hold out a
    stratified validation split, and write the rater folder; a `RaterReport` back (the
    folder, the classes, AUC and accuracy on the validation rows). A `UsageError` for bad
    options, SQL, or labels that cannot train a rater, before anything is written.

        >>> train_rater(lake, "hq", "embedding-head", label="(meta->>'label')::INT").auc
    """
    t0 = time.perf_counter()
    check(kind in KINDS, f"--kind {kind!r}: use {' or '.join(KINDS)}")
    check(isinstance(name, str) and _NAME.fullmatch(name) is not None,
          f"rater name {name!r}: use letters, digits and _ (not first): it names a column and a folder")
    check(name not in DOCS.names, f"rater name {name!r} is a column of the documents themselves; choose another")
    seed = check_seed(seed, "--seed")
    check(isinstance(fraction, (int, float)) and 0 < fraction < 1,
          f"--validation {fraction!r}: give the held-out fraction, between 0 and 1")
    settings = _check_params(kind, params)
    queries = _plan(label, where, positive, negative)
    target = _target(lake, name, out, replace)

    version = lake.docs().version
    examples = _load(lake, version, queries, positive is not None)
    tmp = Path(tempfile.mkdtemp(prefix=f"winnow-rater-{name}-"))
    try:
        if kind == "fasttext":
            card, metrics, examples, is_val = _train_fasttext(examples, settings, seed, fraction, tmp, name)
        else:
            card, metrics, examples, is_val = _train_head(examples, settings, seed, fraction, tmp, name, device,
                                                          progress)
        counts = np.bincount(examples.y, minlength=len(examples.classes))
        val_counts = np.bincount(examples.y[is_val], minlength=len(examples.classes))
        card = {
            "kind": kind,
            "name": name,
            **card,
            "classes": examples.classes,
            "positive_class": examples.classes[-1],
            "positive_index": len(examples.classes) - 1,
            "class_rows": counts.tolist(),
            "parameters": settings,
            "data": {
                "lake": lake.uri, "lake_version": version, "label": label, "where": where, "positive": positive,
                "negative": negative, "queries": examples.queries, "rows": len(examples.texts),
                "dropped": dict(examples.dropped),
            },
            "split": {
                "seed": seed, "fraction": fraction, "stratified": True,
                "key": "id, else xxh3: and the xxh3-64 of the text" if _hashed(examples) else "id",
                "train_rows": int((~is_val).sum()), "validation_rows": int(is_val.sum()),
                "validation_class_rows": val_counts.tolist(),
                "validation": [examples.keys[i] for i in np.flatnonzero(is_val)],
            },
            "metrics": metrics,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "winnow_version": WINNOW_VERSION,
        }
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=1, default=_json) + "\n")
        _move(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return RaterReport(
        name=name, kind=kind, out=str(target), lake_version=version, classes=examples.classes,
        class_rows=counts.tolist(), validation_class_rows=val_counts.tolist(), train_rows=int((~is_val).sum()),
        validation_rows=int(is_val.sum()), auc=metrics["auc"], accuracy=metrics["accuracy"],
        dropped=dict(examples.dropped), seconds=time.perf_counter() - t0, card=card)


def _hashed(examples: _Examples) -> bool:
    return any(k.startswith("xxh3:") for k in examples.keys)


def _json(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# ---------------------------------------------------------------- options


def _check_params(kind: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every declared training parameter of `kind`: the given ones converted, the rest defaults."""
    declared = PARAMETERS[kind]
    values = {key: p.default for key, p in declared.items()}
    for key, value in (params or {}).items():
        check(key in declared, f"--kind {kind} has no parameter {key!r}; its parameters: {', '.join(declared)}")
        if value is None:
            continue
        try:
            values[key] = declared[key].convert(value)
        except ValueError as e:
            raise UsageError(f"--kind {kind}: parameter {key}={value!r} {e}") from None
    if kind == "embedding-head":
        check(values["C"] > 0, f"--kind embedding-head: parameter C={values['C']!r} must be > 0")
    return values


def _plan(label, where, positive, negative) -> list[tuple[str, str]]:
    """The training queries as (what, SQL): one for labels, or the positive and negative ones."""
    if label is not None:
        check(positive is None and negative is None, "give --label or --positive/--negative, not both")
        check(isinstance(label, str) and label.strip() != "", "--label is empty: give an SQL expression over docs")
        sql = f"SELECT id, text, ({label}) AS label FROM docs"
        if where is not None:
            check(isinstance(where, str) and where.strip() != "", "--where is empty")
            sql += f" WHERE ({where})"
        return [("--label", _one_statement(sql, "--label/--where"))]
    check(where is None, "--where goes with --label; put the filter inside --positive and --negative")
    check(positive is not None and negative is not None,
          "give the training labels: --label SQL_EXPR, or both --positive SQL and --negative SQL")
    return [("--positive", _one_statement(positive, "--positive")),
            ("--negative", _one_statement(negative, "--negative"))]


def _one_statement(sql: str, option: str) -> str:
    try:
        statements = check_sql(sql)
    except UsageError as e:
        raise UsageError(f"{option}: {e}") from None
    check(len(statements) == 1, f"{option}: give one SELECT statement, got {len(statements)}")
    return sql


def _target(lake: Lake, name: str, out, replace: bool) -> Path:
    """The rater folder to write, checked: not a file, not inside the lake's tables, and
    empty unless `replace` (which overwrites only a rater folder: one holding a card.json)."""
    folder = lake_folder(lake)
    raters = Path(folder) / RATERS_FOLDER if folder is not None else None
    if out is None:
        check(raters is not None, f"the lake {lake.uri} is not on the local disk: give --out DIR for the rater")
        target = raters / name
        shown = str(target)
    else:
        shown = os.fspath(out)
        check(shown.strip() != "" and "://" not in shown, f"--out {shown!r}: give a local folder")
        target = Path(os.path.realpath(os.path.expanduser(shown)))
        check(not target.is_file(), f"--out {shown} is a file: give a folder for the rater")
        check(not inside_lake(target, lake) or _within(target, raters),
              f"--out {shown} is inside the lake {lake.uri}: use {raters}/NAME (the default) or a folder outside it")
    if target.exists():
        check(target.is_dir(), f"{shown} exists and is not a folder")
        if any(target.iterdir()):
            check(replace, f"the rater folder {shown} exists: pass --replace to overwrite it")
            check((target / CARD_FILE).is_file(),
                  f"{shown} holds files but no {CARD_FILE}: not a rater folder, so --replace will not empty it")
    return target


def _within(path: Path, folder: Path | None) -> bool:
    return folder is not None and os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


def _move(tmp: Path, target: Path) -> None:
    """The finished folder into place (replacing a rater folder there)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(tmp, target)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(target, 0o777 & ~umask)  # mkdtemp (and safetensors) made them private
    for path in target.iterdir():
        os.chmod(path, 0o666 & ~umask)


# ---------------------------------------------------------------- data


def _query(lake: Lake, version: int, option: str, sql: str) -> pa.Table:
    try:
        return sql_query(lake, sql, version)
    except duckdb.Error as e:
        raise UsageError(f"{option}: {' '.join(str(e).split())}") from None


def _load(lake: Lake, version: int, queries: list[tuple[str, str]], recipe: bool) -> _Examples:
    """The rows of the training queries, with empty texts and NULL labels left out, classes checked."""
    keys, texts, values, dropped = [], [], [], Counter()
    for option, sql in queries:
        table = _query(lake, version, option, sql)
        check("text" in table.column_names,
              f"{option} returns no `text` column (its columns: {', '.join(table.column_names) or 'none'})")
        text = table.column("text")
        check(pa.types.is_string(text.type) or pa.types.is_large_string(text.type),
              f"{option}: its `text` column is {text.type}, not text")
        ids = table.column("id").cast(pa.string()).to_pylist() if "id" in table.column_names else None
        if recipe:
            labels = [1 if option == "--positive" else 0] * table.num_rows
        else:
            labels = _label_values(table.column("label"))
        for i, t in enumerate(text.to_pylist()):
            if labels[i] is None:
                dropped["unlabeled"] += 1
            elif t is None or not t.strip():
                dropped["empty"] += 1
            else:
                keys.append(ids[i] if ids is not None and ids[i] is not None else _text_key(t))
                texts.append(t)
                values.append(labels[i])
    what = "--positive/--negative" if recipe else "--label"
    check(texts, f"{what}: no rows to train on" + (f" ({_counts(dropped)} left out)" if dropped else ""))
    classes = sorted(set(values))
    check(len(classes) <= MAX_CLASSES,
          f"--label gives {len(classes)} distinct values; a rater learns at most {MAX_CLASSES} classes "
          "(a continuous score? bin it in SQL, e.g. round(x))")
    index = {c: i for i, c in enumerate(classes)}
    examples = _Examples(keys, texts, np.array([index[v] for v in values], np.int64), classes,
                         [sql for _, sql in queries], dropped)
    _check_classes(examples, what)
    return examples


def _label_values(column: pa.ChunkedArray) -> list:
    """The label column as Python values: integers, booleans or strings (integral floats as ints)."""
    t = column.type
    if pa.types.is_decimal(t):
        column, t = column.cast(pa.float64()), pa.float64()
    ok = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t) \
        or pa.types.is_large_string(t) or pa.types.is_null(t)
    check(ok, f"--label gives {t} values: give a number, a boolean or a string per row")
    values = column.to_pylist()
    if pa.types.is_floating(t):
        values = [None if v is None or v != v else (int(v) if float(v).is_integer() else v) for v in values]
    return values


def _text_key(text: str) -> str:
    import xxhash

    return "xxh3:" + xxhash.xxh3_64_hexdigest(text.encode())


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{n:,} {why}" for why, n in sorted(counter.items()))


def _check_classes(examples: _Examples, what: str) -> None:
    counts = np.bincount(examples.y, minlength=len(examples.classes))
    shown = ", ".join(f"{c!r}: {n:,}" for c, n in zip(examples.classes, counts))
    check(len(examples.classes) >= 2, f"{what}: the rows hold one class ({shown} rows): a rater needs two or more")
    few = [c for c, n in zip(examples.classes, counts) if n < 2]
    check(not few, f"{what}: class(es) {', '.join(map(repr, few))} have fewer than 2 rows ({shown}): "
                   "each class needs one to train on and one to validate")


def split(examples: _Examples, fraction: float, seed: int) -> tuple[np.ndarray, np.random.Generator]:
    """Which rows are held out for validation (a boolean mask; see the module docstring), and
    the generator, which then shuffles the training rows."""
    order = sorted(range(len(examples.texts)), key=lambda i: (examples.keys[i], examples.texts[i]))
    rng = np.random.default_rng(seed)
    held = np.zeros(len(order), bool)
    for c in range(len(examples.classes)):
        rows = np.array([i for i in order if examples.y[i] == c], np.int64)
        n_val = min(len(rows) - 1, max(1, round(fraction * len(rows))))
        held[rows[rng.permutation(len(rows))[:n_val]]] = True
    return held, rng


# ---------------------------------------------------------------- metrics


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The area under the ROC curve: the chance that a positive row scores above a negative
    one, ties counting one half (Mann-Whitney U with average ranks); NaN without both."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(positive, bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    _, first, counts = np.unique(s[order], return_index=True, return_counts=True)
    ranks = np.empty(len(s))
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _metrics(prob_positive: np.ndarray, predicted: np.ndarray, y: np.ndarray, positive_index: int,
             prefix: str = "") -> dict[str, float]:
    return {f"{prefix}auc": roc_auc(prob_positive, y == positive_index),
            f"{prefix}accuracy": float(np.mean(predicted == y))}


# ---------------------------------------------------------------- fastText


def _fasttext_labels(classes: list) -> list[str]:
    """fastText label names per class: DCLM's hq/cc for two, `__label__<value>` for more."""
    if len(classes) == 2:
        return [NEGATIVE_LABEL, POSITIVE_LABEL]
    names = ["__label__" + re.sub(r"\s+", "_", str(c)) for c in classes]
    return names if len(set(names)) == len(names) else [f"__label__c{i}" for i in range(len(classes))]


def _train_fasttext(examples: _Examples, settings: dict, seed: int, fraction: float, folder: Path, name: str):
    """model.bin in `folder`; (card entries, metrics, examples, validation mask)."""
    import fasttext_new

    from winnow.scoring.scorers.fasttext import FastTextRater, dclm_text

    held, rng = split(examples, fraction, seed)
    names = _fasttext_labels(examples.classes)
    train = rng.permutation(np.flatnonzero(~held))  # fastText reads its file in order: shuffle it
    with tempfile.TemporaryDirectory(prefix="winnow-fasttext-") as scratch:
        data = Path(scratch) / "train.txt"
        with open(data, "w", encoding="utf-8") as f:
            for i in train:
                f.write(f"{names[examples.y[i]]} {dclm_text(examples.texts[i])}\n")
        model = fasttext_new.train_supervised(input=str(data), seed=seed, verbose=0, **settings)
    model.save_model(str(folder / "model.bin"))
    card = {"positive_label": names[-1], "class_labels": names, "preprocess": "dclm"}
    (folder / CARD_FILE).write_text(json.dumps({"kind": "fasttext", "name": name, **card}))
    rater = FastTextRater(model=str(folder))  # the metrics are the scorer's own column
    index = {n: i for i, n in enumerate(names)}

    def evaluate(rows: np.ndarray, prefix: str) -> dict:
        texts = [examples.texts[i] for i in rows]
        column = rater.score(pa.record_batch({"text": pa.array(texts, pa.string())}))[rater.column]
        top = model.predict_batch([dclm_text(t) for t in texts], k=1, threads=1)[0]
        predicted = np.array([index[labels[0]] for labels in top], np.int64)
        return _metrics(np.asarray(column, np.float64), predicted, examples.y[rows], len(names) - 1, prefix)

    metrics = {**evaluate(np.flatnonzero(held), ""), **evaluate(np.flatnonzero(~held), "train_")}
    return card, metrics, examples, held


# ---------------------------------------------------------------- embedding head


def embed_texts(texts: list[str], settings: Mapping[str, Any], device: str = "cpu",
                progress: Progress | None = None):
    """(float64 [rows, dim] embeddings, NaN rows for documents the model cannot read; the
    Embedding scorer that made them), through the `embed` scorer's batching."""
    from winnow.scoring.scorers.embed import Embedding

    given = {"model": settings.get("embed_model"), "max_length": settings.get("max_length"),
             "batch_tokens": settings.get("batch_tokens"), "batch_size": settings.get("batch_size")}
    try:
        scorer = Embedding(**{k: v for k, v in given.items() if v is not None})
        scorer.setup(device)
    except (ValueError, OSError) as e:
        raise UsageError(f"embed_model: {' '.join(str(e).split())}") from None
    windows = (pa.record_batch({"text": pa.array(texts[s:s + EMBED_WINDOW], pa.string())})
               for s in range(0, len(texts), EMBED_WINDOW))
    parts = []
    if progress is not None:
        progress.start("embedding", len(texts), "docs")
    try:
        for out in scorer.score_stream(windows):
            column = out["embedding"]
            parts.append(np.asarray(column.values, np.float64).reshape(len(column), scorer.dimension))
            if progress is not None:
                progress.advance(len(column))
    finally:
        if progress is not None:
            progress.stop()
    return np.concatenate(parts) if parts else np.zeros((0, scorer.dimension)), scorer


def fit_head(x: np.ndarray, y: np.ndarray, settings: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(weight [k, dim], bias [k]) of a logistic regression of the class indices `y` on the
    embeddings `x`: k = 1 for two classes (the last class's logit), else one row per class."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=settings["C"], max_iter=settings["max_iter"]).fit(x, y)
    # C order: safetensors writes the buffer as it lies, and lbfgs leaves coef_ in Fortran order
    return (np.ascontiguousarray(model.coef_, dtype=np.float64),
            np.ascontiguousarray(model.intercept_, dtype=np.float64))


def _train_head(examples: _Examples, settings: dict, seed: int, fraction: float, folder: Path, name: str,
                device: str, progress: Progress | None):
    """head.safetensors in `folder`; (card entries, metrics, examples, validation mask)."""
    from safetensors.numpy import save_file

    from winnow.scoring.model import model_identity
    from winnow.scoring.scorers.embedding_head import HEAD_FILE, head_probabilities

    x, embedder = embed_texts(examples.texts, settings, device, progress)
    readable = ~np.isnan(x).any(axis=1)
    if not readable.all():
        examples.dropped["unreadable by the embedding model"] += int((~readable).sum())
        examples, x = examples.subset(readable), x[readable]
        _check_classes(examples, "the readable rows")
    held, _ = split(examples, fraction, seed)
    weight, bias = fit_head(x[~held], examples.y[~held], settings)
    save_file({"weight": weight, "bias": bias}, str(folder / HEAD_FILE))
    positive_index = len(examples.classes) - 1

    def evaluate(rows: np.ndarray, prefix: str) -> dict:
        probs = head_probabilities(x[rows], weight, bias)
        return _metrics(probs[:, positive_index], probs.argmax(axis=1), examples.y[rows], positive_index, prefix)

    metrics = {**evaluate(np.flatnonzero(held), ""), **evaluate(np.flatnonzero(~held), "train_")}
    card = {
        "embed_model": embedder.model_spec,
        "embed_model_fingerprint": model_identity(embedder.model_spec, embedder.revision),
        "embed": {"model": settings["embed_model"], "max_length": settings["max_length"],
                  "max_seq_length": embedder.max_length, "dimension": int(x.shape[1])},
        "head": {"file": HEAD_FILE, "outputs": int(weight.shape[0]), "dimension": int(weight.shape[1]),
                 "fit": "sklearn LogisticRegression (lbfgs, L2 with C) on the embeddings"},
    }
    return card, metrics, examples, held
