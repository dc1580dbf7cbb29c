"""A rater's training rows: read through SQL over the lake at one version, classes checked,
and the stratified validation split (see winnow.train.raters)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from winnow.lake import Lake
from winnow.lake.errors import UsageError, check
from winnow.sql import query as sql_query
from winnow.train.eval import mann_whitney_auc

MAX_CLASSES = 32


@dataclass
class Examples:
    """The training rows: split key, text and class index of each, and where they came from."""

    keys: list[str]
    texts: list[str]
    y: np.ndarray  # class index of each row
    classes: list
    queries: list[str]
    dropped: Counter

    def subset(self, keep: np.ndarray) -> "Examples":
        idx = np.flatnonzero(keep)
        return Examples([self.keys[i] for i in idx], [self.texts[i] for i in idx], self.y[idx], self.classes,
                         self.queries, self.dropped)


def _query(lake: Lake, version: int, option: str, sql: str) -> pa.Table:
    try:
        return sql_query(lake, sql, version)
    except duckdb.Error as e:
        raise UsageError(f"{option}: {' '.join(str(e).split())}") from None


def load(lake: Lake, version: int, queries: list[tuple[str, str]], recipe: bool) -> Examples:
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
    examples = Examples(keys, texts, np.array([index[v] for v in values], np.int64), classes,
                         [sql for _, sql in queries], dropped)
    check_classes(examples, what)
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


def check_classes(examples: Examples, what: str) -> None:
    counts = np.bincount(examples.y, minlength=len(examples.classes))
    shown = ", ".join(f"{c!r}: {n:,}" for c, n in zip(examples.classes, counts))
    check(len(examples.classes) >= 2, f"{what}: the rows hold one class ({shown} rows): a rater needs two or more")
    few = [c for c, n in zip(examples.classes, counts) if n < 2]
    check(not few, f"{what}: class(es) {', '.join(map(repr, few))} have fewer than 2 rows ({shown}): "
                   "each class needs one to train on and one to validate")


def split(examples: Examples, fraction: float, seed: int) -> tuple[np.ndarray, np.random.Generator]:
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


def metrics(prob_positive: np.ndarray, predicted: np.ndarray, y: np.ndarray, positive_index: int,
            prefix: str = "") -> dict[str, float]:
    """AUC of P(positive class) (winnow eval's: ties count one half) and accuracy of the most
    probable class, on rows whose class indices are `y`."""
    return {f"{prefix}auc": mann_whitney_auc(np.asarray(prob_positive, np.float64), y == positive_index),
            f"{prefix}accuracy": float(np.mean(predicted == y))}
