"""JSON lines (.jsonl, .json, .ndjson; plain, gzip or zstd): one document per line."""

from __future__ import annotations

from typing import BinaryIO, Iterator

import orjson

from .base import CORRUPT_STREAM_ERRORS, Reject, corrupt_stream


def read(stream: BinaryIO, start_row: int = 0) -> Iterator[tuple[int, dict | Reject]]:
    row = 0
    try:
        for line in stream:
            row += 1
            if row <= start_row:
                continue
            yield row, parse_line(line)
    except CORRUPT_STREAM_ERRORS as e:
        yield corrupt_stream(row + 1, e)


def parse_line(line: bytes) -> dict | Reject:
    try:
        fields = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as u:
            return Reject.of("invalid_utf8", f"invalid UTF-8: {u}", line)
        if not line.strip():
            return Reject.of("malformed_json", "empty line", line)
        return Reject.of("malformed_json", f"malformed JSON: {e}", line)
    if not isinstance(fields, dict):
        return Reject.of("malformed_json", f"a JSON {type(fields).__name__}, not an object", line)
    return fields
