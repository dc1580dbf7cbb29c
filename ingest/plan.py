"""Planning an ingest: which inputs are read, from which row, under which ingest id.

Both runners (ingest/local.py, ingest/partitioned.py) start from the same plan:
- an input is skipped (and said so) only when an ingest of the same identity is done: the
  same bytes (under any name), format and options that decide what it yields (see
  ingest/identity.py); `reingest` reads it again on purpose;
- an unfinished ingest of an input resumes after the last row it committed (documents carry
  their input row; rejects it committed after that row are dropped and read again);
- every other input starts under a new ingest id, recorded as `running` in the catalog.

The planned inputs keep the order the inputs were given in (folders walked in sorted order):
that order decides which of two equal documents is kept (ingest/runner.py).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow.compute as pc

from winnow.lake import Lake, catalog
from winnow.lake.killpoints import step
from winnow.lake.version import WINNOW_VERSION

from winnow.ingest import identity
from winnow.ingest.documents import FieldNames
from winnow.ingest.inputs import Input, fingerprint
from winnow.ingest.readers import READERS
from winnow.ingest.result import FileResult, IngestResult

FIRST_REJECTS = 20  # reject lines a report carries; the rejects table has them all
# Options whose value is the likely cause when every record of an input is rejected for a reason.
SUSPECT_OPTIONS = {"missing_text": "--text-field", "too_large": "--max-doc-bytes"}


@dataclass
class Planned:
    """An input this run reads, and its state as the run goes."""

    order: int  # its position among the inputs this run reads
    input: Input
    source: str
    report: FileResult
    fingerprint: str
    options: str
    started_at: datetime
    start_row: int = 0  # rows <= start_row were committed by an earlier run
    reasons: Counter = field(default_factory=Counter)  # reject reason -> count, this run
    details: dict = field(default_factory=dict)  # reject reason -> its first detail

    def rejected(self, reason: str, detail: str, count: int = 1) -> None:
        """Count rejects of one reason (the first detail of each reason is kept)."""
        self.reasons[reason] += count
        self.details.setdefault(reason, detail)

    def catalog_row(self, status: str, lake_version: int | None = None) -> dict:
        """The input's row for the catalog's `ingests` log (see `schema.INGESTS`)."""
        r = self.report
        done = status != "running"
        return {
            "ingest_id": r.ingest_id,
            "input": self.input.uri,
            "fingerprint": self.fingerprint,
            "format": self.input.format,
            "source": self.source,
            "status": status,
            "n_read": r.read if done else None,
            "n_written": r.written if done else None,
            "n_duplicates": r.duplicates if done else None,
            "n_rejected": r.rejected if done else None,
            "started_at": self.started_at,
            "ended_at": datetime.now(timezone.utc) if done else None,
            "lake_version": lake_version,
            "winnow_version": WINNOW_VERSION,
            "options": self.options,
        }

    def failure(self) -> str:
        """Why an input that ended is a failure when every record it held was rejected, else ""."""
        r = self.report
        if r.read == 0 or r.rejected < r.read:
            return ""
        if not self.reasons:
            return f"{self.input.uri}: all {r.read:,} records were rejected; not recorded as ingested"
        reason, count = self.reasons.most_common(1)[0]
        option = SUSPECT_OPTIONS.get(reason)
        if option == "--text-field" and not READERS[self.input.format].named_fields:
            option = None
        hint = f" (is {option} right?)" if option else ""
        return (f"{self.input.uri}: all {r.read:,} records were rejected, {count:,} for {reason} "
                f"({self.details[reason]}); not recorded as ingested{hint}")

    def end(self) -> str:
        """Mark the input ended; its catalog status: failed (every record rejected) or done."""
        why = self.failure()
        if why:
            self.report.status, self.report.note = "failed", why
        return "failed" if why else "done"


def plan(lake: Lake, inputs: list[Input], report: IngestResult, *, source: str | None, fields: FieldNames,
         max_doc_bytes: int, reingest: bool) -> list[Planned]:
    """The inputs to read, in order; each gets a FileResult in `report` (skipped and
    unreadable ones too). Records `running` for the inputs it starts, in one commit."""
    planned: list[Planned] = []
    seen: dict[tuple, str] = {}
    running_rows: list[dict] = []
    known = identity.earlier(lake)
    for inp in inputs:
        r = FileResult(input=inp.uri)
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
        if earlier and earlier[0]["status"] == "done":
            e = earlier[0]
            r.status, r.ingest_id = "skipped", e["ingest_id"]
            r.note = (f"already ingested as {e['ingest_id']} from {e['input']} (lake version {e['lake_version']}); "
                      "reingest=True (--reingest) reads it again")
            continue
        p = Planned(len(planned), inp, source or inp.source, r, fp, opts, datetime.now(timezone.utc))
        if earlier:  # an unfinished ingest of this input: resume it
            e = earlier[0]
            r.ingest_id, r.status = e["ingest_id"], "resumed"
            p.started_at, p.source = e["started_at"], e["source"]
            p.start_row, r.written, r.rejected = resume_point(lake, r.ingest_id)
            r.read = p.start_row
            r.duplicates = p.start_row - r.written - r.rejected
            r.note = f"resumed after row {p.start_row}"
        else:
            r.ingest_id = uuid.uuid4().hex[:16]
            r.note = _other_options_note(known, key, reingest)
            running_rows.append(p.catalog_row("running"))
        planned.append(p)
    if running_rows:
        catalog.record_ingests(lake, running_rows)
        step("ingest:claimed")
    return planned


def resume_point(lake: Lake, ingest_id: str) -> tuple[int, int, int]:
    """(last committed row, documents written, rows rejected) of an unfinished ingest."""
    where = f"ingest_id = '{ingest_id}'"
    rows = lake.docs().to_table(columns=["input_row"], filter=where)["input_row"]
    last = pc.max(rows).as_py() or 0
    rejects = lake.dataset("rejects")
    stale = f"{where} AND input_row > {last}"
    if rejects.count_rows(filter=stale):
        rejects.delete(stale)  # their flush committed no documents: they are read again
    return last, len(rows), lake.dataset("rejects").count_rows(filter=where)


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
