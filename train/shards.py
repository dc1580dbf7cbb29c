"""Token shards: packed token ids that describe themselves.

A shard folder holds
    manifest.json        tokenizer (name, sha256, vocabulary size, BOS/EOS ids), dtype, BOS/EOS
                         handling, documents, tokens, the selection (SQL, lake version, seed),
                         the order, winnow version, and per shard its tokens, documents, sha256
    shard-00000.bin      token ids, little-endian uint16 (vocabulary <= 65,536) or uint32;
                         each document is [BOS] tokens [EOS], documents back to back
    shard-00000.idx.npy  int64 offsets of document starts in the shard, plus its end
    shard-00000.ids.txt  the document ids, one per line, in shard order

`open_shards` checks the manifest, the files' sizes against dtype and counts, and refuses
a tokenizer or dtype other than the one the shards were made with.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from winnow.lake.errors import UsageError, WinnowError
from winnow.lake.tokenizer import file_sha256

FORMAT = "winnow-tokens"
FORMAT_VERSION = 1


class ShardError(WinnowError):
    """Shards that do not match what the reader expects (one clear line)."""


def dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


class ShardWriter:
    """Writes documents' token ids into shards of about `shard_tokens` tokens."""

    def __init__(self, out: Path, dtype: np.dtype, shard_tokens: int, first_shard: int = 0):
        self.out, self.dtype, self.shard_tokens = out, dtype, shard_tokens
        self.index = first_shard
        self.shards: list[dict] = []
        self._open()

    def _open(self) -> None:
        self.tmp = self.out / f"shard-{self.index:05d}.bin.tmp"
        self.f = open(self.tmp, "wb")
        self.hash = hashlib.sha256()
        self.offsets = [0]
        self.ids: list[str] = []

    def add(self, doc_id: str, tokens: np.ndarray) -> None:
        data = tokens.astype(self.dtype, copy=False).tobytes()
        self.f.write(data)
        self.hash.update(data)
        self.offsets.append(self.offsets[-1] + len(tokens))
        self.ids.append(doc_id)

    @property
    def full(self) -> bool:
        return self.offsets[-1] >= self.shard_tokens

    def close_shard(self) -> dict | None:
        """Finish the current shard (atomically: temp file renamed last); its manifest entry."""
        self.f.close()
        if not self.ids:
            os.remove(self.tmp)
            return None
        name = f"shard-{self.index:05d}"
        np.save(self.out / f"{name}.idx.npy", np.asarray(self.offsets, dtype=np.int64))
        (self.out / f"{name}.ids.txt").write_text("\n".join(self.ids) + "\n")
        os.replace(self.tmp, self.out / f"{name}.bin")
        entry = {"file": f"{name}.bin", "tokens": self.offsets[-1], "documents": len(self.ids),
                 "sha256": self.hash.hexdigest()}
        self.shards.append(entry)
        self.index += 1
        self._open()
        return entry

    def abandon(self) -> None:
        self.f.close()
        if self.tmp.exists():
            os.remove(self.tmp)


@dataclass
class Shards:
    """Shards opened for reading: memory-mapped token arrays and document offsets."""

    root: Path
    manifest: dict
    tokens: list[np.ndarray]
    offsets: list[np.ndarray]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.manifest["dtype"])

    def documents(self):
        """(shard, document index, token array) of every document, in order."""
        for s, (toks, offs) in enumerate(zip(self.tokens, self.offsets)):
            for d in range(len(offs) - 1):
                yield s, d, toks[offs[d]: offs[d + 1]]

    def ids(self, shard: int) -> list[str]:
        return (self.root / self.manifest["shards"][shard]["file"].replace(".bin", ".ids.txt")).read_text().splitlines()


def read_manifest(root: str | os.PathLike) -> dict:
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise ShardError(f"{root}: no manifest.json (not a winnow shard folder, or materialization did not finish)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ShardError(f"{path}: format {manifest.get('format')} v{manifest.get('format_version')}, "
                         f"expected {FORMAT} v{FORMAT_VERSION}")
    return manifest


def open_shards(root: str | os.PathLike, tokenizer=None, dtype: str | None = None, verify: bool = False) -> Shards:
    """Open shards, refusing a different tokenizer (a Tokenizer or its sha256) or dtype."""
    root = Path(root)
    m = read_manifest(root)
    if tokenizer is not None:
        want = tokenizer if isinstance(tokenizer, str) else tokenizer.sha256
        got = m["tokenizer"]["sha256"]
        if want != got:
            name = tokenizer if isinstance(tokenizer, str) else tokenizer.name
            raise ShardError(f"{root}: tokenizer mismatch: shards were made with {m['tokenizer']['name']} "
                             f"(sha256 {got[:12]}), not {name} (sha256 {want[:12]})")
    if dtype is not None and np.dtype(dtype) != np.dtype(m["dtype"]):
        raise ShardError(f"{root}: dtype mismatch: shards hold {m['dtype']}, not {np.dtype(dtype).name}")
    dt = np.dtype(m["dtype"])
    tokens, offsets = [], []
    for entry in m["shards"]:
        path = root / entry["file"]
        size = path.stat().st_size if path.is_file() else -1
        if size != entry["tokens"] * dt.itemsize:
            raise ShardError(f"{path}: {size} bytes, but the manifest says {entry['tokens']} tokens of {dt.name}")
        if verify and file_sha256(path) != entry["sha256"]:
            raise ShardError(f"{path}: checksum mismatch")
        offs = np.load(root / entry["file"].replace(".bin", ".idx.npy"))
        if len(offs) != entry["documents"] + 1 or offs[-1] != entry["tokens"]:
            raise ShardError(f"{path}: document index does not match the manifest")
        tokens.append(np.memmap(path, dtype=dt, mode="r") if entry["tokens"] else np.zeros(0, dt))
        offsets.append(offs)
    return Shards(root, m, tokens, offsets)

