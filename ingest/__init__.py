"""winnow.ingest: files, globs, directories and URIs into the lake's `docs` table.

Formats (`READERS`, one reader per format in ingest/readers/): JSON lines
(.jsonl/.json/.ndjson, plain, .gz or .zst), parquet, plain text (.txt: one document per
file) and WARC (.warc/.warc.gz: HTML responses to text).

The job (ingest/runner.py) runs on an engine: `local` (ingest/local.py: worker processes,
one writer) or `ray` (ingest/partitioned.py: units spread over a cluster, dedup partitioned
by key, fragments written by the workers); both give the same lake.
"""

from winnow.ingest.documents import DEFAULT_MAX_DOC_BYTES, FieldNames
from winnow.ingest.inputs import Input, InputError, expand, fingerprint, format_of
from winnow.ingest.readers import READERS, Reader
from winnow.ingest.result import FileResult, IngestError, IngestResult
from winnow.ingest.runner import DEFAULT_COMMIT_BYTES, ingest

__all__ = [
    "DEFAULT_COMMIT_BYTES",
    "DEFAULT_MAX_DOC_BYTES",
    "FieldNames",
    "FileResult",
    "IngestError",
    "IngestResult",
    "Input",
    "InputError",
    "READERS",
    "Reader",
    "expand",
    "fingerprint",
    "format_of",
    "ingest",
]
