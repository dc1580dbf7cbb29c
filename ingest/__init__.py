"""winnow.ingest: files, globs, directories and URIs into the lake's `docs` table.

Formats: JSON lines (.jsonl/.json/.ndjson, plain, .gz or .zst), parquet, plain text
(.txt: one document per file) and WARC (.warc/.warc.gz: HTML responses to text).
"""

from .documents import FieldNames
from .inputs import FORMATS, Input, InputError, expand, fingerprint, format_of
from .runner import (
    DEFAULT_COMMIT_BYTES,
    DEFAULT_MAX_DOC_BYTES,
    FileReport,
    IngestReport,
    ingest,
)

__all__ = [
    "DEFAULT_COMMIT_BYTES",
    "DEFAULT_MAX_DOC_BYTES",
    "FORMATS",
    "FieldNames",
    "FileReport",
    "IngestReport",
    "Input",
    "InputError",
    "expand",
    "fingerprint",
    "format_of",
    "ingest",
]
