"""The document page's content: one document, every score it holds, and its lineage.

Scores are the columns scorers added beside the ingest's own (lake/schema.py DOCS), each
with the metrics row that says which scorer wrote it, its version and its parameters. The
lineage is the ingest the document came from (its input file and options, from the `ingests`
table) and its row in that input. The document is fetched from Lance by id (a filter on the
scan), never through a DuckDB join that carries text.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.compute as pc

from winnow.lake import Lake, catalog, schema
from winnow.lake.errors import UsageError

TEXT_CHARS = 200_000  # a longer text is cut on the page


class DocumentNotFound(UsageError):
    """No document with that id."""


@dataclass
class Document:
    id: str
    lake_version: int
    text: str
    text_chars: int  # the whole text's length (the page may show less)
    fields: dict  # the ingest's own columns but text: source, url, meta, sizes, hash, ingest_id, input_row
    scores: list[dict]  # column, value, and its metrics row: scorer, scorer_version, params, status, at
    ingest: dict | None  # the latest row of its ingest (input, format, options, ...), None when gone


def document(lake: Lake, doc_id: str) -> Document:
    """The document `doc_id` at the lake's latest version, with its scores and lineage; a
    DocumentNotFound when there is none."""
    docs = lake.docs()
    rows = docs.to_table(filter=pc.field("id") == doc_id).to_pylist()
    if not rows:
        raise DocumentNotFound(f"no document with id {doc_id!r} at lake version {docs.version}")
    row = rows[0]
    own = set(schema.DOCS.names)
    metrics = {m["metric"]: m for m in catalog.metrics(lake).to_pylist()}
    scores = [
        {"column": name, "value": row[name], **{k: (metrics.get(name) or {}).get(k) for k in
                                                ("scorer", "scorer_version", "params", "status", "at")}}
        for name in docs.schema.names if name not in own
    ]
    ingests = catalog.ingests(lake)
    found = ingests.filter(pc.equal(ingests["ingest_id"], row["ingest_id"])).to_pylist() if ingests.num_rows else []
    text = row["text"]
    return Document(
        id=doc_id,
        lake_version=docs.version,
        text=text[:TEXT_CHARS],
        text_chars=len(text),
        fields={k: row[k] for k in schema.DOCS.names if k not in ("id", "text")},
        scores=scores,
        ingest=found[-1] if found else None,
    )
