"""The ingest runner: workers parse, this process deduplicates and commits.

Guarantees:
- exact dedup on content_hash against the whole lake (one writer holds the hashes);
- an input is skipped (and said so) only when an ingest of the same identity is done: the
  same bytes (under any name), format and options that decide what it yields (see
  ingest/identity.py); `reingest=True` reads it again on purpose;
- an input whose every record was rejected is a failed input (reported, exit 1), not a
  done one, so the right options can still ingest it;
- a killed ingest, run again, resumes each unfinished input after the last row it
  committed: documents carry their input row, and rejects are committed before the
  documents of the same flush, so the committed prefix is exact;
- counts balance for every input: read = written + duplicates + rejected.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake, catalog, schema
from winnow.lake.errors import WinnowError, check, positive
from winnow.lake.progress import Progress
from winnow.lake.version import WINNOW_VERSION

from . import identity, worker
from .documents import DEFAULT_MAX_DOC_BYTES, FieldNames
from .inputs import Input, expand, fingerprint
from .readers import READERS

DEFAULT_COMMIT_BYTES = 128 << 20
DEFAULT_BATCH_DOCS = 8192
BATCH_BYTES = 16 << 20  # a worker's batch of text; smaller when commits are (commit_bytes)
# Appended rows carry no encoding metadata: the docs dataset's own schema decides it.
_APPEND_SCHEMA = schema.docs_schema(compress_text=True)
FIRST_REJECTS = 20  # reject lines a report carries; the rejects table has them all
# Options whose value is the likely cause when every record of an input is rejected for a reason.
SUSPECT_OPTIONS = {"missing_text": "--text-field", "too_large": "--max-doc-bytes"}


class IngestError(WinnowError):
    """An ingest job failed (a worker died); its inputs resume when it is run again."""


@dataclass
class FileReport:
    input: str
    ingest_id: str | None = None
    status: str = "ingested"  # ingested | resumed | skipped | failed
    read: int = 0
    written: int = 0
    duplicates: int = 0
    rejected: int = 0
    note: str = ""

    @property
    def balanced(self) -> bool:
        return self.read == self.written + self.duplicates + self.rejected


@dataclass
class IngestReport:
    files: list[FileReport]
    passed_over: list[str] = field(default_factory=list)
    lake_version: int = 0
    seconds: float = 0.0
    bytes_read: int = 0
    first_rejects: list[str] = field(default_factory=list)  # "input:row: reason: detail"

    def total(self) -> FileReport:
        t = FileReport(input="total", status="")
        for f in self.files:
            t.read += f.read
            t.written += f.written
            t.duplicates += f.duplicates
            t.rejected += f.rejected
        return t

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]


@dataclass
class _Active:
    input: Input
    source: str
    report: FileReport
    fingerprint: str
    options: str
    started_at: datetime
    reasons: Counter = field(default_factory=Counter)  # reject reason -> count, this run
    details: dict = field(default_factory=dict)  # reject reason -> its first detail


def ingest(
    lake: Lake,
    specs: list[str],
    *,
    source: str | None = None,
    fields: FieldNames = FieldNames(),
    workers: int | None = None,
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES,
    commit_bytes: int = DEFAULT_COMMIT_BYTES,
    batch_docs: int = DEFAULT_BATCH_DOCS,
    reingest: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest files, directories, globs or fsspec URIs into the lake's `docs` table.

    `fields` names the text, id and url fields of JSON lines and parquet records;
    `max_doc_bytes` rejects larger texts; `commit_bytes` of text are committed at a time
    (a killed ingest resumes after the last commit); `reingest` reads inputs again that
    were ingested before with the same options (their documents dedup against the lake).
    Options are checked before anything is written: a bad one is a `UsageError`.
    """
    specs = _check_options(specs, source, fields, workers, max_doc_bytes, commit_bytes, batch_docs)
    t0 = time.perf_counter()
    inputs, errors, passed_over = expand(specs)
    report = IngestReport(files=[FileReport(input=e.split(": ", 1)[0], status="failed", note=e) for e in errors])
    report.passed_over = passed_over
    if not inputs:
        report.lake_version = lake.docs().version
        report.seconds = time.perf_counter() - t0
        return report
    run = _Run(lake, commit_bytes)
    active: dict[int, _Active] = {}
    tasks: list[worker.Task] = []
    seen: dict[tuple, str] = {}
    running_rows: list[dict] = []
    known = identity.earlier(lake)
    batch_bytes = min(BATCH_BYTES, commit_bytes)
    for inp in inputs:
        r = FileReport(input=inp.uri)
        report.files.append(r)
        try:
            fp = fingerprint(inp.uri)
        except OSError as e:
            r.status, r.note = "failed", f"{inp.uri}: cannot read: {e}"
            continue
        opts = identity.options(inp.format, fields, max_doc_bytes)
        key = (fp, inp.format, opts)
        if key in seen:
            r.status, r.note = "skipped", f"same bytes as {seen[key]} in this run"
            continue
        seen[key] = inp.uri
        earlier = [] if reingest else known.get(key, [])
        start_row = 0
        a = _Active(inp, source or inp.source, r, fp, opts, datetime.now(timezone.utc))
        if earlier and earlier[0]["status"] == "done":
            e = earlier[0]
            r.status, r.ingest_id = "skipped", e["ingest_id"]
            r.note = (f"already ingested as {e['ingest_id']} from {e['input']} (lake version {e['lake_version']}); "
                      "reingest=True (--reingest) reads it again")
            continue
        if earlier:  # an unfinished ingest of this input: resume it
            e = earlier[0]
            r.ingest_id, r.status = e["ingest_id"], "resumed"
            a.started_at, a.source = e["started_at"], e["source"]
            start_row, r.written, r.rejected = run.resume_point(r.ingest_id)
            r.read = start_row
            r.duplicates = start_row - r.written - r.rejected
            r.note = f"resumed after row {start_row}"
        else:
            r.ingest_id = uuid.uuid4().hex[:16]
            r.note = _other_options_note(known, key, reingest)
            running_rows.append(_catalog_row(a, "running"))
        n = len(tasks)
        active[n] = a
        task_fields = fields if READERS[inp.format].named_fields else FieldNames()
        tasks.append(
            worker.Task(n, inp.uri, inp.format, start_row, task_fields, max_doc_bytes, batch_docs, batch_bytes)
        )
    if running_rows:
        catalog.record_ingests(lake, running_rows)
    if tasks:
        run.execute(tasks, active, workers or os.cpu_count() or 1, progress)
        report.bytes_read = sum(a.input.size or 0 for a in active.values())
        report.first_rejects = run.first_rejects
    report.lake_version = lake.docs().version
    report.seconds = time.perf_counter() - t0
    return report


def _check_options(specs, source, fields, workers, max_doc_bytes, commit_bytes, batch_docs) -> list[str]:
    """The inputs as strings, once every option is known to be good (else a UsageError)."""
    check(not isinstance(specs, (str, bytes)) and len(specs) > 0, "no inputs given: name files, folders, globs or URIs")
    specs = [os.fspath(s) for s in specs]
    check(all(isinstance(s, str) and s.strip() for s in specs), f"an input is an empty name: {specs!r}")
    for value, option in ((workers, "--workers (workers)"), (max_doc_bytes, "--max-doc-bytes (max_doc_bytes)"),
                          (commit_bytes, "--commit-mb (commit_bytes)"), (batch_docs, "batch_docs")):
        positive(value, option)
    check(source is None or (isinstance(source, str) and bool(source.strip())),
          f"--source (source) must be a non-empty name, got {source!r}")
    check(isinstance(fields, FieldNames), f"fields must be a FieldNames, got {type(fields).__name__}")
    for name, value in (("--text-field", fields.text), ("--id-field", fields.id), ("--url-field", fields.url)):
        check(isinstance(value, str) and bool(value), f"{name} must be a non-empty field name, got {value!r}")
    return specs


def _other_options_note(known: dict, key: tuple, reingest: bool) -> str:
    """What a report says of an input read again: on purpose, or with other options."""
    fp, fmt, opts = key
    if reingest and any(k == key and rows[0]["status"] == "done" for k, rows in known.items()):
        return "ingested before; read again on purpose (reingest): its documents dedup against the lake"
    other = [rows[0] for k, rows in known.items() if k[0] == fp and k != key and rows[0]["status"] == "done"]
    if not other:
        return ""
    e = other[0]
    return (f"ingested before as {e['ingest_id']} with other options ({identity.describe(e.get(identity.OPTIONS))}); "
            f"read again with {identity.describe(opts)}: its documents dedup against the lake")


def _catalog_row(a: _Active, status: str, lake_version: int | None = None) -> dict:
    r = a.report
    done = status != "running"
    return {
        "ingest_id": r.ingest_id,
        "input": a.input.uri,
        "fingerprint": a.fingerprint,
        "format": a.input.format,
        "source": a.source,
        "status": status,
        "n_read": r.read if done else None,
        "n_written": r.written if done else None,
        "n_duplicates": r.duplicates if done else None,
        "n_rejected": r.rejected if done else None,
        "started_at": a.started_at,
        "ended_at": datetime.now(timezone.utc) if done else None,
        "lake_version": lake_version,
        "winnow_version": WINNOW_VERSION,
        "options": a.options,
    }


class _Run:
    """The single writer: dedup sets, pending commits, worker processes."""

    def __init__(self, lake: Lake, commit_bytes: int):
        self.lake = lake
        self.commit_bytes = commit_bytes
        known = lake.docs().to_table(columns=["id", "content_hash"])
        self.seen_hashes: set[str] = set(known.column("content_hash").to_pylist())
        self.seen_ids: set[str] = set(known.column("id").to_pylist())
        self.pending_docs: list[pa.Table] = []
        self.pending_rejects: list[dict] = []
        self.pending_bytes = 0
        self.ended: list[tuple[_Active, str]] = []
        self.first_rejects: list[str] = []

    def resume_point(self, ingest_id: str) -> tuple[int, int, int]:
        """(last committed row, documents written, rows rejected) of an unfinished ingest."""
        where = f"ingest_id = '{ingest_id}'"
        rows = self.lake.docs().to_table(columns=["input_row"], filter=where)["input_row"]
        last = pc.max(rows).as_py() or 0
        rejects = self.lake.dataset("rejects")
        stale = f"{where} AND input_row > {last}"
        if rejects.count_rows(filter=stale):
            rejects.delete(stale)  # their flush committed no documents: they are read again
        return last, len(rows), self.lake.dataset("rejects").count_rows(filter=where)

    def execute(self, tasks, active, n_workers, progress) -> None:
        ctx = mp.get_context("spawn")
        todo, results = ctx.Queue(), ctx.Queue(maxsize=2 * n_workers + 2)
        for t in tasks:
            todo.put(t)
        n_procs = min(n_workers, len(tasks))
        for _ in range(n_procs):
            todo.put(None)
        procs = [ctx.Process(target=worker.run, args=(todo, results, os.getpid()), daemon=True) for _ in range(n_procs)]
        for p in procs:
            p.start()
        if progress:
            progress.start("ingest", sum(a.input.size or 0 for a in active.values()), "bytes")
        positions = {k: 0 for k in active}
        open_tasks = set(active)
        finished = False
        quiet = 0  # seconds without a message since every worker ended
        try:
            while open_tasks:
                try:
                    message = results.get(timeout=1.0)
                except queue.Empty:
                    quiet = self._check_workers(procs, open_tasks, active, quiet)
                    continue
                kind, key = message[0], message[1]
                a = active[key]
                if kind == "batch":
                    _, _, docs, rejects, records, position = message
                    written = self._add(a, docs, rejects, records)
                    if progress:
                        progress.advance(max(position - positions[key], 0), docs=written)
                    positions[key] = max(position, positions[key])
                    if self.pending_bytes >= self.commit_bytes:
                        self.flush()
                elif kind == "done":
                    failure = _all_rejected(a)
                    if failure:
                        a.report.status, a.report.note = "failed", failure
                    self.ended.append((a, "failed" if failure else "done"))
                    open_tasks.discard(key)
                else:  # failed
                    a.report.status, a.report.note = "failed", message[2]
                    self.ended.append((a, "failed"))
                    open_tasks.discard(key)
            self.flush()
            finished = True
        finally:
            if progress:
                progress.stop()
            for p in procs:  # done: they are ending; failed or interrupted: stop them now
                if not finished and p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
                if p.is_alive():
                    p.kill()
                    p.join()

    @staticmethod
    def _check_workers(procs, open_tasks, active, quiet: int) -> int:
        """Raise if a worker died, or if all ended and a whole wait brought nothing more (what
        a worker sends is in the pipe before it exits); else the updated `quiet`."""
        inputs = ", ".join(active[k].input.uri for k in sorted(open_tasks))
        dead = [p for p in procs if p.exitcode not in (None, 0)]
        if dead:
            raise IngestError(f"an ingest worker died (exit code {dead[0].exitcode}) while reading {inputs}; "
                              "run the ingest again to resume")
        if not all(p.exitcode == 0 for p in procs):
            return 0
        if quiet >= 1:
            raise IngestError(f"the ingest workers ended without finishing {inputs}; run the ingest again to resume")
        return quiet + 1

    def _add(self, a: _Active, docs: pa.Table, rejects: list, records: int) -> int:
        r = a.report
        r.read += records
        hashes = docs.column("content_hash").to_pylist()
        input_ids = docs.column("input_id").to_pylist()
        keep, ids = [], []
        seen_h, seen_i = self.seen_hashes, self.seen_ids
        for h, iid in zip(hashes, input_ids):
            if h in seen_h:
                keep.append(False)
                continue
            seen_h.add(h)
            if iid is None or iid in seen_i:
                iid = h
            seen_i.add(iid)
            keep.append(True)
            ids.append(iid)
        kept = docs.filter(pa.array(keep, pa.bool_())) if not all(keep) else docs
        n = kept.num_rows
        r.written += n
        r.duplicates += len(keep) - n
        r.rejected += len(rejects)
        if n:
            self.pending_docs.append(
                pa.table(
                    {
                        "id": pa.array(ids, pa.string()),
                        "text": kept["text"],
                        "source": pa.array([a.source] * n, pa.string()),
                        "url": kept["url"],
                        "meta": kept["meta"],
                        "n_chars": kept["n_chars"],
                        "n_bytes": kept["n_bytes"],
                        "content_hash": kept["content_hash"],
                        "ingest_id": pa.array([r.ingest_id] * n, pa.string()),
                        "input_row": kept["input_row"],
                    },
                    schema=_APPEND_SCHEMA,
                )
            )
            self.pending_bytes += pc.sum(kept["n_bytes"]).as_py()
        for row, rej in rejects:
            a.reasons[rej.reason] += 1
            a.details.setdefault(rej.reason, rej.detail)
            if len(self.first_rejects) < FIRST_REJECTS:
                self.first_rejects.append(f"{a.input.uri}:{row}: {rej.reason}: {rej.detail}")
            self.pending_rejects.append(
                {"ingest_id": r.ingest_id, "input": a.input.uri, "input_row": row,
                 "reason": rej.reason, "detail": rej.detail, "raw": rej.raw}
            )
        return n

    def flush(self) -> None:
        """Commit rejects, then documents, then the state of inputs that ended."""
        if self.pending_rejects:
            self.lake.append("rejects", pa.Table.from_pylist(self.pending_rejects, schema=schema.REJECTS))
            self.pending_rejects = []
        if self.pending_docs:
            self.lake.append("docs", pa.concat_tables(self.pending_docs))
            self.pending_docs, self.pending_bytes = [], 0
        if self.ended:
            version = self.lake.docs().version
            catalog.record_ingests(self.lake, [_catalog_row(a, status, version) for a, status in self.ended])
            self.ended = []


def _all_rejected(a: _Active) -> str:
    """Why an input that ended is a failure when every record it held was rejected, else ""."""
    r = a.report
    if r.read == 0 or r.rejected < r.read:
        return ""
    if not a.reasons:
        return f"{a.input.uri}: all {r.read:,} records were rejected; not recorded as ingested"
    reason, count = a.reasons.most_common(1)[0]
    option = SUSPECT_OPTIONS.get(reason)
    if option == "--text-field" and not READERS[a.input.format].named_fields:
        option = None
    hint = f" (is {option} right?)" if option else ""
    return (f"{a.input.uri}: all {r.read:,} records were rejected, {count:,} for {reason} "
            f"({a.details[reason]}); not recorded as ingested{hint}")
