"""Plain text (.txt, plain, gzip or zstd): the whole file is one document."""

from __future__ import annotations

from typing import BinaryIO, Iterator

from winnow.ingest.readers.base import Reader, Reject


class PlainText(Reader):
    name = "text"
    suffixes = (".txt",)
    named_fields = False

    def units(self, stream: BinaryIO) -> Iterator[bytes]:
        yield stream.read()

    def parse(self, data: bytes) -> dict | Reject:
        try:
            return {"text": data.decode("utf-8")}
        except UnicodeDecodeError as e:
            return Reject.of("invalid_utf8", f"invalid UTF-8: {e}", data)
