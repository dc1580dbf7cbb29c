"""A lake opened for reading only: what `winnow serve` hands to every page.

`Lake.open` may write (it adds catalog tables and fields a newer winnow knows); this opens
without writing, and every write that goes through the Lake (`append`, `pin`, `cleanup`, the
catalog's `record_*`) raises ReadOnlyLake.Refused. Nothing the app calls writes by other
means: SQL runs in DuckDB over Arrow scans of the Lance datasets with no file access
(sql/connection.py), so a statement cannot reach the lake's files either.
"""

from __future__ import annotations

from winnow.lake import Lake, LakeError, LakeNotFound, schema
from winnow.lake.errors import UsageError
from winnow.lake.lake import CATALOG_TABLES, TableNotFound


class ReadOnlyLake(Lake):
    """A Lake whose writes are refused (a `Refused` error naming what was asked)."""

    class Refused(UsageError):
        """A write to a lake opened read-only."""

    def _write(self, name: str, data, mode: str):
        raise self.Refused(f"the lake {self.uri} is open read-only: not writing table {name!r}")

    def pin(self, tag: str, version: int) -> None:
        raise self.Refused(f"the lake {self.uri} is open read-only: not tagging version {version} as {tag!r}")

    def cleanup(self, older_than_seconds: float = 0) -> int:
        raise self.Refused(f"the lake {self.uri} is open read-only: not cleaning old versions")


def open_read_only(uri, storage_options: dict[str, str] | None = None) -> ReadOnlyLake:
    """The lake at `uri`, opened without writing anything; a LakeNotFound when there is none,
    a LakeError when its format or tables are not this winnow's (the fix is named)."""
    lake = ReadOnlyLake(uri, storage_options)
    try:
        marker = lake.dataset("lake")
    except TableNotFound:
        raise LakeNotFound(f"no winnow lake at {lake.uri} (create one with `winnow init {lake.uri}`)") from None
    fmt = marker.to_table(columns=["format_version"])["format_version"][0].as_py()
    if fmt != schema.FORMAT_VERSION:
        raise LakeError(f"lake at {lake.uri} has format {fmt}; this winnow reads {schema.FORMAT_VERSION}")
    missing = []
    for name in CATALOG_TABLES:
        try:
            lake.dataset(name)
        except TableNotFound:
            missing.append(name)
    if missing:
        raise LakeError(f"the lake at {lake.uri} has no table(s) {', '.join(missing)} yet (an older winnow made it); "
                        f"a command that writes adds them: run `winnow info {lake.uri}` once, then serve it")
    return lake
