"""The local runner (engine `local`): worker processes parse, this process deduplicates and commits.

- exact dedup against the whole lake: this process holds the run's content hashes and ids,
  and the lake's, or asks the lake's key index about each batch's (ingest/keyindex.py);
- batches are applied in input order, then row order (ingest/inorder.py), whichever worker
  read them first, so the kept duplicate and every id follow the rule in ingest/runner.py;
- commits every `commit_bytes` of text, rejects before the documents of the same flush, so a
  killed ingest resumes each unfinished input exactly after the last row it committed (as
  batches are applied in input order, only one input at a time is part-committed);
- a worker never outlives this process (ingest/worker.py);
- workers hand batches over as files in a temporary folder of this run (ingest/worker.py
  says why), which this process maps and removes as they arrive; the folder goes at the end
  (a run killed by SIGKILL leaves it, with at most the batches then queued, and the next
  local ingest on the machine removes it: `_batch_folder`).
"""

from __future__ import annotations

import glob
import os
import queue
import shutil
import tempfile

import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake, catalog, schema
from winnow.lake.processes import guarded
from winnow.lake.workers import context
from winnow.lake.killpoints import step
from winnow.lake.progress import Progress

from winnow.ingest import worker
from winnow.ingest.keyindex import LakeKeys
from winnow.ingest.documents import FieldNames, final_docs
from winnow.ingest.inorder import InputOrder
from winnow.ingest.plan import FIRST_REJECTS, Planned
from winnow.ingest.readers import READERS
from winnow.ingest.result import IngestError

BATCH_BYTES = 16 << 20  # a worker's batch of text; smaller when commits are (commit_bytes)


def run(lake: Lake, planned: list[Planned], keys: LakeKeys, *, fields: FieldNames, max_doc_bytes: int,
        batch_docs: int, commit_bytes: int, workers: int, progress: Progress | None) -> list[str]:
    """Read the planned inputs into the lake, deduplicated against `keys`; the first reject
    lines (`input:row: reason: detail`)."""
    batch_bytes = min(BATCH_BYTES, commit_bytes)
    tasks = []
    for p in planned:
        task_fields = fields if READERS[p.input.format].named_fields else FieldNames()
        tasks.append(worker.Task(p.order, p.input.uri, p.input.format, p.start_row, task_fields, max_doc_bytes,
                                 batch_docs, batch_bytes))
    r = _Run(lake, keys, commit_bytes)
    r.execute(tasks, {p.order: p for p in planned}, workers, progress)
    return r.first_rejects


BATCHES = "winnow-ingest-batches-"  # + the pid of the run's process + "-" + a random part


def _batch_folder() -> str:
    """A new temporary folder for this run's batch files, after removing those whose process
    is gone (runs killed by SIGKILL)."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), BATCHES + "*-*")):
        pid = os.path.basename(path)[len(BATCHES):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{BATCHES}{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


class _Run:
    """The single writer: dedup sets, pending commits, worker processes."""

    def __init__(self, lake: Lake, keys: LakeKeys, commit_bytes: int):
        self.lake = lake
        self.commit_bytes = commit_bytes
        self.keys = keys  # the lake's keys read (held: the run adds its own), or asked batch by batch
        self.seen_hashes: set[str] = keys.held["content_hash"]
        self.seen_ids: set[str] = keys.held["id"]
        self.pending_docs: list[pa.Table] = []
        self.pending_rejects: list[dict] = []
        self.pending_bytes = 0
        self.ended: list[tuple[Planned, str]] = []
        self.first_rejects: list[str] = []

    def execute(self, tasks, active: dict[int, Planned], n_workers: int, progress) -> None:
        folder = _batch_folder()
        try:
            self._execute(tasks, active, n_workers, progress, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _execute(self, tasks, active: dict[int, Planned], n_workers: int, progress, folder: str) -> None:
        ctx = context(worker.__name__)  # forked by a server that imported the worker's modules once
        with guarded():  # the workers and the resource tracker end with this process, however it ends
            todo, results = ctx.Queue(), ctx.Queue(maxsize=2 * n_workers + 2)
            for t in tasks:
                todo.put(t)
            n_procs = min(n_workers, len(tasks))
            for _ in range(n_procs):
                todo.put(None)
            procs = [ctx.Process(target=worker.run, args=(todo, results, dict(os.environ), folder), daemon=True)
                     for _ in range(n_procs)]
            for p in procs:
                p.start()
        if progress:
            progress.start("ingest", sum(a.input.size or 0 for a in active.values()), "bytes")
        positions = {k: 0 for k in active}
        open_tasks = set(active)
        order = InputOrder(active)
        finished = False
        quiet = 0  # seconds without a message since every worker ended
        try:
            while open_tasks:
                try:
                    message = results.get(timeout=1.0)
                except queue.Empty:
                    quiet = self._check_workers(procs, open_tasks, active, quiet)
                    continue
                if message[0] == "batch":
                    message = (*message[:2], worker.load(message[2]), *message[3:])  # its file gone now
                    if progress:
                        key, position = message[1], message[5]
                        progress.advance(max(position - positions[key], 0))
                        positions[key] = max(position, positions[key])
                for m in order.arrive(message):
                    self._apply(m, active, open_tasks, progress)
            self.flush()
            finished = True
        finally:
            order.close()
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

    def _apply(self, message, active: dict[int, Planned], open_tasks: set, progress) -> None:
        kind, key = message[0], message[1]
        a = active[key]
        if kind == "batch":
            _, _, docs, rejects, records, _ = message
            written = self._add(a, docs, rejects, records)
            if progress and written:
                progress.advance(0, docs=written)
            if self.pending_bytes >= self.commit_bytes:
                self.flush()
            return
        if kind == "done":
            self.ended.append((a, a.end()))
        else:  # failed
            a.report.status, a.report.note = "failed", message[2]
            self.ended.append((a, "failed"))
        open_tasks.discard(key)

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

    def _add(self, a: Planned, docs: pa.Table, rejects: list, records: int) -> int:
        """Deduplicate a batch (the rule: ingest/runner.py) and add it to the pending commit;
        the documents kept."""
        r = a.report
        r.read += records
        hashes = docs.column("content_hash").to_pylist()
        input_ids = docs.column("input_id").to_pylist()
        seen_h, seen_i = self.seen_hashes, self.seen_ids
        lake_h = self.keys.asked("content_hash", hashes)  # empty unless the lake's keys are looked up
        lake_i = self.keys.asked("id", input_ids)
        batch_h, batch_i = set(hashes), set(input_ids)
        if (len(batch_h) == len(hashes) and len(batch_i) == len(input_ids) and None not in batch_i
                and seen_h.isdisjoint(batch_h) and not lake_h and seen_i.isdisjoint(batch_i) and not lake_i):
            # what the loop below decides when no key of the batch repeats or is known (most batches):
            # every document kept with its input id; set operations instead of a loop per document
            seen_h |= batch_h
            seen_i |= batch_i
            return self._pending(a, docs, docs["input_id"], len(hashes), rejects)
        keep, ids = [], []
        for h, iid in zip(hashes, input_ids):
            if h in seen_h or h in lake_h:
                keep.append(False)
                continue
            seen_h.add(h)
            keep.append(True)
            if iid is not None and iid not in seen_i and iid not in lake_i:
                seen_i.add(iid)
                ids.append(iid)
            else:
                ids.append(h)
        kept = docs.filter(pa.array(keep, pa.bool_())) if not all(keep) else docs
        return self._pending(a, kept, pa.array(ids, pa.string()), len(keep), rejects)

    def _pending(self, a: Planned, kept: pa.Table, ids, documents: int, rejects: list) -> int:
        """Add a batch's kept documents (of `documents`), with their `ids`, and its rejects to
        the pending commit; the documents kept."""
        r = a.report
        n = kept.num_rows
        r.written += n
        r.duplicates += documents - n
        r.rejected += len(rejects)
        if n:
            self.pending_docs.append(final_docs(kept, ids, a.source, r.ingest_id))
            self.pending_bytes += pc.sum(kept["n_bytes"]).as_py()
        for row, rej in rejects:
            a.rejected(rej.reason, rej.detail)
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
            step("ingest:rejects")
        if self.pending_docs:
            self.lake.append("docs", pa.concat_tables(self.pending_docs))
            self.pending_docs, self.pending_bytes = [], 0
            step("ingest:docs")
        if self.ended:
            version = self.lake.docs().version
            catalog.record_ingests(self.lake, [a.catalog_row(status, version) for a, status in self.ended])
            self.ended = []
            step("ingest:ended")
