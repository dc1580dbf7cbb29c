"""Megatron-LM's indexed dataset (`--format megatron`): what `megatron.core.datasets.
indexed_dataset.IndexedDataset` reads, one dataset per shard (`shard-00000` is a path prefix
for `--data-path`).

    shard-00000.bin   token ids back to back, little-endian, in Megatron's dtype for the
                      vocabulary: uint16 below 65,500 tokens, int32 from there (its
                      `DType.optimal_dtype`; not winnow's uint16 up to 65,536)
    shard-00000.idx   the index, little-endian:
                        b"MMIDIDX\\x00\\x00"              9 bytes, the magic
                        version 1                        uint64
                        dtype code                       uint8 (uint16: 8, int32: 4)
                        sequences S                      uint64
                        document_indices length S + 1    uint64
                        sequence lengths                 int32 x S
                        sequence pointers (byte offsets) int64 x S
                        document indices 0, 1, ..., S    int64 x (S + 1)

Each document is one sequence, `[BOS] tokens [EOS]` as in winnow's own shards (Megatron's
preprocess_data.py `--append-eod` gives `tokens [EOD]`: pass `bos=False` through the API for
that). The format has no checksum: the manifest's xxh3_128 of each .bin is winnow's, checked
by `open_shards`; Megatron's reader checks only the magic, the version and the dtype code.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from winnow.train.materialize.shards import Layout, ShardError, check_offsets

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
CODES = {"uint16": 8, "int32": 4}  # Megatron's DType codes of the two dtypes it writes tokens in
_HEAD = struct.Struct("<9sQBQQ")  # magic, version, dtype code, sequences, document_indices length


def dtype_for(vocab_size: int) -> np.dtype:
    """The dtype Megatron writes a vocabulary's token ids in (`DType.optimal_dtype`)."""
    return np.dtype("<u2") if vocab_size < 65500 else np.dtype("<i4")


def write_index(out: Path, stem: str, offsets: np.ndarray, dtype: np.dtype, tokenizer: str) -> None:
    """`STEM.idx` for documents starting at `offsets` (int64, plus the end), one sequence each."""
    n = len(offsets) - 1
    lengths = np.diff(offsets).astype("<i4")
    pointers = (offsets[:-1] * dtype.itemsize).astype("<i8")
    documents = np.arange(n + 1, dtype="<i8")
    head = _HEAD.pack(MAGIC, VERSION, CODES[dtype.name], n, n + 1)
    (out / f"{stem}.idx").write_bytes(head + lengths.tobytes() + pointers.tobytes() + documents.tobytes())


def read_index(out: Path, stem: str, entry: dict, dtype: np.dtype) -> np.ndarray:
    """The document offsets that `STEM.idx` gives, checked field by field against the
    manifest entry and `dtype` (a ShardError naming the file)."""
    path = out / f"{stem}.idx"
    data = path.read_bytes()
    n = entry["documents"]
    if len(data) != _HEAD.size + 4 * n + 8 * n + 8 * (n + 1):
        raise ShardError(f"{path}: {len(data):,} bytes, not the index of {n:,} documents")
    magic, version, code, sequences, indices = _HEAD.unpack_from(data)
    if (magic, version, code, sequences, indices) != (MAGIC, VERSION, CODES.get(dtype.name), n, n + 1):
        raise ShardError(f"{path}: header (magic {magic!r}, version {version}, dtype code {code}, {sequences:,} "
                         f"sequences) does not match the manifest ({n:,} documents of {dtype.name})")
    at = _HEAD.size
    lengths = np.frombuffer(data, "<i4", n, at).astype(np.int64)
    pointers = np.frombuffer(data, "<i8", n, at + 4 * n)
    documents = np.frombuffer(data, "<i8", n + 1, at + 12 * n)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    if not (np.array_equal(pointers, offsets[:-1] * dtype.itemsize) and np.array_equal(documents, np.arange(n + 1))):
        raise ShardError(f"{path}: sequence pointers or document indices do not follow the sequence lengths")
    return check_offsets(path, offsets, entry)


LAYOUT = Layout("winnow-megatron", ".bin", (".idx",), ("uint16", "int32"), dtype_for, write_index, read_index)
