"""Embedding-head raters: a logistic regression on the `embed` scorer's embeddings
(`--kind embedding-head`), written as head.safetensors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from winnow.lake.errors import UsageError
from winnow.lake.progress import Progress
from winnow.scoring.model import MODEL_PARAMETERS
from winnow.scoring.scorer import Param
from winnow.train.raters.data import Examples, check_classes, metrics, split

EMBED_WINDOW = 256  # documents per embedding window (the progress line's step)
PARAMETERS: dict[str, Param] = {
    "embed_model": Param(str, None, "a sentence-transformers id or folder (default: the embed scorer's, "
                                    "all-MiniLM-L6-v2)"),
    "max_length": Param(int, None, "tokens read per document (default: the model's max_seq_length)", minimum=4),
    "batch_tokens": MODEL_PARAMETERS["batch_tokens"],
    "batch_size": MODEL_PARAMETERS["batch_size"],
    "C": Param(float, 1.0, "inverse L2 strength of the logistic regression"),
    "max_iter": Param(int, 1000, "lbfgs iterations at most", minimum=1),
}


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


def train(examples: Examples, settings: dict, seed: int, fraction: float, folder: Path, name: str,
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
        check_classes(examples, "the readable rows")
    held, _ = split(examples, fraction, seed)
    weight, bias = fit_head(x[~held], examples.y[~held], settings)
    save_file({"weight": weight, "bias": bias}, str(folder / HEAD_FILE))
    positive_index = len(examples.classes) - 1

    def evaluate(rows: np.ndarray, prefix: str) -> dict:
        probs = head_probabilities(x[rows], weight, bias)
        return metrics(probs[:, positive_index], probs.argmax(axis=1), examples.y[rows], positive_index, prefix)

    found = {**evaluate(np.flatnonzero(held), ""), **evaluate(np.flatnonzero(~held), "train_")}
    card = {
        "embed_model": embedder.model_spec,
        "embed_model_fingerprint": model_identity(embedder.model_spec, embedder.revision),
        "embed": {"model": settings["embed_model"], "max_length": settings["max_length"],
                  "max_seq_length": embedder.max_length, "dimension": int(x.shape[1])},
        "head": {"file": HEAD_FILE, "outputs": int(weight.shape[0]), "dimension": int(weight.shape[1]),
                 "fit": "sklearn LogisticRegression (lbfgs, L2 with C) on the embeddings"},
    }
    return card, found, examples, held
