"""datatrove's tokenized files (`--format datatrove`): what datatrove's DocumentTokenizer
writes and its readers open (`DatatroveFolderDataset`, the tokenized-file readers of its
merger), the data nanotron trains on through datatrove.

    shard-00000.ds           token ids back to back, little-endian uint16 (vocabulary up to
                             65,536, datatrove's `token_size` 2) or uint32 (4)
    shard-00000.ds.index     each document's end, in tokens: uint64 little-endian, one per document
    shard-00000.ds.metadata  three lines, as DocumentTokenizer's final metadata: `TOKENIZER|TOKEN_SIZE`,
                             the token count, and the count in SI units (`1.23 MT`)

Each document is `[BOS] tokens [EOS]` as in winnow's own shards. No `.ds.loss` is written
(DocumentTokenizer writes one only for loss masks, which a selection does not have). The
format has no checksum: the manifest's xxh3_128 of each .ds is winnow's, checked by
`open_shards`; datatrove's readers check nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from winnow.train.materialize.shards import Layout, ShardError, check_offsets, dtype_for


def si(count: int, unit: str = "T") -> str:
    """A count in SI units with three significant digits, as datatrove writes its token
    counts (humanize's `metric`): 0 -> "0.00 T", 950 -> "950 T", 1234 -> "1.23 kT", 999999 -> "1.00 MT"."""
    exponent = int(math.floor(math.log10(count))) if count else 0
    value = count / 10 ** (exponent // 3 * 3)
    digits = max(0, 2 - exponent % 3)
    if round(value, digits) >= 10 ** (exponent % 3 + 1):  # rounding carried into the next digit
        exponent += 1
        value = count / 10 ** (exponent // 3 * 3)
        digits = max(0, 2 - exponent % 3)
    prefix = "kMGTPEZYRQ"[exponent // 3 - 1] if exponent >= 3 else ""
    return f"{value:.{digits}f} {prefix}{unit}"


def metadata(tokenizer: str, token_size: int, tokens: int) -> str:
    return "\n".join([f"{tokenizer}|{token_size}", str(tokens), si(tokens)])


def write_index(out: Path, stem: str, offsets: np.ndarray, dtype: np.dtype, tokenizer: str) -> None:
    """`STEM.ds.index` (document ends) and `STEM.ds.metadata`."""
    (out / f"{stem}.ds.index").write_bytes(offsets[1:].astype("<u8").tobytes())
    (out / f"{stem}.ds.metadata").write_text(metadata(tokenizer, dtype.itemsize, int(offsets[-1])))


def read_index(out: Path, stem: str, entry: dict, dtype: np.dtype) -> np.ndarray:
    """The document offsets that `STEM.ds.index` gives, checked against the manifest entry,
    and `STEM.ds.metadata`'s token size and count (a ShardError naming the file)."""
    path = out / f"{stem}.ds.index"
    data = path.read_bytes()
    if len(data) != 8 * entry["documents"]:
        raise ShardError(f"{path}: {len(data):,} bytes, not the ends of {entry['documents']:,} documents")
    offsets = check_offsets(path, np.concatenate([[0], np.frombuffer(data, "<u8").astype(np.int64)]), entry)
    meta = out / f"{stem}.ds.metadata"
    lines = meta.read_text(errors="replace").split("\n")
    if len(lines) != 3 or lines[0].rsplit("|", 1)[-1] != str(dtype.itemsize) or lines[1] != str(entry["tokens"]):
        raise ShardError(f"{meta}: not {entry['tokens']:,} tokens of {dtype.itemsize} bytes")
    return offsets


LAYOUT = Layout("winnow-datatrove", ".ds", (".ds.index", ".ds.metadata"), ("uint16", "uint32"), dtype_for,
                write_index, read_index)
