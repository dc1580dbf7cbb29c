"""Tokens per document for one tokenizer: `winnow score LAKE tokens --param tokenizer=...`.

    n_tokens (int32)   len(tokenizer.encode(text)) with NO special tokens added (no BOS/EOS,
                       no [CLS]/[SEP]): the count a budget sums, independent of how a trainer
                       frames documents. Materialization adds BOS/EOS itself (train/materialize/shards.py).

Parameters:
    tokenizer   a tokenizer.json file (HF `tokenizers`), a SentencePiece `.model` file, a
                folder with a tokenizer.json, or a Hugging Face id/folder (AutoTokenizer;
                local files only when HF_HUB_OFFLINE=1).
    threads     native threads for SentencePiece's batch encode (default: all cores);
                `tokenizers` encode_batch uses its own thread pool (RAYON_NUM_THREADS).

Loading goes through winnow.lake.tokenizer, so `fingerprint()["sha256"]` is the same
tokenizer identity that materialized shards record in their manifest. Truncation and
padding stored in a tokenizer.json (e.g. a model folder's, max_length 128) are switched
off: a count is never capped or padded.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winnow.scoring.scorer import Param, Scorer


class TokenCount(Scorer):
    name = "tokens"
    version = "1"
    inputs = ("text",)
    parameters = {
        "tokenizer": Param(str, None, "a tokenizer.json, a SentencePiece .model, a folder, or a Hugging Face id",
                           required=True),
        "threads": Param(int, None, "SentencePiece encode threads (default: all cores)", minimum=1),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self._tok = None

    def outputs(self) -> list[pa.Field]:
        return [pa.field("n_tokens", pa.int32())]

    @property
    def tokenizer(self):
        """The loaded winnow.lake.tokenizer.Tokenizer (loaded on first use)."""
        if self._tok is None:
            from winnow.lake.tokenizer import load_tokenizer

            tok = load_tokenizer(self.param("tokenizer"))
            if self.param("threads"):
                tok.threads = self.param("threads")
            backend = _backend(tok)
            if backend is not None:
                backend.no_truncation()
                backend.no_padding()
            self._tok = tok
        return self._tok

    def fingerprint(self) -> dict:
        """The tokenizer's identity, for the catalog: kind, name, sha256 (of its file), vocabulary size."""
        tok = self.tokenizer
        return {"kind": tok.kind, "name": tok.name, "sha256": tok.sha256, "vocab_size": tok.vocab_size}

    def setup(self, device: str = "cpu") -> None:
        self.tokenizer

    def score(self, batch: pa.RecordBatch):
        texts = batch.column("text").to_pylist()
        return {"n_tokens": pa.array(self.count(texts), type=pa.int32())}

    def count(self, texts: list[str]) -> np.ndarray:
        """Tokens of each text (no special tokens), batched on the library's native threads."""
        tok = self.tokenizer
        texts = [t or "" for t in texts]
        backend = _backend(tok)
        if backend is not None:
            encode = getattr(backend, "encode_batch_fast", backend.encode_batch)
            return np.fromiter((len(e) for e in encode(texts, add_special_tokens=False)), np.int32, len(texts))
        return np.fromiter((len(ids) for ids in tok.encode_batch(texts)), np.int32, len(texts))


def _backend(tok):
    """The HF `tokenizers` object behind a tokenizer (a tokenizer.json or a fast AutoTokenizer), or None."""
    if tok.kind == "tokenizers":
        return tok.impl
    if tok.kind == "transformers" and getattr(tok.impl, "is_fast", False):
        return tok.impl.backend_tokenizer
    return None

