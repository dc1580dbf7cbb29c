"""JSON lines (.jsonl, .json, .ndjson; plain, gzip or zstd): one document per line."""

from __future__ import annotations

from typing import BinaryIO, Iterator

import orjson

from winnow.ingest.readers.base import Reader, Reject


class JsonLines(Reader):
    name = "jsonl"
    suffixes = (".jsonl", ".json", ".ndjson")

    def units(self, stream: BinaryIO) -> Iterator[bytes]:
        return iter(stream)

    def parse(self, line: bytes) -> dict | Reject:
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
