"""What every reader shares: the reject record and transparent decompression."""

from __future__ import annotations

import gzip
import io
import zlib
from typing import BinaryIO, NamedTuple

import zstandard

RAW_LIMIT = 2048  # characters of a rejected record kept in the lake


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


def open_decompressed(raw: BinaryIO, name: str) -> BinaryIO:
    """The decompressed stream of `raw`, by the name's suffix (.gz, .zst, .zstd or none)."""
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name.endswith((".zst", ".zstd")):
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True))
    return raw


def corrupt_stream(row: int, error: Exception) -> tuple[int, Reject]:
    return row, Reject.of("corrupt_compression", f"truncated or corrupt compressed input: {error}")
