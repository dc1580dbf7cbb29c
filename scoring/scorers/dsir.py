"""DSIR importance weights: `winnow score LAKE dsir -p target=wiki.jsonl`.

    dsir_<name>  (float64)  log p_target(x) - log p_raw(x), the document's log importance
                            weight; NaN for a document with no token (empty, or spaces only)

DSIR (Xie et al. 2023, "Data Selection for Language Models via Importance Resampling")
models text as a bag of hashed n-grams, fits one multinomial over the hash buckets on the
target documents and one on the raw documents (the lake), and weighs each raw document by
the ratio of the two likelihoods. The rule followed is the reference code's,
p-lambda/dsir `data_selection/hashed_ngram_dsir.py` (HashedNgramDSIR, `get_ngram_counts`,
`fit_importance_estimator`, `importance_estimator`):

- the text is lowercased, then split by NLTK's WordPunctTokenizer, i.e. the regex
  `\\w+|[^\\w\\s]+` (runs of word characters, runs of other non-space characters);
- the features are the unigrams and the bigrams (`ngrams=2`) of those tokens, each hashed
  into `buckets` buckets (10,000 by default), counted per document;
- p_raw = raw counts / their sum (no smoothing); p_target = (target counts + `smoothing`)
  / their sum (`target_laplace_smoothing`, 0 by default);
- the weight is sum over the document's features of log(p_target + 1e-8) - log(p_raw + 1e-8)
  (the reference's `np.dot(log_diff, counts)`): a sum, not normalized by length.

One difference, on purpose: the reference hashes each n-gram string with sha256 in Python
(`int(sha256(ngram).hexdigest(), 16) % buckets`): ~170 documents/s per core here. Here
the hash is computed for a whole batch at once in numpy (see `ngram_keys`), so the buckets
differ from the reference's; the features, the two models and the weight are the same.
The reference's `min_example_length` (100 tokens) is a resampling filter, not part of the
weight: filter on a token count in SQL instead.

Parameters:
    target     a file of target documents (`.jsonl`, one JSON object per line with a "text"
               field, as the reference reads; or `.txt`, one document per line), or an SQL
               query over the lake that returns a `text` column (through the API layer)
    name       the column is dsir_<name> (default: the target file's stem in snake case;
               required for an SQL target)
    buckets    hash buckets (default 10,000; with `models`, the models' own)
    smoothing  pseudo-count added to each target bucket (default 0, as the reference)
    raw_rows   fit the raw model on at most this many lake rows, evenly spaced (default: all)
    models     a folder of fitted models (written by an earlier run): fit is skipped
    out        where to write the fitted models (default: LAKE/models/dsir-<name>-<hash>/
               for a local lake, <hash> the models' own; required for a remote one)

The raw model is the lake as it is when scored: after more documents are ingested, a new
run fits new models, whose fingerprint differs, so it needs --replace; to score the new
rows with the first models instead, pass the same parameters plus -p models=<that folder>
(the catalog records it).

The fitted models are two files in one folder, `target.npy` and `raw.npy` (int64 counts
per bucket), with `dsir.json` (what they were fitted on); their sha256 are the scorer's
fingerprint, recorded in the catalog with the column.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa

from winnow.scoring.scorer import Param, Scorer

HASH = "winnow-poly64-splitmix-v1"  # the name of the n-gram hash below, recorded with the models
_SPACE, _WORD, _OTHER = 0, 1, 2
_BASE = 0x100000001B3  # the polynomial's base (odd, so invertible mod 2**64)
_GAMMA = 0x9E3779B97F4A7C15  # splitmix64's increment: mixes the token length in
_PAIR = 0xD6E8FEB86659FD93  # multiplies the first key of a bigram
_CHUNK_CHARS = 1 << 21  # characters hashed per numpy pass (bounds memory)
_SQL = re.compile(r"^\s*(select|with|from)\b", re.IGNORECASE)
FILES = ("target.npy", "raw.npy")


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "target"


@functools.cache
def _char_classes() -> np.ndarray:
    """Each Unicode code point's class for the WordPunct split: word (`\\w`, i.e.
    `str.isalnum()` or '_'), space (`\\s`), or other; built once with Python's own regex."""
    table = np.full(0x110000, _OTHER, np.uint8)
    every = "".join(map(chr, range(0x110000)))
    for pattern, cls in ((r"\s+", _SPACE), (r"\w+", _WORD)):
        for m in re.finditer(pattern, every):
            table[m.start():m.end()] = cls
    return table


@functools.lru_cache(maxsize=2)
def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(_BASE**i, _BASE**-i) mod 2**64 for i < n."""
    p = np.full(n, _BASE, np.uint64)
    p[0] = 1
    q = np.full(n, pow(_BASE, -1, 1 << 64), np.uint64)
    q[0] = 1
    return np.cumprod(p, dtype=np.uint64), np.cumprod(q, dtype=np.uint64)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, elementwise on uint64 (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def ngram_keys(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(unigram keys, their document index, bigram keys, their document index): uint64
    hashes of every unigram and bigram of the lowercased, WordPunct-split texts.

    A token t (code points c_0..c_{L-1}) has key u(t) = mix(poly(t) xor (L * GAMMA)), with
    poly(t) = sum_j c_j * BASE**j mod 2**64 and mix = splitmix64's finalizer; a bigram (s, t)
    has key mix(u(s) * PAIR + u(t)) (all mod 2**64). A feature's bucket is `bucket_of(key)`."""
    lowered = [t.lower() for t in texts]
    lengths = np.fromiter((len(t) for t in lowered), np.int64, len(lowered))
    # "\n" between documents is a space: no token spans two documents.
    codes = np.frombuffer("\n".join(lowered).encode("utf-32-le", "surrogatepass"), np.uint32)
    cls = _char_classes()[codes]
    boundary = np.empty(len(cls) + 1, bool)  # between position i-1 and i: the class changes
    boundary[0] = boundary[-1] = True
    np.not_equal(cls[1:], cls[:-1], out=boundary[1:-1])
    in_token = cls != _SPACE
    starts = np.flatnonzero(boundary[:-1] & in_token)
    ends = np.flatnonzero(boundary[1:] & in_token)  # last character of each token
    if not len(starts):
        empty = np.zeros(0, np.uint64)
        return empty, np.zeros(0, np.int64), empty, np.zeros(0, np.int64)
    # poly(t) = (sum over the token's positions i of c_i * BASE**i) * BASE**-start,
    # from prefix sums over the whole batch (all arithmetic wraps mod 2**64).
    power, inverse = _powers(_pow_size(len(codes) + 1))
    prefix = np.zeros(len(codes) + 1, np.uint64)  # prefix[i]: the sum over positions < i
    np.cumsum(codes.astype(np.uint64) * power[:len(codes)], out=prefix[1:])
    poly = (prefix[ends + 1] - prefix[starts]) * inverse[starts]
    length = (ends - starts + 1).astype(np.uint64)
    uni = _mix(poly ^ (length * np.uint64(_GAMMA)))
    doc_start = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
    per_doc = np.diff(np.append(np.searchsorted(starts, doc_start), len(starts)))
    uni_doc = np.repeat(np.arange(len(texts)), per_doc)
    same = uni_doc[1:] == uni_doc[:-1]
    bi = _mix(uni[:-1][same] * np.uint64(_PAIR) + uni[1:][same])
    return uni, uni_doc, bi, uni_doc[1:][same]


def bucket_of(keys: np.ndarray, buckets: int) -> np.ndarray:
    """Each key's bucket in [0, buckets): ((key >> 32) * buckets) >> 32, Lemire's multiply-shift
    range reduction (an even spread, without a division), as int64 indices."""
    return (((keys >> np.uint64(32)) * np.uint64(buckets)) >> np.uint64(32)).astype(np.int64)


def _pow_size(n: int) -> int:
    return 1 << max(16, (n - 1).bit_length())  # a power of two: few cached tables


def _chunks(texts: list[str]) -> Iterable[tuple[int, list[str]]]:
    """(first index, texts) pieces of about _CHUNK_CHARS characters each."""
    start, size = 0, 0
    for i, t in enumerate(texts):
        size += len(t) + 1
        if size >= _CHUNK_CHARS:
            yield start, texts[start:i + 1]
            start, size = i + 1, 0
    if start < len(texts):
        yield start, texts[start:]


def count_buckets(texts: Iterable[str], buckets: int) -> np.ndarray:
    """int64 counts of the unigram and bigram features of `texts`, per hash bucket."""
    counts = np.zeros(buckets, np.int64)
    batch: list[str] = []
    for t in texts:
        batch.append(t or "")
        if len(batch) >= 1024:
            counts += _count(batch, buckets)
            batch = []
    if batch:
        counts += _count(batch, buckets)
    return counts


def _count(texts: list[str], buckets: int) -> np.ndarray:
    counts = np.zeros(buckets, np.int64)
    for _, piece in _chunks(texts):
        uni, _, bi, _ = ngram_keys(piece)
        counts += np.bincount(bucket_of(uni, buckets), minlength=buckets)
        counts += np.bincount(bucket_of(bi, buckets), minlength=buckets)
    return counts


def log_ratio(target: np.ndarray, raw: np.ndarray, smoothing: float) -> np.ndarray:
    """Per bucket, log(p_target + 1e-8) - log(p_raw + 1e-8), the reference's `log_diff`."""
    t = target.astype(np.float64) + smoothing
    r = raw.astype(np.float64)
    if t.sum() <= 0:
        raise ValueError("the target documents have no token: nothing to fit")
    if r.sum() <= 0:
        raise ValueError("the lake's documents have no token: nothing to fit the raw model on")
    return np.log(t / t.sum() + 1e-8) - np.log(r / r.sum() + 1e-8)


def weights(texts: list[str], log_diff: np.ndarray) -> np.ndarray:
    """The log importance weight of each text (float64; NaN for one without a token)."""
    out = np.zeros(len(texts), np.float64)
    tokens = np.zeros(len(texts), np.int64)
    for first, piece in _chunks(texts):
        uni, uni_doc, bi, bi_doc = ngram_keys(piece)
        n = len(piece)
        part = np.bincount(uni_doc, log_diff[bucket_of(uni, len(log_diff))], minlength=n)
        part += np.bincount(bi_doc, log_diff[bucket_of(bi, len(log_diff))], minlength=n)
        out[first:first + n] = part
        tokens[first:first + n] = np.bincount(uni_doc, minlength=n)
    out[tokens == 0] = np.nan
    return out


def read_target_file(path: str) -> list[str]:
    """The documents of a target file: `.jsonl` (a "text" field per line) or `.txt` (a
    document per line); a ValueError says what is wrong with it."""
    p = Path(path)
    if p.suffix.lower() not in (".jsonl", ".txt"):
        raise ValueError(f"target {path}: use a .jsonl file (a 'text' field per line), a .txt file "
                         f"(a document per line), or an SQL query")
    texts = []
    with open(p, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            if p.suffix.lower() == ".txt":
                texts.append(line.rstrip("\n"))
                continue
            try:
                text = json.loads(line)["text"]
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"target {path} line {i}: not a JSON object with a 'text' field") from None
            if not isinstance(text, str):
                raise ValueError(f"target {path} line {i}: 'text' is not a string")
            texts.append(text)
    if not texts:
        raise ValueError(f"target {path} holds no document")
    return texts


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class DSIR(Scorer):
    """DSIR's log importance weight of each document for a target (hashed unigrams + bigrams)."""

    name = "dsir"
    version = "1"
    inputs = ("text",)
    parameters = {
        "target": Param(str, None, "target documents: a .jsonl ('text' field) or .txt file (a document per "
                                   "line), or an SQL query over the lake returning `text`"),
        "name": Param(str, None, "the column is dsir_<name> (default: the target file's stem; "
                                 "required for an SQL target)"),
        "buckets": Param(int, 10000, "hash buckets of the n-gram features, at most 2**32 (with models: theirs)",
                         minimum=1),
        "smoothing": Param(float, 0.0, "pseudo-count added to each target bucket", minimum=0),
        "raw_rows": Param(int, None, "fit the raw model on at most this many lake rows, evenly spaced "
                                     "(default: all)", minimum=1),
        "models": Param(str, None, "a folder of fitted models (target.npy, raw.npy, dsir.json): fit is skipped"),
        "out": Param(str, None, "where to write the fitted models (default: LAKE/models/dsir-<name>-<hash>/)"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        target, models = self.param("target"), self.param("models")
        if target is None and models is None:
            raise ValueError("give -p target=FILE_OR_SQL (the target documents) or -p models=DIR (fitted models)")
        self.is_sql = target is not None and not os.path.exists(target) and bool(_SQL.match(target))
        if target is not None and not self.is_sql and not os.path.isfile(target):
            raise ValueError(f"target {target}: no such file (and not an SQL query: SELECT/WITH/FROM ...)")
        if target is not None and not self.is_sql and models is None:
            read_target_file(target)  # fails here, before anything is written
        card = self._card(Path(models)) if models is not None else {}
        name = self.param("name") or card.get("name")
        if name is None and self.is_sql:
            raise ValueError("an SQL target needs -p name=NAME (the column is dsir_<name>)")
        self.target_name = _snake(name or Path(target).stem)
        self.column = f"dsir_{self.target_name}"
        self.buckets = self.params.get("buckets", card.get("buckets", self.param("buckets")))
        if self.buckets > 1 << 32:
            raise ValueError(f"buckets={self.buckets}: at most {1 << 32}")
        self.counts: Counter = Counter()
        self.folder: Path | None = None
        self._log_diff: np.ndarray | None = None
        if models is not None:
            self._load(Path(models))

    def outputs(self) -> list[pa.Field]:
        return [pa.field(self.column, pa.float64())]

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, lake, version, query) -> None:
        """Fit the target model (on `target`) and the raw model (on the lake's documents at
        `version`), and save both; nothing to do when `models` was given."""
        if self.folder is not None:
            return
        if self.is_sql:
            if query is None:
                raise ValueError("an SQL target needs the lake's SQL layer: call winnow.score (the API), "
                                 "or give the target as a file")
            table = query(self.param("target"))
            if "text" not in table.column_names:
                raise ValueError(f"the target query returns no `text` column (it returns: "
                                 f"{', '.join(table.column_names)})")
            texts = [t for t in table.column("text").to_pylist() if t]
            if not texts:
                raise ValueError("the target query returns no document")
            source = {"sql": self.param("target")}
        else:
            texts = read_target_file(self.param("target"))
            source = {"file": os.path.abspath(self.param("target")),
                      "sha256": _sha256(Path(self.param("target")))}
        target = count_buckets(texts, self.buckets)
        raw, raw_rows = self._fit_raw(lake.docs(version))
        log_ratio(target, raw, self.param("smoothing"))  # refuses an empty side before saving
        card = {"kind": "dsir", "name": self.target_name, "buckets": self.buckets, "ngrams": 2, "hash": HASH,
                "tokenizer": "lowercase + WordPunct (\\w+|[^\\w\\s]+)", "target": source,
                "target_docs": len(texts), "raw_rows": raw_rows, "lake": lake.uri, "lake_version": int(version)}
        self._save(self._out_folder(lake, target, raw), target, raw, card)

    def _fit_raw(self, docs) -> tuple[np.ndarray, int]:
        """Bucket counts of the lake's documents (all, or `raw_rows` evenly spaced), and how many."""
        total = docs.count_rows()
        cap = self.param("raw_rows")
        if cap is None or cap >= total:
            batches = docs.scanner(columns=["text"], batch_size=4096).to_batches()
            texts = (t for b in batches for t in b.column("text").to_pylist())
            return count_buckets(texts, self.buckets), total
        rows = (np.arange(cap, dtype=np.int64) * total) // cap
        texts = (t for i in range(0, cap, 4096)
                 for t in docs.take(rows[i:i + 4096], columns=["text"]).column("text").to_pylist())
        return count_buckets(texts, self.buckets), cap

    def _out_folder(self, lake, target: np.ndarray, raw: np.ndarray) -> Path:
        if self.param("out") is not None:
            return Path(self.param("out"))
        if lake.local_path is None:
            raise ValueError(f"the lake at {lake.uri} is not a local folder: give -p out=DIR for the fitted models")
        digest = hashlib.sha256(target.tobytes() + raw.tobytes()).hexdigest()[:12]
        return Path(lake.local_path) / "models" / f"dsir-{self.target_name}-{digest}"

    def _save(self, folder: Path, target: np.ndarray, raw: np.ndarray, card: dict) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "target.npy", target)
        np.save(folder / "raw.npy", raw)
        (folder / "dsir.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        self._load(folder)

    # -- loading ---------------------------------------------------------------------------

    @staticmethod
    def _card(folder: Path) -> dict:
        path = folder / "dsir.json"
        if not path.is_file():
            raise ValueError(f"models {folder}: no dsir.json (expected a folder written by the dsir scorer)")
        return json.loads(path.read_text())

    def _load(self, folder: Path) -> None:
        card = self._card(folder)
        missing = [f for f in FILES if not (folder / f).is_file()]
        if missing:
            raise ValueError(f"models {folder}: missing {', '.join(missing)}")
        if card.get("hash") != HASH:
            raise ValueError(f"models {folder} were hashed with {card.get('hash')!r}; this scorer uses {HASH}")
        target, raw = (np.load(folder / f) for f in FILES)
        if not (target.shape == raw.shape == (self.buckets,)):
            raise ValueError(f"models {folder} have {target.shape[0]} buckets; pass -p buckets={target.shape[0]}")
        self._log_diff = log_ratio(target, raw, self.param("smoothing"))
        self.folder = folder

    def fitted_params(self) -> dict:
        """The parameters that let a fresh copy skip fitting: {"models": the fitted folder}."""
        if self.folder is None:
            raise ValueError("dsir: fit() has not run")
        return {"models": str(self.folder)}

    def fingerprint(self) -> dict:
        """What the column depends on: the sha256 of both fitted files, the buckets, the n-gram
        orders, the hash and the smoothing (before fitting: the parameters only)."""
        out = {"buckets": self.buckets, "ngrams": [1, 2], "hash": HASH, "smoothing": self.param("smoothing")}
        if self.folder is not None:
            out.update({f.removesuffix(".npy"): _sha256(self.folder / f) for f in FILES})
        return out

    # -- scoring ---------------------------------------------------------------------------

    def setup(self, device: str = "cpu") -> None:
        if self._log_diff is None:
            raise ValueError("dsir: no fitted models (the runner calls fit first, or give -p models=DIR)")
        _char_classes()

    def score(self, batch: pa.RecordBatch):
        texts = [t or "" for t in batch.column("text").to_pylist()]
        values = weights(texts, self._log_diff)
        empty = int(np.isnan(values).sum())
        if empty:
            self.counts["empty"] += empty
        return {self.column: pa.array(values, pa.float64())}


__all__ = ["DSIR", "bucket_of", "count_buckets", "log_ratio", "ngram_keys", "weights"]
