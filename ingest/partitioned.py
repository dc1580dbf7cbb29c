"""The partitioned runner (engine `ray`, or any engine): no process holds every key of the lake.

Four passes of units over the engine's workers (one set of workers for the four, started
once: `Engine.reusing`), through the run's staging folder (ingest/staging.py; the units are
in ingest/stages.py), then commits by this process:

1. parse every input, or byte range of a large JSON lines file (ingest/ranges.py), into
   staged documents, rejects and content hashes; and turn the lake's content hashes and
   ids, group by group of fragments, into keys. Keys are split into 2**bits partitions by
   their own hash (ingest/duplicates.py). A small run into a large lake reads none of the
   lake's keys: passes 2 and 3 ask the lake's key index about their own (ingest/keyindex.py);
2. decide each content hash partition in one unit: the lake's hashes first, then the run's
   in input order, then row order; the first is kept, and each kept document with an input
   id claims it in that id's partition;
3. decide each id partition in one unit: the first claim of an id the lake lacks keeps it.
   Passes 2 and 3 are the rule in ingest/runner.py, the one the local runner follows;
4. write each unit's kept documents, with their ids, and its rejects as uncommitted Lance
   fragments (`lance.fragment.write_fragments`), returning their metadata; this process
   commits them in unit order (`LanceOperation.Append`, rejects before documents) every
   `commit_bytes` of text, then the catalog rows of the inputs that ended.

Resume: commits go in unit order, so a killed run leaves every input before some point
whole and one input part-written; run again, each unfinished input resumes after the last
row it committed (ingest/plan.py), read whole, and dedup against what is committed gives
the same documents and ids as a run that was never killed. A unit whose worker died is run
again by the engine (up to its retry limit); the fragments a dead worker wrote are never
committed, so nothing is written twice.

Lance's distributed write is the reference (lancedb/lance, docs/distributed_write.rst):
`write_fragments` on each worker, the `FragmentMetadata` collected, one `LanceOperation.Append`
commit; here several, in order, so that a killed run keeps what it committed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import lance

from winnow.lake import Lake, catalog
from winnow.lake.engine import Engine
from winnow.lake.progress import Progress

from winnow.ingest import duplicates, keyindex, stages
from winnow.ingest.documents import FieldNames
from winnow.ingest.plan import FIRST_REJECTS, Planned
from winnow.ingest.ranges import byte_ranges, splits
from winnow.ingest.readers import READERS
from winnow.ingest.staging import Staging, remove_stale

LAKE_GROUP_ROWS = 1 << 20  # the lake's rows per key unit
BYTES_PER_DOCUMENT = 1024  # a low guess of input bytes per document, to size the partitions


def run(lake: Lake, planned: list[Planned], engine: Engine, *, fields: FieldNames, max_doc_bytes: int,
        batch_docs: int, batch_bytes: int, commit_bytes: int, range_bytes: int, run_docs: int,
        progress: Progress | None) -> list[str]:
    """Read the planned inputs, about `run_docs` documents, into the lake on `engine`; the
    first reject lines."""
    remove_stale(lake.uri, lake.storage_options)
    look = keyindex.looks_up(lake, run_docs)
    docs = lake.docs()
    staging = Staging(lake.uri, uuid.uuid4().hex[:16], lake.storage_options)
    units, owner = _parse_units(planned, fields, range_bytes)
    groups = [] if look else _lake_groups(docs)
    workers = engine.size(0)
    lake_rows = 0 if look else sum(f.metadata.physical_rows for f in docs.get_fragments())
    context = stages.Context(staging, lake.table_uri("docs"), lake.table_uri("rejects"), docs.version,
                             dict(lake.storage_options), duplicates.bits_for(2 * (lake_rows + run_docs), workers),
                             max_doc_bytes, batch_docs, batch_bytes, look)
    if progress:
        progress.start("ingest", sum(p.input.size or 0 for p in planned), "bytes")
    try:
        with engine.reusing():  # the four passes share one set of workers, started once
            parsed, lake_starts = _parse(engine, context, units, groups, progress)
            good = _count(planned, units, owner, parsed)
            kept, owners = _decide(engine, context, good, parsed, lake_starts)
            return _write(lake, engine, context, planned, good, owner, parsed, kept, owners, commit_bytes, progress)
    finally:
        if progress:
            progress.stop()
        staging.remove()


def _parse_units(planned: list[Planned], fields: FieldNames, range_bytes: int):
    """The parse units, in input order then byte order, and the planned input of each."""
    units, owner = [], []
    for p in planned:
        inp = p.input
        f = fields if READERS[inp.format].named_fields else FieldNames()
        pieces = [None]
        if p.start_row == 0 and splits(inp) and inp.size > range_bytes:
            try:
                pieces = byte_ranges(inp.uri, inp.size, range_bytes)
            except OSError:
                pass  # read whole: its parse unit reports what is wrong
        for piece in pieces:
            size = piece[1] - piece[0] if piece else inp.size or 0
            units.append(stages.ParseUnit(len(units), inp.uri, inp.format, f, p.start_row, piece, size))
            owner.append(p)
    return units, owner


def _lake_groups(docs) -> list[stages.LakeKeysUnit]:
    """The lake's fragments in groups of about LAKE_GROUP_ROWS rows."""
    groups, current, rows = [], [], 0
    for f in docs.get_fragments():
        current.append(f.fragment_id)
        rows += f.metadata.physical_rows
        if rows >= LAKE_GROUP_ROWS:
            groups.append(stages.LakeKeysUnit(len(groups), tuple(current)))
            current, rows = [], 0
    if current:
        groups.append(stages.LakeKeysUnit(len(groups), tuple(current)))
    return groups


def _parse(engine, context, units, groups, progress):
    """Pass 1: every parse unit's result, and where each partition starts in each lake group's keys."""
    parsed: dict[int, stages.Parsed] = {}
    lake_starts: dict[int, list[int]] = {}
    work = [*units, *groups]
    for i, result in engine.map(stages.run_unit, work, init=stages.context, args=(context,), describe=str):
        if i < len(units):
            parsed[i] = result
            if progress:
                progress.advance(units[i].size)
        else:
            lake_starts[work[i].group] = result
    return parsed, lake_starts


def _count(planned, units, owner, parsed) -> list[int]:
    """Add the parse counts to each input's report; the units of inputs read without failure."""
    failed: dict[int, str] = {}
    for u in units:
        if parsed[u.index].failure:
            failed.setdefault(owner[u.index].order, parsed[u.index].failure)
    good = []
    for u in units:
        p, r = owner[u.index], parsed[u.index]
        if p.order in failed:
            p.report.status, p.report.note = "failed", failed[p.order]
            continue
        good.append(u.index)
        p.report.read += r.records
        p.report.rejected += r.rejects
        for reason, count in r.reasons.items():
            p.rejected(reason, r.details[reason], count)
    return good


def _decide(engine, context, good, parsed, lake_starts) -> tuple[dict, dict]:
    """Passes 2 and 3: for each hash partition, where each good unit's kept rows start in its
    file; for each id partition, where each good unit's owning rows start in its file."""
    parts = 1 << context.bits
    if not good:
        return {}, {}
    groups = sorted(lake_starts.items())

    def lake(q: int, kind: int) -> tuple:
        return tuple((stages.lake_keys_file(g), s[2 * q + kind], s[2 * q + kind + 1] - s[2 * q + kind])
                     for g, s in groups)

    work = [stages.HashUnit(q, lake(q, duplicates.HASH),
                            tuple((stages.keys_file(u), parsed[u].key_starts[q],
                                   parsed[u].key_starts[q + 1] - parsed[u].key_starts[q]) for u in good))
            for q in range(parts)]
    hashed = dict(engine.map(stages.run_unit, work, init=stages.context, args=(context,), describe=str))
    work = [stages.IdUnit(q, lake(q, duplicates.ID),
                          tuple((stages.claims_file(h), claims[q], claims[q + 1] - claims[q])
                                for h, (_, claims) in sorted(hashed.items())), len(good))
            for q in range(parts)]
    owners = dict(engine.map(stages.run_unit, work, init=stages.context, args=(context,), describe=str))
    return {q: kept for q, (kept, _) in hashed.items()}, owners


def _write(lake, engine, context, planned, good, owner, parsed, kept, owners, commit_bytes, progress) -> list[str]:
    """Pass 4 and the commits; the first reject lines."""
    offsets, first_rejects = {}, []
    before: dict[int, int] = defaultdict(int)  # input -> records of its units so far
    for u in good:
        p = owner[u]
        offsets[u] = before[p.order]  # rows of a byte range continue those of the ranges before it
        before[p.order] += parsed[u].records
        for row, reason, detail in parsed[u].first_rejects:
            if len(first_rejects) < FIRST_REJECTS:
                first_rejects.append(f"{p.input.uri}:{row + offsets[u]}: {reason}: {detail}")
    work = []
    for k, u in enumerate(good):
        p = owner[u]
        work.append(stages.WriteUnit(
            u, p.input.uri, p.source, p.report.ingest_id, offsets[u],
            tuple((stages.kept_file(q), s[k], s[k + 1] - s[k]) for q, s in sorted(kept.items())),
            tuple((stages.owners_file(q), s[k], s[k + 1] - s[k]) for q, s in sorted(owners.items())),
            parsed[u].rejects > 0))
    left = defaultdict(int)  # input -> its units not yet committed
    for u in good:
        left[owner[u].order] += 1
    commits = _Commits(lake, commit_bytes)
    commits.ended += [(p, "failed") for p in planned if p.report.status == "failed"]  # recorded at the first commit
    results: dict[int, stages.Written] = {}
    head = 0
    for k, written in engine.map(stages.run_unit, work, init=stages.context, args=(context,), describe=str):
        results[k] = written
        while head < len(work) and head in results:  # commit in unit order
            w, u = results.pop(head), good[head]
            p = owner[u]
            p.report.written += w.written
            p.report.duplicates += parsed[u].documents - w.written
            left[p.order] -= 1
            commits.add(w, (p, p.end()) if not left[p.order] else None)
            if progress:
                progress.advance(0, docs=w.written)
            head += 1
    commits.flush()
    return first_rejects


class _Commits:
    """Fragments waiting for their commit, and the inputs they end."""

    def __init__(self, lake: Lake, commit_bytes: int):
        self.lake, self.commit_bytes = lake, commit_bytes
        self.docs, self.rejects, self.bytes = [], [], 0
        self.ended: list[tuple[Planned, str]] = []

    def add(self, w: stages.Written, ended) -> None:
        self.docs += w.docs
        self.rejects += w.rejects
        self.bytes += w.text_bytes
        if ended:
            self.ended.append(ended)
        if self.bytes >= self.commit_bytes:
            self.flush()

    def flush(self) -> None:
        """Commit rejects, then documents, then the state of inputs that ended."""
        if self.rejects:
            self._append("rejects", self.rejects)
        if self.docs:
            self._append("docs", self.docs)
        self.docs, self.rejects, self.bytes = [], [], 0
        if self.ended:
            version = self.lake.docs().version
            catalog.record_ingests(self.lake, [p.catalog_row(status, version) for p, status in self.ended])
            self.ended = []

    def _append(self, table: str, fragments: list) -> None:
        uri = self.lake.table_uri(table)
        try:
            lance.LanceDataset.commit(uri, lance.LanceOperation.Append(fragments),
                                      read_version=self.lake.dataset(table).version,
                                      storage_options=self.lake.storage_options or None)
        except OSError as e:
            raise self.lake.store_error(e, f"cannot commit to table {table!r} of the lake at {self.lake.uri}") from e
