"""winnow.ingest: files, globs, directories and URIs into the lake's `docs` table.

Formats (`READERS`, one reader per format in ingest/readers/): JSON lines
(.jsonl/.json/.ndjson, plain, .gz or .zst), parquet, plain text (.txt: one document per
file) and WARC (.warc/.warc.gz: HTML responses to text).

The job (ingest/runner.py) runs on an engine: `local` (ingest/local.py: worker processes,
one writer) or `ray` (ingest/partitioned.py: units spread over a cluster, dedup partitioned
by key, fragments written by the workers); both give the same lake.
"""

from winnow.lake import lazy

DEFAULT_MAX_DOC_BYTES = 64 << 20  # a document with more text is rejected (`--max-doc-bytes`)
DEFAULT_COMMIT_BYTES = 128 << 20  # text committed at a time, the unit of resume (`--commit-mb`)

# name -> its module, imported when the name is first read (lake/lazy.py)
__getattr__, __dir__ = lazy.names(__name__, {
    "FieldNames": "winnow.ingest.documents",
    "Input": "winnow.ingest.inputs",
    "InputError": "winnow.ingest.inputs",
    "expand": "winnow.ingest.inputs",
    "fingerprint": "winnow.ingest.inputs",
    "format_of": "winnow.ingest.inputs",
    "READERS": "winnow.ingest.readers",
    "Reader": "winnow.ingest.readers",
    "FileResult": "winnow.ingest.result",
    "IngestError": "winnow.ingest.result",
    "IngestResult": "winnow.ingest.result",
    "ingest": "winnow.ingest.runner",
})

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
