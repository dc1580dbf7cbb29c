"""Token shards: packed token ids that describe themselves.

A shard folder holds
    manifest.json        tokenizer (name, sha256, vocabulary size, BOS/EOS ids), dtype, BOS/EOS
                         handling, documents, tokens, the selection (SQL, lake version, seed),
                         the order, winnow version, and per shard its tokens, documents and
                         xxh3_128 checksum
    shard-00000.bin      token ids, little-endian uint16 (vocabulary <= 65,536) or uint32;
                         each document is [BOS] tokens [EOS], documents back to back
    shard-00000.idx.npy  int64 offsets of document starts in the shard, plus its end
    shard-00000.ids.txt  the document ids, one per line, in shard order

`open_shards` checks the manifest (its fields, and its totals against its shard list), that
every shard's three files are there, the files' sizes against dtype and counts, the
document index, and refuses a tokenizer or dtype other than the one the shards were made
with. With `verify` (the default) it also reads every shard once: its checksum must match
the manifest and its largest token id must be inside the vocabulary (~0.25 s per GB from
the page cache, 4x faster than sha256 alone; bench/shards.py). Format version 1 (sha256
checksums, before xxh3_128) is still read.

The same folder, manifest and checks serve two other trainers' formats (a `Layout` each:
how a shard's token file is named and typed, and its document index written and read):
Megatron-LM's indexed dataset (train/materialize/megatron.py) and datatrove's tokenized
files, which nanotron reads (train/materialize/datatrove.py). Neither format holds a
checksum of its own: the manifest's is winnow's, checked by `open_shards`, not by their
readers.
"""

from __future__ import annotations

from collections.abc import Iterator

import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from winnow.lake.errors import UsageError, WinnowError

FORMAT = "winnow-tokens"
FORMAT_VERSION = 2  # 2: per-shard xxh3_128; 1: per-shard sha256 (still read)
READ_VERSIONS = (1, 2)
CHECKSUMS = {"xxh3_128": xxhash.xxh3_128, "sha256": hashlib.sha256}  # manifest key -> hash
CHECKSUM = "xxh3_128"  # what the writer records
_CHUNK = 1 << 22  # bytes hashed (and scanned for the largest id) at a time


class ShardError(WinnowError):
    """Shards that are damaged or do not match their manifest (one clear line)."""


class ShardUsageError(ShardError, UsageError):
    """Shards asked to do what they cannot: another tokenizer or dtype, a split they lack."""


def dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


@dataclass(frozen=True)
class Layout:
    """How a token format lays out a shard: `format` (the manifest's), the token file's
    `suffix`, the index files' suffixes (`index`), the token dtype for a vocabulary size, and
    the document index written (`write(out, stem, offsets, dtype, tokenizer name)`) and read
    back checked (`read(out, stem, entry, dtype)` -> int64 offsets, a ShardError naming the
    file). Every shard also has `STEM.ids.txt`, its document ids."""

    format: str
    suffix: str
    index: tuple[str, ...]
    dtypes: tuple[str, ...]
    dtype: Callable[[int], np.dtype]
    write: Callable
    read: Callable

    def stem(self, file: str) -> str:
        return file[:-len(self.suffix)] if file.endswith(self.suffix) else file

    def files(self, file: str) -> list[str]:
        """A shard's files: its token file (`file`), its index files, its ids."""
        stem = self.stem(file)
        return [file, *(stem + s for s in self.index), stem + ".ids.txt"]


def _write_npy(out: Path, stem: str, offsets: np.ndarray, dtype: np.dtype, tokenizer: str) -> None:
    index = io.BytesIO()  # not np.save(path): a Ctrl-C inside its file handling comes out as a TypeError
    np.save(index, np.asarray(offsets, dtype=np.int64))
    (out / f"{stem}.idx.npy").write_bytes(index.getvalue())


def _read_npy(out: Path, stem: str, entry: dict, dtype: np.dtype) -> np.ndarray:
    return _index(out / f"{stem}.idx.npy", entry)


WINNOW = Layout(FORMAT, ".bin", (".idx.npy",), ("uint16", "uint32"), dtype_for, _write_npy, _read_npy)
TOKEN_OUTPUTS = ("tokens", "megatron", "datatrove")  # the --format values that write token shards


def layout(output: str) -> Layout:
    """The layout of a token format, by `--format` value or manifest format."""
    if output in ("tokens", FORMAT):
        return WINNOW
    if output in ("megatron", "winnow-megatron"):
        from winnow.train.materialize.megatron import LAYOUT
        return LAYOUT
    if output in ("datatrove", "winnow-datatrove"):
        from winnow.train.materialize.datatrove import LAYOUT
        return LAYOUT
    raise ShardUsageError(f"format {output!r} is not a token format (it is one of {', '.join(TOKEN_OUTPUTS)})")


def file_checksum(path: str | os.PathLike, kind: str = CHECKSUM) -> str:
    """The hex checksum of a file (`kind`: xxh3_128 or sha256)."""
    h = CHECKSUMS[kind]()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def scan(tokens: np.ndarray, kind: str = CHECKSUM) -> tuple[str, int]:
    """One pass over a shard's token array: its checksum and its largest token id (-1 if empty)."""
    h = CHECKSUMS[kind]()
    top = -1
    step = max(1, _CHUNK // tokens.dtype.itemsize)
    for a in range(0, len(tokens), step):
        chunk = tokens[a:a + step]
        h.update(chunk)
        top = max(top, int(chunk.max()))
    return h.hexdigest(), top


class ShardWriter:
    """Writes documents' token ids into shards of about `shard_tokens` tokens."""

    def __init__(self, out: Path, vocab_size: int, shard_tokens: int, first_shard: int = 0,
                 layout: Layout = WINNOW, tokenizer: str = ""):
        self.out, self.vocab_size, self.shard_tokens = out, vocab_size, shard_tokens
        self.layout, self.tokenizer = layout, tokenizer
        self.dtype = layout.dtype(vocab_size)
        self.index = first_shard
        self.shards: list[dict] = []
        self._open()

    def _open(self) -> None:
        self.tmp = self.out / f"shard-{self.index:05d}{self.layout.suffix}.tmp"
        self.f = open(self.tmp, "wb")
        self.hash = CHECKSUMS[CHECKSUM]()
        self.offsets = [0]
        self.ids: list[str] = []

    def add(self, doc_id: str, tokens: np.ndarray) -> None:
        if len(tokens) and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            bad = int(tokens.max()) if tokens.max() >= self.vocab_size else int(tokens.min())
            raise ShardError(f"document {doc_id}: the tokenizer gave token id {bad}, outside its vocabulary "
                             f"of {self.vocab_size:,}")
        data = tokens.astype(self.dtype, copy=False).tobytes()
        self.f.write(data)
        self.hash.update(data)
        self.offsets.append(self.offsets[-1] + len(tokens))
        self.ids.append(doc_id)

    def add_many(self, doc_ids: list[str], tokens: np.ndarray, lengths: np.ndarray) -> Iterator[dict]:
        """Add documents back to back (`tokens`: their ids in this writer's dtype, already
        checked against the vocabulary; `lengths`: tokens per document). A shard is finished
        right after the document that brings it to `shard_tokens`, as `add` and `full` do one
        document at a time, so the bytes are the same. Yields each finished shard's entry as
        soon as its files are in place, so the caller records it before the next is written."""
        tokens = tokens.astype(self.dtype, copy=False)
        ends = np.cumsum(lengths, dtype=np.int64)
        first, at = 0, 0  # next document, and where its tokens start
        while first < len(lengths):
            need = self.shard_tokens - self.offsets[-1]
            cut = int(np.searchsorted(ends, at + need, side="left"))  # the document that fills the shard
            stop = min(cut + 1, len(lengths))
            data = tokens[at:int(ends[stop - 1])]
            self.f.write(data.tobytes())
            self.hash.update(data)
            self.offsets.extend((self.offsets[-1] + ends[first:stop] - at).tolist())
            self.ids.extend(doc_ids[first:stop])
            if cut < len(lengths):
                yield self.close_shard()
            first, at = stop, int(ends[stop - 1])

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
        self.layout.write(self.out, name, np.asarray(self.offsets, dtype=np.int64), self.dtype, self.tokenizer)
        (self.out / f"{name}.ids.txt").write_text("\n".join(self.ids) + "\n")
        os.replace(self.tmp, self.out / f"{name}{self.layout.suffix}")  # last: the shard is there once it is
        entry = {"file": f"{name}{self.layout.suffix}", "tokens": self.offsets[-1], "documents": len(self.ids),
                 CHECKSUM: self.hash.hexdigest()}
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

    @property
    def layout(self) -> Layout:
        return layout(self.manifest["format"])

    def path(self, shard: int, suffix: str | None = None) -> Path:
        """A shard's token file, or (`suffix`) its file of that suffix."""
        file = self.manifest["shards"][shard]["file"]
        return self.root / (file if suffix is None else self.layout.stem(file) + suffix)

    def documents(self):
        """(shard, document index, token array) of every document, in order."""
        for s, (toks, offs) in enumerate(zip(self.tokens, self.offsets)):
            for d in range(len(offs) - 1):
                yield s, d, toks[offs[d]: offs[d + 1]]

    def ids(self, shard: int) -> list[str]:
        path = self.path(shard, ".ids.txt")
        try:
            ids = path.read_text().splitlines()
        except OSError as e:
            raise ShardError(f"{path}: cannot read the shard's document ids ({e.strerror or e})") from e
        if len(ids) != self.manifest["shards"][shard]["documents"]:
            raise ShardError(f"{path}: {len(ids):,} ids, but the manifest says "
                             f"{self.manifest['shards'][shard]['documents']:,} documents")
        return ids

    def verify(self, which=None) -> None:
        """Read shards `which` (all by default) once: each checksum must match the manifest and
        each token id must be inside the tokenizer's vocabulary."""
        vocab = self.manifest["tokenizer"]["vocab_size"]
        for s in range(len(self.tokens)) if which is None else which:
            entry, path = self.manifest["shards"][s], self.path(s)
            kind = next(k for k in CHECKSUMS if k in entry)
            digest, top = scan(self.tokens[s], kind)
            if digest != entry[kind]:
                raise ShardError(f"{path}: checksum mismatch ({kind} {digest[:16]}, the manifest says "
                                 f"{entry[kind][:16]}): the shard is damaged; materialize it again")
            if top >= vocab:
                raise ShardError(f"{path}: token id {top:,} is outside the tokenizer's vocabulary of {vocab:,}")


def _damaged(path: Path, what: str) -> ShardError:
    return ShardError(f"{path}: {what} (a damaged manifest: materialize again)")


def read_manifest(root: str | os.PathLike) -> dict:
    """A token shard folder's manifest, checked in itself: its fields, and its totals
    against its shard list (nothing but manifest.json is read)."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise ShardUsageError(f"{root}: no manifest.json (not a winnow shard folder, or materialization did not finish)")
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise _damaged(path, f"not readable JSON ({e})") from e
    if not isinstance(manifest, dict):
        raise _damaged(path, "not a JSON object")
    formats = (FORMAT, "winnow-megatron", "winnow-datatrove")
    if manifest.get("format") not in formats or manifest.get("format_version") not in READ_VERSIONS:
        expected = manifest["format"] if manifest.get("format") in formats else " or ".join(formats)
        raise ShardUsageError(f"{path}: format {manifest.get('format')} v{manifest.get('format_version')}, expected "
                              f"{expected} v{' or v'.join(map(str, READ_VERSIONS))}")
    shape = layout(manifest["format"])
    tok = manifest.get("tokenizer")
    if not isinstance(tok, dict) or not isinstance(tok.get("vocab_size"), int) or not isinstance(tok.get("sha256"), str):
        raise _damaged(path, "no tokenizer with a vocab_size and a sha256")
    if manifest.get("dtype") not in shape.dtypes:
        raise _damaged(path, f"dtype {manifest.get('dtype')!r}, not {' or '.join(shape.dtypes)}")
    if tok["vocab_size"] - 1 > np.iinfo(np.dtype(manifest["dtype"])).max:
        raise _damaged(path, f"a vocabulary of {tok['vocab_size']:,} does not fit in {manifest['dtype']}")
    shards = manifest.get("shards")
    if not isinstance(shards, list):
        raise _damaged(path, "no shard list")
    for i, entry in enumerate(shards):
        name = f"shard-{i:05d}{shape.suffix}"
        if not isinstance(entry, dict) or entry.get("file") != name:
            raise _damaged(path, f"shard {i} is not {name}")
        for key in ("tokens", "documents"):
            if not isinstance(entry.get(key), int) or entry[key] < 0:
                raise _damaged(path, f"{entry['file']} has no count of {key}")
        if not any(isinstance(entry.get(k), str) for k in CHECKSUMS):
            raise _damaged(path, f"{entry['file']} has no checksum ({' or '.join(CHECKSUMS)})")
    for key in ("documents", "tokens"):
        total = sum(e[key] for e in shards)
        if manifest.get(key) != total:
            raise _damaged(path, f"{key} {manifest.get(key)}, but its shards add up to {total:,}")
    return manifest


def describe_tokenizer(name, vocab_size, sha256: str, where: str | None = None) -> str:
    """One tokenizer in a message: name (where it was read from), vocabulary, sha256 prefix."""
    at = f" ({where})" if where and where != name else ""
    return f"{name}{at}, vocabulary {vocab_size:,}, sha256 {sha256[:12]}"


def _index(path: Path, entry: dict) -> np.ndarray:
    """A shard's document index, checked against its manifest entry."""
    try:
        offs = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ShardError(f"{path}: not a readable document index ({e})") from e
    return check_offsets(path, offs, entry)


def check_offsets(path: Path, offs: np.ndarray, entry: dict) -> np.ndarray:
    """`offs` (int64 document starts and the end) when they fit the manifest entry's counts;
    else a ShardError naming the index file `path`."""
    ok = (offs.ndim == 1 and offs.dtype == np.int64 and len(offs) == entry["documents"] + 1
          and offs[0] == 0 and offs[-1] == entry["tokens"] and bool((np.diff(offs) >= 0).all()))
    if not ok:
        raise ShardError(f"{path}: the document index does not match the manifest "
                         f"({entry['documents']:,} documents, {entry['tokens']:,} tokens)")
    return offs


def open_shards(root: str | os.PathLike, tokenizer=None, dtype: str | None = None, verify: bool = True) -> Shards:
    """Open shards, refusing a different tokenizer (a Tokenizer or its sha256) or dtype, and
    damaged or missing files; `verify` also reads every shard (checksum, token ids)."""
    root = Path(root)
    m = read_manifest(root)
    if tokenizer is not None:
        want = tokenizer if isinstance(tokenizer, str) else tokenizer.sha256
        got = m["tokenizer"]["sha256"]
        if want != got:
            made = describe_tokenizer(m["tokenizer"].get("name"), m["tokenizer"]["vocab_size"], got,
                                      m.get("tokenizer_path"))
            given = (f"sha256 {want[:12]}" if isinstance(tokenizer, str)
                     else describe_tokenizer(tokenizer.name, tokenizer.vocab_size, want, tokenizer.spec))
            raise ShardUsageError(f"{root}: tokenizer mismatch: the shards were made with {made}, not {given}")
    if dtype is not None and np.dtype(dtype) != np.dtype(m["dtype"]):
        raise ShardUsageError(f"{root}: dtype mismatch: shards hold {m['dtype']}, not {np.dtype(dtype).name}")
    dt = np.dtype(m["dtype"])
    shape = layout(m["format"])
    tokens, offsets = [], []
    for entry in m["shards"]:
        path = root / entry["file"]
        for part in shape.files(entry["file"]):
            if not (root / part).is_file():
                raise ShardError(f"{root / part}: missing (the manifest lists {entry['file']}); materialize again")
        size = path.stat().st_size
        if size != entry["tokens"] * dt.itemsize:
            raise ShardError(f"{path}: {size} bytes, but the manifest says {entry['tokens']} tokens of {dt.name}")
        offsets.append(shape.read(root, shape.stem(entry["file"]), entry, dt))
        tokens.append(np.memmap(path, dtype=dt, mode="r") if entry["tokens"] else np.zeros(0, dt))
    shards = Shards(root, m, tokens, offsets)
    if verify:
        shards.verify()
    return shards
