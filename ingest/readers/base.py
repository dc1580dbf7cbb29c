"""The reader contract, and what every reader shares: rejects, decompression, resume.

A reader is one small class per format (see `Reader`): which file names it takes, and how a
byte stream splits into raw records (`units`, cheap: a line, a parquet row, a WARC record)
and how one raw record becomes fields (`parse`, the costly part). `read` below does the
rest for every format, once: numbering rows, passing over the rows an earlier run
committed without parsing them (resume), and turning a broken stream into one reject.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Any, BinaryIO, ClassVar, Iterator, NamedTuple

import zstandard

RAW_LIMIT = 2048  # characters of a rejected record kept in the lake
COMPRESSIONS = (".gz", ".zst", ".zstd")  # what `open_decompressed` undoes, by suffix


class Reject(NamedTuple):
    reason: str  # a stable code, e.g. "malformed_json"
    detail: str  # the message, for people
    raw: str | None = None  # the record as read, truncated to RAW_LIMIT

    @staticmethod
    def of(reason: str, detail: str, raw: bytes | str | None = None) -> "Reject":
        if isinstance(raw, bytes):
            raw = raw[: RAW_LIMIT * 4].decode("utf-8", errors="backslashreplace")
        return Reject(reason, detail, raw[:RAW_LIMIT] if raw is not None else None)


# Errors a decompressor raises on a truncated or corrupt stream.
CORRUPT_STREAM_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError)


class Reader:
    """One input format. Subclasses set the class attributes and define `units`/`parse`."""

    name: ClassVar[str]  # the format's name: the key in READERS and the catalog's `format`
    suffixes: ClassVar[tuple[str, ...]]  # file name suffixes, lower case (".jsonl", ...)
    compressions: ClassVar[tuple[str, ...]] = COMPRESSIONS  # suffixes allowed after those
    decompress: ClassVar[bool] = True  # the stream is decompressed (by suffix) before `units`
    # Whether records have fields the user names (--text-field, --id-field, --url-field);
    # False: the reader yields `text`, `id` and `url` itself, and those options do not apply.
    named_fields: ClassVar[bool] = True
    # What advancing `units` raises when the stream is truncated or corrupt.
    stream_errors: ClassVar[tuple[type[BaseException], ...]] = CORRUPT_STREAM_ERRORS

    def units(self, stream: BinaryIO) -> Iterator[Any]:
        """The raw records, in order, from the first."""
        raise NotImplementedError

    def parse(self, unit: Any) -> dict | Reject:
        """A raw record's fields, or why it is not a document."""
        return unit


def read(reader: Reader, stream: BinaryIO, start_row: int = 0) -> Iterator[tuple[int, dict | Reject]]:
    """`(row, fields | Reject)` for every record after `start_row`; `row` is 1-based.

    Records at rows <= start_row (committed by an earlier run) are counted, not parsed. A
    stream that breaks (truncated, corrupt) ends with one `corrupt_compression` reject.
    """
    units = reader.units(stream)
    row = 0
    while True:
        try:
            unit = next(units)
        except StopIteration:
            return
        except reader.stream_errors as e:
            yield row + 1, Reject.of("corrupt_compression", f"truncated or corrupt input stream: {e}")
            return
        row += 1
        if row > start_row:
            yield row, reader.parse(unit)


def open_decompressed(raw: BinaryIO, name: str) -> BinaryIO:
    """The decompressed stream of `raw`, by the name's suffix (.gz, .zst, .zstd or none)."""
    name = name.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name.endswith((".zst", ".zstd")):
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True))
    return raw
