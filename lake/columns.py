"""Adding metric columns to `docs` without rewriting the text (measured with pylance 14:
a 1M-row float32 column writes ~4 MB, where `update()` rewrites every row, text included).

- `add_columns` registers columns schema-only: no data files are written; every row reads
  null until it is filled. It retries on a commit conflict by re-reading the latest
  version and adding again (never by re-committing a stale transaction, which would drop a
  column another job added meanwhile).
- `write_columns` fills columns for some rows from an `(id, values...)` table with a merge
  in `rewrite_columns` mode: only the new columns' files are written, and Lance rebases it
  onto concurrent commits. Its join reads every id of the lake, so a scoring job writes
  its columns fragment by fragment instead (lake/fragments.py); `write_columns` serves
  imported scores and the rows lake/fragments.py cannot place by row address.
- `drop_columns` removes columns (metadata only).
One writer per column: two jobs writing the same column race, and the last one wins.
"""

from __future__ import annotations

import random
import time

import pyarrow as pa
from lance.commit import CommitConflictError

from winnow.lake.lake import Lake, LakeError

RETRIES = 20


def _retry(what: str, action):
    delay = 0.05
    for attempt in range(RETRIES):
        try:
            return action()
        except CommitConflictError:
            if attempt == RETRIES - 1:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
    raise LakeError(f"{what}: gave up after {RETRIES} commit conflicts")


def add_columns(lake: Lake, fields: list[pa.Field]) -> list[str]:
    """Register the columns that `docs` lacks; returns the names added."""

    def attempt() -> list[str]:
        docs = lake.docs()
        missing = [f for f in fields if f.name not in docs.schema.names]
        if missing:
            docs.add_columns(missing)
        return [f.name for f in missing]

    return _retry("add columns", attempt)


def drop_columns(lake: Lake, names: list[str]) -> None:
    def attempt() -> None:
        docs = lake.docs()
        present = [n for n in names if n in docs.schema.names]
        if present:
            docs.drop_columns(present)

    _retry("drop columns", attempt)


def write_columns(lake: Lake, table: pa.Table) -> int:
    """Fill columns for the rows whose `id` is in `table`; returns the new lake version."""

    def attempt() -> int:
        docs = lake.docs()
        docs.merge_insert("id").when_matched_update_all().write_mode("rewrite_columns").execute(table)
        return lake.docs().version

    return _retry("write columns", attempt)
