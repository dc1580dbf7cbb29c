"""Readers: one class per input format (the contract is `base.Reader`), found by name here.

Adding a format is one module defining a `Reader` subclass (its name, file suffixes, how a
stream splits into raw records and how one record becomes fields) and one line below.
Numbering rows, resuming after a committed row and reporting a broken stream are done
once, by `read`, for every format.
"""

from winnow.ingest.readers.base import Reader, Reject, open_decompressed, read
from winnow.ingest.readers.jsonl import JsonLines
from winnow.ingest.readers.parquet import Parquet
from winnow.ingest.readers.text import PlainText
from winnow.ingest.readers.warc import Warc

# Format name -> its reader; the format is what the catalog records for an input.
READERS: dict[str, Reader] = {r.name: r for r in (JsonLines(), Parquet(), PlainText(), Warc())}

__all__ = ["READERS", "Reader", "Reject", "open_decompressed", "read"]
