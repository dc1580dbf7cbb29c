"""The ingest runner: workers parse, this process deduplicates and commits.

Guarantees:
- exact dedup on content_hash against the whole lake (one writer holds the hashes);
- an input whose bytes were ingested before (under any name) is skipped and said so;
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
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake, catalog, schema
from winnow.lake.progress import Progress
from winnow.lake.version import WINNOW_VERSION

from . import worker
from .documents import FieldNames
from .inputs import Input, expand, fingerprint

DEFAULT_MAX_DOC_BYTES = 64 << 20
DEFAULT_COMMIT_BYTES = 128 << 20
DEFAULT_BATCH_DOCS = 8192
BATCH_BYTES = 16 << 20
# Appended rows carry no encoding metadata: the docs dataset's own schema decides it.
_APPEND_SCHEMA = schema.docs_schema(compress_text=True)
FIRST_REJECTS = 20  # reject lines a report carries; the rejects table has them all


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
    started_at: datetime
    base_position: int = 0


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
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest files, directories, globs or fsspec URIs into the lake's `docs` table."""
    t0 = time.perf_counter()
    inputs, errors, passed_over = expand(specs)
    report = IngestReport(files=[FileReport(input=e.split(": ", 1)[0], status="failed", note=e) for e in errors])
    report.passed_over = passed_over
    run = _Run(lake, commit_bytes)
    active: dict[int, _Active] = {}
    tasks: list[worker.Task] = []
    seen_fingerprints: dict[str, str] = {}
    running_rows: list[dict] = []
    known = catalog.ingests_by_fingerprint(lake)
    for inp in inputs:
        r = FileReport(input=inp.uri)
        report.files.append(r)
        try:
            fp = fingerprint(inp.uri)
        except OSError as e:
            r.status, r.note = "failed", f"{inp.uri}: cannot read: {e}"
            continue
        if fp in seen_fingerprints:
            r.status, r.note = "skipped", f"same bytes as {seen_fingerprints[fp]} in this run"
            continue
        seen_fingerprints[fp] = inp.uri
        earlier = known.get(fp, [])
        start_row = 0
        a = _Active(inp, source or inp.source, r, fp, datetime.now(timezone.utc))
        if earlier and earlier[0]["status"] == "done":
            e = earlier[0]
            r.status, r.ingest_id = "skipped", e["ingest_id"]
            r.note = f"already ingested as {e['ingest_id']} from {e['input']} (lake version {e['lake_version']})"
            continue
        if earlier:  # an unfinished ingest of these bytes: resume it
            e = earlier[0]
            r.ingest_id, r.status = e["ingest_id"], "resumed"
            a.started_at, a.source = e["started_at"], e["source"]
            start_row, r.written, r.rejected = run.resume_point(r.ingest_id)
            r.read = start_row
            r.duplicates = start_row - r.written - r.rejected
            r.note = f"resumed after row {start_row}"
        else:
            r.ingest_id = uuid.uuid4().hex[:16]
            running_rows.append(_catalog_row(a, "running"))
        key = len(tasks)
        active[key] = a
        tasks.append(
            worker.Task(key, inp.uri, inp.format, start_row, fields, max_doc_bytes, batch_docs, BATCH_BYTES)
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
        procs = [ctx.Process(target=worker.run, args=(todo, results), daemon=True) for _ in range(min(n_workers, len(tasks)))]
        for _ in procs:
            todo.put(None)
        for p in procs:
            p.start()
        if progress:
            progress.start("ingest", sum(a.input.size or 0 for a in active.values()), "bytes")
        positions = {k: 0 for k in active}
        open_tasks = set(active)
        try:
            while open_tasks:
                try:
                    message = results.get(timeout=1.0)
                except queue.Empty:
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(f"an ingest worker died (exit code {dead[0].exitcode})")
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
                    self.ended.append((a, "done"))
                    open_tasks.discard(key)
                else:  # failed
                    a.report.status, a.report.note = "failed", message[2]
                    self.ended.append((a, "failed"))
                    open_tasks.discard(key)
            self.flush()
        finally:
            if progress:
                progress.stop()
            for p in procs:
                p.join(timeout=5)
                if p.is_alive():
                    p.terminate()

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
