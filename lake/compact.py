"""`winnow compact`: the lake's tables rewritten compactly, and the versions nothing needs removed.

After many commits a lake holds many small fragments (each ingest of a small batch appends
at least one, each catalog row is a commit of its own), a column file per fragment per
scoring job, one manifest per version, and the files that only old versions read. Opening
it, `winnow info`, scans and selections read more manifests and open more files. `compact`:

1. refuses while a job is unfinished: a metric column or an ingest whose latest catalog row
   is `running` (running now, or killed: run it again to finish it), or staged column files
   under LAKE/_staging (a scoring job that failed or was killed). Their work is placed by
   fragment, and compaction replaces fragments. Nothing is written before this check.
2. compacts each table (`docs`, `rejects`, the catalog's logs) with Lance's own
   `compact_files`: runs of adjacent fragments smaller than schema.FRAGMENT_ROWS rows are
   merged, column files included (a rewritten fragment has one file). A fragment that
   already has FRAGMENT_ROWS rows keeps its column files: Lance rewrites none alone, and
   scoring keeps fragments at that size on purpose (lake/schema.py).
3. removes old versions with Lance's `cleanup_old_versions`, and with them the files only
   they read, except: the latest version, every tagged one (each selection's
   `selection-NAME`, your own tags), every version a selection in the catalog is pinned to
   (tagged or not), and, with `older_than`, the versions younger than that.

What it changes: fragment ids, row addresses and row positions (measured on pylance
14.0.3, a merged run of small fragments can even land after a larger fragment that
followed it in scan order). What it keeps: every document and column value, the ids, and
every kept version as it was: a selection reads its pinned version with that version's
files and returns the same ids. The dedup columns name clusters by document id
(scoring/dedup/clusters.py), so they stay true.

A killed compaction loses nothing: each table's compaction is one commit (files written
before it are referenced by no version, and Lance's cleanup removes them after 7 days),
and a cleanup removes only what no kept version reads. Running it again finishes the work.
Kill points: `compact:docs` (docs compacted), `compact:cleaned` (docs' old versions
removed), `compact:tables` (the other tables done).

Beside other jobs: an ingest that commits meanwhile is rebased by Lance onto the compaction
(or the compaction onto it). A scoring job started meanwhile: Lance refuses whichever of
its column-file commit and the compaction comes second; a compaction that lost is planned
and run again, a column commit whose fragments were compacted writes those rows by id
(lake/fragments.py). A job reading a version that the cleanup removes fails and is
recorded as failed (run it again); `older_than` keeps recent versions for such readers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from winnow.lake import catalog, display
from winnow.lake.errors import UsageError
from winnow.lake.fragments import staged_jobs
from winnow.lake.info import size_on_disk
from winnow.lake.killpoints import step
from winnow.lake.lake import TABLES, Lake, LakeError, clean_message
from winnow.lake.schema import FRAGMENT_ROWS

RETRIES = 10  # compactions planned again after losing a commit to a concurrent job


class CompactError(LakeError):
    """A compaction that failed once it had begun writing; run it again."""


class CompactUsageError(CompactError, UsageError):
    """A compaction asked wrongly or at the wrong time (a job unfinished): nothing written."""


@dataclass
class TableCompaction:
    """One table before and after: fragments, data files and versions, bytes removed."""

    table: str
    fragments: tuple[int, int]
    files: tuple[int, int]
    versions: tuple[int, int]
    bytes_removed: int = 0


@display.shown
@dataclass
class CompactResult:
    uri: str
    tables: list[TableCompaction] = field(default_factory=list)
    kept: dict[int, list[str]] = field(default_factory=dict)  # docs versions kept besides the latest: why
    size_before: int | None = None  # bytes under the lake's URI; None where the store cannot be listed
    size_after: int | None = None
    lake_version: int = 0
    seconds: float = 0.0


def compact(lake: Lake, older_than: float = 0.0) -> CompactResult:
    """Compact every table of the lake and remove the versions nothing needs (see the
    module); `older_than`: seconds; versions younger than that are kept as well. A
    CompactUsageError, before anything is written, while a job is unfinished.

        >>> r = compact(lake)
        >>> [(t.table, t.fragments, t.files) for t in r.tables]
    """
    t0 = time.perf_counter()
    if isinstance(older_than, bool) or not isinstance(older_than, (int, float)) or not older_than >= 0:
        raise CompactUsageError(f"--older-than {older_than!r}: give seconds, 0 or more")
    busy = unfinished(lake)
    if busy:
        more = f" and {len(busy) - 5} more" if len(busy) > 5 else ""
        raise CompactUsageError(f"cannot compact while a job is unfinished: {', '.join(busy[:5])}{more} (running "
                                "now, or killed or failed: run it again to finish it, then compact)")
    result = CompactResult(lake.uri, size_before=size_on_disk(lake))
    result.kept = needed_versions(lake)

    docs = _before(lake, "docs")
    _compact_table(lake, "docs")
    step("compact:docs")
    docs.bytes_removed = _clean(lake, "docs", set(result.kept), older_than)
    step("compact:cleaned")
    result.tables.append(_after(lake, docs))
    for name in TABLES:
        if name == "docs":
            continue
        table = _before(lake, name)
        _compact_table(lake, name)
        table.bytes_removed = _clean(lake, name, set(), older_than)
        result.tables.append(_after(lake, table))
    step("compact:tables")
    result.size_after = size_on_disk(lake)
    result.lake_version = lake.docs().version
    result.seconds = time.perf_counter() - t0
    return result


def unfinished(lake: Lake) -> list[str]:
    """The jobs whose work a compaction would strand: metric columns and ingests whose latest
    catalog row is `running`, and jobs with staged column files."""
    found = []
    for what, log, key in (("metric column", catalog.metrics(lake), "metric"),
                           ("ingest of", catalog.ingests(lake), "input")):
        found += [f"{what} {r[key]}" for r in (log.to_pylist() if log.num_rows else []) if r["status"] == "running"]
    return found + [f"the staged column files of {job}" for job in staged_jobs(lake)]


def needed_versions(lake: Lake) -> dict[int, list[str]]:
    """The versions of `docs` that something needs, besides the latest: tagged ones and those
    selections are pinned to; each with why."""
    docs = lake.docs()
    present = {v["version"] for v in docs.versions()}
    needed: dict[int, list[str]] = {}
    for tag, info in docs.tags.list().items():
        needed.setdefault(info["version"], []).append(f"tag {tag}")
    selections = catalog.latest(lake.dataset("selections").to_table(columns=["name", "lake_version"]), "name")
    for row in selections.to_pylist() if selections.num_rows else []:
        if row["lake_version"] in present:
            needed.setdefault(row["lake_version"], []).append(f"selection {row['name']}")
    return {v: sorted(why) for v, why in sorted(needed.items())}


def _shape(lake: Lake, name: str) -> tuple[int, int, int]:
    """The table's fragments, data files and versions."""
    ds = lake.dataset(name)
    fragments = ds.get_fragments()
    return len(fragments), sum(len(f.data_files()) for f in fragments), len(ds.versions())


def _before(lake: Lake, name: str) -> TableCompaction:
    fragments, files, versions = _shape(lake, name)
    return TableCompaction(name, (fragments, 0), (files, 0), (versions, 0))


def _after(lake: Lake, table: TableCompaction) -> TableCompaction:
    fragments, files, versions = _shape(lake, table.table)
    table.fragments, table.files = (table.fragments[0], fragments), (table.files[0], files)
    table.versions = (table.versions[0], versions)
    return table


def _compact_table(lake: Lake, name: str) -> None:
    """One table compacted with Lance's compact_files (one commit, or none when nothing is
    to merge); planned and run again when a concurrent commit preempts it."""
    for attempt in range(RETRIES):
        try:
            lake.dataset(name).optimize.compact_files(target_rows_per_fragment=FRAGMENT_ROWS)
            return
        except OSError as e:
            if "commit conflict" not in str(e).lower() or attempt == RETRIES - 1:
                raise CompactError(f"compacting table {name!r} of the lake at {lake.uri} failed "
                                   f"({clean_message(e)}); run winnow compact again") from e
        time.sleep(0.1 * (attempt + 1))


def _clean(lake: Lake, name: str, keep: set[int], older_than: float) -> int:
    """Remove the table's versions except the latest, those in `keep` and those younger than
    `older_than` seconds; returns the bytes removed."""
    ds = lake.dataset(name)
    doomed = [v["version"] for v in ds.versions() if v["version"] != ds.version and v["version"] not in keep]
    if not doomed:
        return 0
    try:
        stats = ds.cleanup_old_versions(older_than=timedelta(seconds=older_than), versions=doomed,
                                        error_if_tagged_old_versions=False)
    except OSError as e:
        raise CompactError(f"removing old versions of table {name!r} of the lake at {lake.uri} failed "
                           f"({clean_message(e)}); run winnow compact again") from e
    return stats.bytes_removed
