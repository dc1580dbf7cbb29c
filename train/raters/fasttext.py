"""fastText raters: DCLM's classifier trained on the rater's rows (`--kind fasttext`)."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from winnow.scoring.card import CARD_FILE
from winnow.scoring.scorer import Param
from winnow.train.raters.data import Examples, metrics, split

POSITIVE_LABEL, NEGATIVE_LABEL = "__label__hq", "__label__cc"  # DCLM's names
PARAMETERS: dict[str, Param] = {
    "lr": Param(float, 0.1, "learning rate (DCLM's default)", minimum=0.0),
    "dim": Param(int, 100, "size of the word vectors", minimum=1),
    "ws": Param(int, 5, "context window", minimum=1),
    "epoch": Param(int, 5, "passes over the training rows", minimum=1),
    "minCount": Param(int, 1, "word occurrences needed to be in the vocabulary", minimum=1),
    "wordNgrams": Param(int, 2, "word n-grams (DCLM's released model: bigrams)", minimum=1),
    "bucket": Param(int, 200_000, "hash buckets for the n-grams (fastText's and DCLM's 2,000,000 make "
                                  "an 800 MB model)", minimum=1),
    "thread": Param(int, 1, "training threads (more than 1 is not reproducible)", minimum=1),
}


def _fasttext_labels(classes: list) -> list[str]:
    """fastText label names per class: DCLM's hq/cc for two, `__label__<value>` for more."""
    if len(classes) == 2:
        return [NEGATIVE_LABEL, POSITIVE_LABEL]
    names = ["__label__" + re.sub(r"\s+", "_", str(c)) for c in classes]
    return names if len(set(names)) == len(names) else [f"__label__c{i}" for i in range(len(classes))]


def train(examples: Examples, settings: dict, seed: int, fraction: float, folder: Path, name: str):
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
        return metrics(np.asarray(column, np.float64), predicted, examples.y[rows], len(names) - 1, prefix)

    found = {**evaluate(np.flatnonzero(held), ""), **evaluate(np.flatnonzero(~held), "train_")}
    return card, found, examples, held


