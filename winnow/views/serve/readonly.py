"""A lake opened for reading only: what `winnow serve` hands to every page.

`Lake.open` may write (it adds catalog tables and fields a newer winnow knows); this opens
without writing, and every write that goes through the Lake (`append`, `pin`, `cleanup`, the
catalog's `record_*`) raises ReadOnlyLake.Refused. Nothing the app calls writes by other
means: SQL runs in DuckDB over Arrow scans of the Lance datasets with no file access
(sql/connection.py), so a statement cannot reach the lake's files either.
"""

from __future__ import annotations

from winnow.lake import Lake, LakeError
from winnow.lake.errors import UsageError
from winnow.lake.lake import CATALOG_TABLES


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
    lake.check_format()  # Lake.open's check, without the tables it would add
    missing = [name for name in CATALOG_TABLES if not lake._exists(name)]
    if missing:
        raise LakeError(f"the lake at {lake.uri} has no table(s) {', '.join(missing)} yet (an older winnow made it); "
                        f"a command that writes adds them: run `winnow info {lake.uri}` once, then serve it")
    return lake
