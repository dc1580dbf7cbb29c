"""Byte ranges of a large JSON lines file: units of work that end on line boundaries.

Only uncompressed JSON lines split (a line is a record, and a newline byte only ever ends
one); compressed files, parquet, text and WARC are read whole. A range's records are
numbered from 1 within it; its first row in the file is the sum of the records of the ranges
before it, known once they are parsed.
"""

from __future__ import annotations

import io

import fsspec

from winnow.ingest.inputs import Input
from winnow.ingest.readers.base import COMPRESSIONS

DEFAULT_RANGE_BYTES = 64 << 20


def splits(inp: Input) -> bool:
    """Whether an input can be read as byte ranges."""
    return inp.format == "jsonl" and not inp.uri.lower().endswith(COMPRESSIONS) and inp.size is not None


def byte_ranges(uri: str, size: int, range_bytes: int) -> list[tuple[int, int]]:
    """[start, end) ranges covering the file, each about `range_bytes` and ending just after a
    newline (the last one at the end of the file)."""
    bounds = [0]
    with fsspec.open(uri, "rb") as f:
        at = range_bytes
        while at < size:
            f.seek(at - 1)
            end = at - 1 + len(f.readline())  # just after the first newline at or after byte at-1
            if end >= size:
                break
            bounds.append(end)
            at = end + range_bytes
    bounds.append(size)
    return list(zip(bounds[:-1], bounds[1:]))


def open_range(uri: str, start: int, end: int) -> io.BytesIO:
    """The bytes [start, end) of a file, as a stream."""
    with fsspec.open(uri, "rb") as f:
        f.seek(start)
        return io.BytesIO(f.read(end - start))
