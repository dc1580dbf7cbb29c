"""Plain text (.txt, plain, gzip or zstd): the whole file is one document."""

from __future__ import annotations

from typing import BinaryIO, Iterator

from .base import CORRUPT_STREAM_ERRORS, Reject, corrupt_stream


def read(stream: BinaryIO, start_row: int = 0) -> Iterator[tuple[int, dict | Reject]]:
    if start_row >= 1:
        return
    try:
        data = stream.read()
    except CORRUPT_STREAM_ERRORS as e:
        yield corrupt_stream(1, e)
        return
    try:
        yield 1, {"text": data.decode("utf-8")}
    except UnicodeDecodeError as e:
        yield 1, Reject.of("invalid_utf8", f"invalid UTF-8: {e}", data)
