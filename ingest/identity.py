"""What makes two ingests of an input the same ingest: its identity.

The identity of an ingest is the input's bytes (their fingerprint, whatever the file's
name), its format, and the options that decide what those bytes yield: the field names
(`--text-field`, `--id-field`, `--url-field`, for formats whose records have named fields)
and `--max-doc-bytes`. An input is skipped only when an ingest of the same identity is
done; with other options the same bytes are read again (their documents then dedup against
the lake), so a wrong flag never locks an input out.

Not in the identity: `--source` (a label: the same documents under another label would all
be duplicates), and how the work is cut (`--workers`, `--commit-mb`), which never changes
what is ingested.
"""

from __future__ import annotations

import orjson

from winnow.lake import Lake, catalog

from winnow.ingest import DEFAULT_MAX_DOC_BYTES
from winnow.ingest.documents import FieldNames
from winnow.ingest.readers import READERS

OPTIONS = "options"  # the catalog column holding an ingest's options


def options(format: str, fields: FieldNames, max_doc_bytes: int) -> str:
    """The options that decide what an input of `format` yields, as canonical JSON."""
    chosen: dict = {"max_doc_bytes": max_doc_bytes}
    if READERS[format].named_fields:
        chosen.update(text_field=fields.text, id_field=fields.id, url_field=fields.url)
    return orjson.dumps(chosen, option=orjson.OPT_SORT_KEYS).decode()


def earlier(lake: Lake) -> dict[tuple[str, str, str], list[dict]]:
    """Every earlier ingest's latest state by identity (fingerprint, format, options): done
    ones first, then the most recently started. Ingests recorded before options were (no
    options) count as made with the default options."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in catalog.ingests(lake).to_pylist():
        fmt = row["format"]
        if fmt not in READERS:
            continue
        opts = row.get(OPTIONS) or options(fmt, FieldNames(), DEFAULT_MAX_DOC_BYTES)
        groups.setdefault((row["fingerprint"], fmt, opts), []).append(row)
    for rows in groups.values():
        rows.sort(key=lambda r: r["started_at"], reverse=True)
        rows.sort(key=lambda r: r["status"] != "done")
    return groups


def describe(opts: str | None) -> str:
    """Options for people: `text_field=body, max_doc_bytes=1000`."""
    if not opts:
        return "the default options"
    return ", ".join(f"{k}={v}" for k, v in orjson.loads(opts).items())

