"""Readers: one module per input format, each turning a byte stream into records.

A reader is `read(stream, start_row) -> Iterator[(row, fields | Reject)]`: `row` is the
record's 1-based position in its input (line, row or WARC record), `fields` a dict of the
record's fields. Records at rows <= start_row are passed over without parsing (resume).
"""

from . import jsonl, parquet, text, warc
from .base import Reject, open_decompressed

READERS = {
    "jsonl": jsonl.read,
    "parquet": parquet.read,
    "text": text.read,
    "warc": warc.read,
}

__all__ = ["READERS", "Reject", "open_decompressed"]
