"""A trained embedding head as a rater: `winnow score LAKE embedding-head -p model=DIR`.

    <column>  (float32)  P(positive class) of a logistic-regression head over the document's
                         sentence embedding; NaN for a document the embedding model cannot read
                         (empty, untokenizable: counted in the summary)

DIR is what `winnow rater train LAKE NAME --kind embedding-head` writes:

    head.safetensors  weight [k, dim] and bias [k] (float64): k = 1 for two classes (the
                      positive class's logit, read through a sigmoid), k = classes otherwise
                      (softmax over the classes)
    card.json         {"kind": "embedding-head", "name": NAME, "classes": [...],
                      "positive_class": ..., "positive_index": i, "embed_model": ...,
                      "embed_model_fingerprint": {...}, "embed": {max_length, ...}, ...}

The document is embedded as the `embed` scorer does (this class is that scorer, reading the
card's embedding model and settings), then the head is applied in `postprocess`. The column
is the card's `name` unless `-p column=` says otherwise. The fingerprint is the embedding
model's identity and the head file's xxh3-128; an embedding model whose identity differs
from the one the head was trained on is refused before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from winnow.scoring.card import CARD_FILE
from winnow.scoring.card import read_card as read_card_file
from winnow.scoring.model import MODEL_PARAMETERS, model_identity
from winnow.scoring.scorer import Param

from winnow.scoring.scorers.embed import Embedding, default_model

KIND = "embedding-head"
HEAD_FILE = "head.safetensors"
EMBED_SETTINGS = ("revision", "max_length", "long_docs", "aggregate")  # read from the card, as trained


def read_card(folder: str, kind: str = KIND) -> dict:
    """The card.json of a rater folder, checked to be of `kind`; a ValueError says what is wrong."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"model {folder}: no such folder (expected a folder written by `winnow rater train`)")
    path = root / CARD_FILE
    if not path.is_file():
        raise ValueError(f"model {folder}: the folder holds no {CARD_FILE} (expected `winnow rater train` output)")
    return read_card_file(path, kind)


def head_probabilities(embeddings: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """float64 [rows, classes]: each class's probability under the head (rows of NaN stay NaN).

    One output (two classes): [1 - sigmoid(z), sigmoid(z)]; k outputs: softmax over them."""
    z = np.asarray(embeddings, np.float64) @ np.asarray(weight, np.float64).T + np.asarray(bias, np.float64)
    if z.shape[1] == 1:
        p = 0.5 * (1.0 + np.tanh(0.5 * z[:, 0]))  # sigmoid without overflow
        return np.stack([1.0 - p, p], axis=1)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def load_head(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """(weight [k, dim], bias [k]) from a rater folder's head.safetensors."""
    from safetensors.numpy import load_file

    path = Path(folder) / HEAD_FILE
    if not path.is_file():
        raise ValueError(f"model {folder}: the folder holds no {HEAD_FILE}")
    try:
        tensors = load_file(str(path))
        weight, bias = tensors["weight"], tensors["bias"]
    except Exception as e:  # not safetensors, or another layout
        raise ValueError(f"model {path} is not an embedding head (weight, bias): {type(e).__name__}: {e}") from None
    if weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise ValueError(f"model {path}: weight {weight.shape} and bias {bias.shape} do not make a linear head")
    return weight, bias


class EmbeddingHead(Embedding):
    """P(positive class) of a trained logistic-regression head over sentence embeddings."""

    name = "embedding-head"
    version = "1"
    inputs = ("text",)
    parameters = {
        "model": Param(str, None, "a folder written by `winnow rater train --kind embedding-head`", required=True),
        "column": Param(str, None, "the column's name (default: the card's name)"),
        "batch_tokens": MODEL_PARAMETERS["batch_tokens"],
        "batch_size": MODEL_PARAMETERS["batch_size"],
    }

    def __init__(self, **params):
        folder = self.check_params(params)["model"]
        self.folder = folder
        self.card = read_card(folder)
        self.weight, self.bias = load_head(folder)
        classes = self.card.get("classes") or []
        self.positive_index = int(self.card.get("positive_index", len(classes) - 1))
        if len(classes) != max(2, self.weight.shape[0]) or not 0 <= self.positive_index < len(classes):
            raise ValueError(f"model {folder}: the card's classes {classes} and positive_index {self.positive_index} "
                             f"do not fit a head with {self.weight.shape[0]} output(s)")
        embed = self.card.get("embed") or {}
        self._embed_spec = embed.get("model") or default_model()
        self._head_digest: str | None = None
        super().__init__(**params)
        self.column = self.param("column") or self.card.get("name")
        if not self.column:
            raise ValueError(f"model {folder}: the card has no name; give the column with -p column=NAME")

    def param(self, name: str):
        """The embedding model and its settings come from the card (as the head was trained);
        `model` names the rater folder in the parameters recorded with the column."""
        if name == "model":
            return self._embed_spec
        if name in EMBED_SETTINGS:
            return (self.card.get("embed") or {}).get(name)
        return super().param(name)

    def outputs(self) -> list[pa.Field]:
        if self.dimension != self.weight.shape[1]:
            raise ValueError(f"model {self.folder}: the head reads {self.weight.shape[1]}-dimensional embeddings, "
                             f"the embedding model {self.model_spec} gives {self.dimension}")
        return [pa.field(self.column, pa.float32())]

    def fingerprint(self) -> dict:
        """The embedding model's identity and the head's xxh3-128; a ValueError when the
        embedding model is not the one the head was trained on."""
        import xxhash

        embedding = model_identity(self.model_spec, self.revision)
        trained = self.card.get("embed_model_fingerprint")
        if trained and embedding != trained:
            raise ValueError(f"model {self.folder}: the embedding model {self.model_spec} is {embedding}, "
                             f"but the head was trained on {trained}")
        if self._head_digest is None:
            self._head_digest = xxhash.xxh3_128((Path(self.folder) / HEAD_FILE).read_bytes()).hexdigest()
        return {"embed_model": embedding, "head": {"file": HEAD_FILE, "xxh3_128": self._head_digest},
                "positive_class": self.card.get("positive_class")}

    def postprocess(self, values: np.ndarray):
        probs = head_probabilities(values, self.weight, self.bias)
        return {self.column: pa.array(probs[:, self.positive_index].astype(np.float32), pa.float32())}
