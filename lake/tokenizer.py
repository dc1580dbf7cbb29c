"""Tokenizers by path or id: a tokenizer.json (HF `tokenizers`), a SentencePiece `.model`,
or a Hugging Face id or folder (AutoTokenizer). One small interface for counting tokens,
materializing shards and checking that shards match the tokenizer a trainer uses.

Encoding adds no special tokens; materialization adds BOS/EOS itself (see shards.py).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Tokenizer:
    spec: str  # as given: a path or an id
    kind: str  # "tokenizers" | "sentencepiece" | "transformers"
    impl: object
    threads: int = os.cpu_count() or 1

    @property
    def name(self) -> str:
        return Path(self.spec).name if os.path.exists(self.spec) else self.spec

    @cached_property
    def sha256(self) -> str:
        """The identity of the tokenizer: sha256 of its file (of tokenizer.json in a folder)."""
        path = Path(self.spec)
        if path.is_file():
            return file_sha256(path)
        for candidate in ("tokenizer.json", "tokenizer.model", "vocab.json"):
            if (path / candidate).is_file():
                return file_sha256(path / candidate)
        return hashlib.sha256(repr(sorted(self.vocab().items())).encode()).hexdigest()

    @property
    def vocab_size(self) -> int:
        if self.kind == "tokenizers":
            return self.impl.get_vocab_size(with_added_tokens=True)
        if self.kind == "sentencepiece":
            return self.impl.vocab_size()
        return len(self.impl)

    def vocab(self) -> dict:
        if self.kind == "sentencepiece":
            return {self.impl.id_to_piece(i): i for i in range(self.impl.vocab_size())}
        return self.impl.get_vocab()

    @property
    def bos_id(self) -> int | None:
        if self.kind == "sentencepiece":
            return self.impl.bos_id() if self.impl.bos_id() >= 0 else None
        if self.kind == "transformers":
            return self.impl.bos_token_id
        return _first_token(self.impl, ("<s>", "<|begin_of_text|>", "<|endoftext|>", "[CLS]"))

    @property
    def eos_id(self) -> int | None:
        if self.kind == "sentencepiece":
            return self.impl.eos_id() if self.impl.eos_id() >= 0 else None
        if self.kind == "transformers":
            return self.impl.eos_token_id
        return _first_token(self.impl, ("</s>", "<|end_of_text|>", "<|endoftext|>", "[SEP]"))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, no special tokens added; native threads where the library has them."""
        if self.kind == "tokenizers":
            return [e.ids for e in self.impl.encode_batch(texts, add_special_tokens=False)]
        if self.kind == "sentencepiece":
            return self.impl.encode(texts, num_threads=self.threads)
        return self.impl(texts, add_special_tokens=False)["input_ids"]

    def decode(self, ids: list[int]) -> str:
        if self.kind == "tokenizers":
            return self.impl.decode(ids, skip_special_tokens=False)
        if self.kind == "sentencepiece":
            return self.impl.decode(ids)
        return self.impl.decode(ids)


def _first_token(tok, names) -> int | None:
    for name in names:
        i = tok.token_to_id(name)
        if i is not None:
            return i
    return None


def _from_json(path: str):
    """A tokenizers.Tokenizer without the truncation or padding its file may carry (a model
    folder's tokenizer.json often truncates at 128 or 512 tokens)."""
    from tokenizers import Tokenizer as HFTokenizer

    tok = HFTokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


def load_tokenizer(spec: str | os.PathLike) -> Tokenizer:
    """A tokenizer from a tokenizer.json, a SentencePiece .model, or an HF id/folder."""
    spec = os.fspath(spec)
    if spec.endswith(".json") and os.path.isfile(spec):
        return Tokenizer(spec, "tokenizers", _from_json(spec))
    if spec.endswith(".model") and os.path.isfile(spec):
        import sentencepiece

        return Tokenizer(spec, "sentencepiece", sentencepiece.SentencePieceProcessor(model_file=spec))
    if os.path.isdir(spec) and os.path.isfile(os.path.join(spec, "tokenizer.json")):
        return Tokenizer(spec, "tokenizers", _from_json(os.path.join(spec, "tokenizer.json")))
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise ValueError(f"tokenizer {spec!r}: not a tokenizer.json or .model file, and transformers is not installed") from e
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    return Tokenizer(spec, "transformers", AutoTokenizer.from_pretrained(spec, local_files_only=offline))
