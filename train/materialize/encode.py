"""A materialization's unit of work: a range of the ordered documents, read from Lance and
tokenized in a worker (an engine's process or Ray actor, or this process).

A worker is built once (`worker`): the lake's docs at the selection's pinned version and
the encoder: the fast byte-level BPE encoder (train/materialize/bpe.py) where it provably gives the
tokenizer's own ids, else the tokenizer, rebuilt from its bytes. Either travels with the
job (a Ray node needs no copy of the tokenizer file; an HF folder or id is loaded by name). A unit (`encode`) returns
its documents' token ids back to back, `[BOS] tokens [EOS]` each, in the shards' dtype,
and the length of each: the parent cuts shards from the lengths, so the cuts do not depend
on how the documents were split into units or where they ran.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import chain

import numpy as np

from winnow.lake import Lake
from winnow.lake.tokenizer import Tokenizer, load_tokenizer

from winnow.train.materialize.bpe import FastBPE
from winnow.train.materialize.shards import ShardError, dtype_for

_built: dict[str, Tokenizer] = {}  # this process's tokenizers, by sha256
_opened: dict[tuple[str, int], object] = {}  # this process's docs datasets, by (lake URI, version)


@dataclass
class Unit:
    """Documents `start` to `stop` of the ordered selection: their rows in docs and ids."""

    start: int
    stop: int
    offsets: np.ndarray
    ids: list[str]

    def __str__(self) -> str:
        return f"documents {self.start:,} to {self.stop - 1:,}"


@dataclass
class Worker:
    docs: object  # LanceDataset at the pinned version
    coder: object  # FastBPE, or the Tokenizer itself
    prefix: list[int]
    suffix: list[int]
    vocab_size: int


def keep(tok: Tokenizer, lake_uri: str, version: int, docs) -> None:
    """Keep this process's loaded tokenizer and docs snapshot, so that a worker built in this
    process reuses them (a memory:// lake's store lives in its Lake's session only)."""
    _built[tok.sha256] = tok
    _opened[(lake_uri, version)] = docs


def portable(tok: Tokenizer, fast: FastBPE | None):
    """What a worker encodes with: the fast encoder (it travels as its ranks), or what the
    tokenizer is rebuilt from, (spec, kind, sha256, its bytes or None)."""
    if fast is not None:
        return fast
    if tok.kind == "tokenizers":
        return tok.spec, tok.kind, tok.sha256, tok.impl.to_str()
    if tok.kind == "sentencepiece":
        return tok.spec, tok.kind, tok.sha256, tok.impl.serialized_model_proto()
    return tok.spec, tok.kind, tok.sha256, None  # an HF folder or id: loaded again by name


def _rebuild(spec: str, kind: str, sha256: str, payload) -> Tokenizer:
    if sha256 in _built:
        return _built[sha256]
    if kind == "tokenizers":
        from tokenizers import Tokenizer as HFTokenizer

        tok = Tokenizer(spec, kind, HFTokenizer.from_str(payload))
    elif kind == "sentencepiece":
        import sentencepiece

        tok = Tokenizer(spec, kind, sentencepiece.SentencePieceProcessor(model_proto=payload))
    else:
        tok = load_tokenizer(spec)
    tok.__dict__["sha256"] = sha256  # its identity, as the parent computed it from the file
    _built[sha256] = tok
    return tok


def worker(lake_uri: str, storage_options: dict, version: int, coder, prefix: list[int], suffix: list[int],
           vocab_size: int, threads: int) -> Worker:
    """A worker's state (built once per worker): docs at `version` and the encoder (`coder`:
    from `portable`); `threads`: the tokenizer library's own threads in this worker."""
    if not isinstance(coder, FastBPE):
        coder = _rebuild(*coder)
        coder.threads = threads
        if threads == 1 and coder.kind == "tokenizers":
            os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before HF tokenizers starts its thread pool
    docs = _opened.get((lake_uri, version)) or Lake(lake_uri, storage_options).docs(version)
    return Worker(docs, coder, prefix, suffix, vocab_size)


def encode(state: Worker, unit: Unit) -> tuple[np.ndarray, np.ndarray]:
    """(token ids of the unit's documents back to back in the shards' dtype, tokens per
    document); a ShardError names a document given an id outside the vocabulary."""
    texts = state.docs.take(unit.offsets, columns=["text"])["text"].to_pylist()
    encoded = state.coder.encode(texts) if isinstance(state.coder, FastBPE) else state.coder.encode_batch(texts)
    tokens, lengths = pack(encoded, state.prefix, state.suffix)
    vocab = state.vocab_size
    if len(tokens) and (tokens.min() < 0 or tokens.max() >= vocab):
        at = int(np.flatnonzero((tokens < 0) | (tokens >= vocab))[0])
        doc = int(np.searchsorted(np.cumsum(lengths), at, side="right"))
        raise ShardError(f"document {unit.ids[doc]}: the tokenizer gave token id {int(tokens[at])}, outside its "
                         f"vocabulary of {vocab:,}")
    return tokens.astype(dtype_for(vocab), copy=False), lengths


def pack(encoded: list, prefix: list[int], suffix: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each document's ids between `prefix` and `suffix`, back to back (int64), and the
    length of each."""
    extra = len(prefix) + len(suffix)
    lengths = np.fromiter((len(ids) + extra for ids in encoded), np.int64, len(encoded))
    total = int(lengths.sum())
    if encoded and isinstance(encoded[0], np.ndarray):
        head, tail = np.asarray(prefix, np.int64), np.asarray(suffix, np.int64)
        parts = [part for ids in encoded for part in (head, ids, tail)]
        return (np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, np.int64)), lengths
    flat = chain.from_iterable(chain.from_iterable((prefix, ids, suffix) for ids in encoded))
    return np.fromiter(flat, np.int64, total), lengths
