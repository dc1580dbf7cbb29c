"""What an ingest reports: per input, read = written + duplicates + rejected."""

from __future__ import annotations

from dataclasses import dataclass, field

from winnow.lake.errors import WinnowError


class IngestError(WinnowError):
    """An ingest job failed (a worker died); its inputs resume when it is run again."""


@dataclass
class FileResult:
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
class IngestResult:
    files: list[FileResult]
    passed_over: list[str] = field(default_factory=list)
    lake_version: int = 0
    seconds: float = 0.0
    bytes_read: int = 0
    first_rejects: list[str] = field(default_factory=list)  # "input:row: reason: detail"

    def total(self) -> FileResult:
        t = FileResult(input="total", status="")
        for f in self.files:
            t.read += f.read
            t.written += f.written
            t.duplicates += f.duplicates
            t.rejected += f.rejected
        return t

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]
