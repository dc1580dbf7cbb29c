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

Modules: `data` (the rows, the split, the metrics), one per kind (`fasttext`, `head`).

The folder is written beside its place (`.NAME.tmp-PID-RANDOM`) and renamed into place at
the end (lake/atomic.py): a failure or a kill leaves no rater folder (a killed run's
temporary is removed by the next run). When another run put a rater there meanwhile, this
one ends with an error and leaves it whole; with `replace` the last one wins. Its default
is LAKE/raters/NAME for a lake on the local disk.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from winnow.lake import WINNOW_VERSION, Lake, atomic, display
from winnow.lake.errors import UsageError, check
from winnow.lake.extras import need
from winnow.lake.killpoints import step
from winnow.lake.progress import Progress
from winnow.lake.schema import DOCS
from winnow.scoring.card import CARD_FILE
from winnow.scoring.model import check_device
from winnow.scoring.scorer import Param, convert_params
from winnow.sql import check_seed
from winnow.sql.connection import check_sql
from winnow.sql.sandbox import inside_lake, lake_folder
from winnow.train.raters import KINDS, fasttext, head
from winnow.train.raters.data import Examples, load

DEFAULT_FRACTION = 0.2
RATERS_FOLDER = "raters"  # LAKE/raters/NAME: the default folder of a local lake's raters
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _fasttext(examples, settings, seed, fraction, folder, name, device, progress):
    return fasttext.train(examples, settings, seed, fraction, folder, name)


# kind -> (its training parameters, its trainer: (card entries, metrics, examples, validation mask)),
# for each of KINDS (the package's: what the help lists, without importing this module)
KINDS_TABLE: dict[str, tuple[dict[str, Param], Any]] = {
    "fasttext": (fasttext.PARAMETERS, _fasttext),
    "embedding-head": (head.PARAMETERS, head.train),
}
PARAMETERS: dict[str, dict[str, Param]] = {kind: params for kind, (params, _) in KINDS_TABLE.items()}
TRAINERS = {kind: trainer for kind, (_, trainer) in KINDS_TABLE.items()}


@display.shown
@dataclass(frozen=True)
class RaterResult:
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


# ---------------------------------------------------------------- the verb


def train_rater(lake: Lake, name: str, kind: str = "fasttext", *, label: str | None = None,
                where: str | None = None, positive: str | None = None, negative: str | None = None,
                out: str | os.PathLike | None = None, seed: int = 0, fraction: float = DEFAULT_FRACTION,
                params: Mapping[str, Any] | None = None, device: str = "cpu", replace: bool = False,
                progress: Progress | None = None) -> RaterResult:
    """Train a rater on labels from the lake (or DCLM's positive/negative queries), hold out a
    stratified validation split, and write the rater folder; a `RaterResult` back (the
    folder, the classes, AUC and accuracy on the validation rows). A `UsageError` for bad
    options, SQL, or labels that cannot train a rater, before anything is written.

        >>> train_rater(lake, "hq", "embedding-head", label="(meta->>'label')::INT").auc
    """
    t0 = time.perf_counter()
    check(kind in KINDS, f"--kind {kind!r}: use {' or '.join(KINDS)}")
    if kind == "embedding-head":
        need("raters", "winnow rater train --kind embedding-head", ["torch", "sentence_transformers", "sklearn"])
    check(isinstance(name, str) and _NAME.fullmatch(name) is not None,
          f"rater name {name!r}: use letters, digits and _ (not first): it names a column and a folder")
    check(name not in DOCS.names, f"rater name {name!r} is a column of the documents themselves; choose another")
    seed = check_seed(seed, "--seed")
    check(isinstance(fraction, (int, float)) and 0 < fraction < 1,
          f"--validation {fraction!r}: give the held-out fraction, between 0 and 1")
    settings = _check_params(kind, params)
    if kind == "embedding-head":  # the one kind that runs a model: a device it lacks, before loading one
        check_device(device)
    queries = _plan(label, where, positive, negative)
    target = _target(lake, name, out, replace)

    version = lake.docs().version
    examples = load(lake, version, queries, positive is not None)
    with atomic.folder(target, replace=replace) as tmp:
        card, metrics, examples, is_val = TRAINERS[kind](examples, settings, seed, fraction, tmp, name, device,
                                                         progress)
        step("rater:model")
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
        step("rater:card")
        _readable(tmp)
    return RaterResult(
        name=name, kind=kind, out=str(target), lake_version=version, classes=examples.classes,
        class_rows=counts.tolist(), validation_class_rows=val_counts.tolist(), train_rows=int((~is_val).sum()),
        validation_rows=int(is_val.sum()), auc=metrics["auc"], accuracy=metrics["accuracy"],
        dropped=dict(examples.dropped), seconds=time.perf_counter() - t0, card=card)


def _hashed(examples: Examples) -> bool:
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
    values.update(convert_params(declared, params, f"--kind {kind}", UsageError))
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


def _readable(folder: Path) -> None:
    """The folder and its files with the umask's permissions (safetensors makes them private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for path in folder.iterdir():
        os.chmod(path, 0o666 & ~umask)


