"""The ingest job: options checked, the engine's reach of the lake checked, inputs planned (ingest/plan.py), then read.

Two runners, one result, chosen by what the engine can do:
- an engine that runs in this process (`local`, the default): worker processes parse, this
  process deduplicates and commits (ingest/local.py);
- any other engine (`ray`): units of work spread over its workers, dedup partitioned by
  key, fragments written by the workers and committed here (ingest/partitioned.py).
The partitioned runner runs on the local engine too, but slower (`python bench/ingest.py
--only partitioned`; 1.5-2.5x on 200,000 documents, docs/benchmarks.md), so the local
engine keeps its own.
Both give the same lake: the same documents with the same ids and column values, the same
rejects and the same counts (fragment layout and ingest ids aside).

The rule both follow, over the inputs in the order given (folders walked in sorted order)
and, within an input, by row:
- a document whose content hash the lake holds, or an earlier document of the run has, is
  a duplicate: the first one is kept;
- a kept document's id is its input id unless the lake holds that id or an earlier kept
  document of the run took it; then, as for a document without an input id, its id is its
  content hash. (Only input ids are compared with ids taken in the run: an input id equal
  to another document's content hash, 32 hex digits, is not looked for.)

Guarantees:
- an input is skipped only when an ingest of the same identity is done (ingest/plan.py);
- an input whose every record was rejected is a failed input (reported, exit 1), not a
  done one, so the right options can still ingest it;
- a killed ingest, run again, resumes each unfinished input after the last row it
  committed, and ends with the lake an unkilled run gives;
- counts balance for every input: read = written + duplicates + rejected.
"""

from __future__ import annotations

import os
import time

from winnow.lake import Lake
from winnow.lake.engine import Engine, LocalEngine, reach
from winnow.lake.errors import UsageError, check, positive
from winnow.lake.progress import Progress

from winnow.ingest import DEFAULT_COMMIT_BYTES, DEFAULT_MAX_DOC_BYTES, keyindex, local, partitioned
from winnow.ingest.documents import FieldNames
from winnow.ingest.inputs import expand
from winnow.ingest.plan import plan
from winnow.ingest.ranges import DEFAULT_RANGE_BYTES
from winnow.ingest.result import FileResult, IngestResult

DEFAULT_BATCH_DOCS = 8192


def ingest(
    lake: Lake,
    specs: list[str],
    *,
    source: str | None = None,
    fields: FieldNames = FieldNames(),
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES,
    commit_bytes: int = DEFAULT_COMMIT_BYTES,
    batch_docs: int = DEFAULT_BATCH_DOCS,
    reingest: bool = False,
    progress: Progress | None = None,
    engine: Engine | None = None,
    range_bytes: int = DEFAULT_RANGE_BYTES,
) -> IngestResult:
    """Ingest files, directories, globs or fsspec URIs into the lake's `docs` table.

    `fields` names the text, id and url fields of JSON lines and parquet records;
    `max_doc_bytes` rejects larger texts; `commit_bytes` of text are committed at a time
    (a killed ingest resumes after the last commit); `reingest` reads inputs again that
    were ingested before with the same options (their documents dedup against the lake).
    `engine` (lake/engine.py; default: a local engine with a worker per core) says where the
    work runs; on an engine that does not run in this process (Ray), JSON lines files larger
    than `range_bytes` are read in byte ranges. Options are checked, and the engine's reach
    of the lake, before anything is written: a bad one is a `UsageError`.

        >>> report = ingest(lake, ["../shared/data"], engine=winnow.engine("ray"))
        >>> report.total().balanced
        True
    """
    runner = engine if engine is not None else LocalEngine()
    specs = _check_options(specs, source, fields, runner.workers, max_doc_bytes, commit_bytes, batch_docs,
                           range_bytes)
    reach(runner, lake.uri, UsageError)
    return _ingest(lake, specs, runner, source, fields, max_doc_bytes, commit_bytes, batch_docs, reingest,
                   progress, range_bytes)


def _ingest(lake, specs, runner, source, fields, max_doc_bytes, commit_bytes, batch_docs, reingest,
            progress, range_bytes) -> IngestResult:
    t0 = time.perf_counter()
    inputs, errors, passed_over = expand(specs)
    report = IngestResult(files=[FileResult(input=e.split(": ", 1)[0], status="failed", note=e) for e in errors])
    report.passed_over = passed_over
    planned = plan(lake, inputs, report, source=source, fields=fields, max_doc_bytes=max_doc_bytes,
                   reingest=reingest) if inputs else []
    if planned:
        run_docs = sum(p.input.size or 0 for p in planned) // partitioned.BYTES_PER_DOCUMENT
        if runner.runs_in_process:
            keys = keyindex.prepare(lake, run_docs)
            report.first_rejects = local.run(lake, planned, keys, fields=fields, max_doc_bytes=max_doc_bytes,
                                             batch_docs=batch_docs, commit_bytes=commit_bytes,
                                             workers=runner.size(0), progress=progress)
        else:
            report.first_rejects = partitioned.run(
                lake, planned, runner, fields=fields, max_doc_bytes=max_doc_bytes, batch_docs=batch_docs,
                batch_bytes=min(local.BATCH_BYTES, commit_bytes), commit_bytes=commit_bytes,
                range_bytes=range_bytes, run_docs=run_docs, progress=progress)
        report.bytes_read = sum(p.input.size or 0 for p in planned)
    keyindex.update(lake)  # also when nothing was planned: a killed run's index is brought up to date
    report.lake_version = lake.docs().version
    report.seconds = time.perf_counter() - t0
    return report


def _check_options(specs, source, fields, workers, max_doc_bytes, commit_bytes, batch_docs, range_bytes) -> list[str]:
    """The inputs as strings, once every option is known to be good (else a UsageError)."""
    check(not isinstance(specs, (str, bytes)) and len(specs) > 0, "no inputs given: name files, folders, globs or URIs")
    specs = [os.fspath(s) for s in specs]
    check(all(isinstance(s, str) and s.strip() for s in specs), f"an input is an empty name: {specs!r}")
    for value, option in ((workers, "--workers (workers)"), (max_doc_bytes, "--max-doc-bytes (max_doc_bytes)"),
                          (commit_bytes, "--commit-mb (commit_bytes)"), (batch_docs, "batch_docs"),
                          (range_bytes, "range_bytes")):
        positive(value, option)
    check(source is None or (isinstance(source, str) and bool(source.strip())),
          f"--source (source) must be a non-empty name, got {source!r}")
    check(isinstance(fields, FieldNames), f"fields must be a FieldNames, got {type(fields).__name__}")
    for name, value in (("--text-field", fields.text), ("--id-field", fields.id), ("--url-field", fields.url)):
        check(isinstance(value, str) and bool(value), f"{name} must be a non-empty field name, got {value!r}")
    return specs
