"""What an ingest reports: per input, read = written + duplicates + rejected."""

from __future__ import annotations

from dataclasses import dataclass, field

from winnow.lake import display
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


@display.shown
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

    def _summary(self) -> str:
        t = self.total()
        return (f"{len(self.files)} input(s): read {t.read:,} = written {t.written:,} + duplicates {t.duplicates:,} "
                f"+ rejected {t.rejected:,}, lake version {self.lake_version}")

    def _view(self) -> display.View:
        t = self.total()
        v = display.View("ingest", [
            ("inputs", f"{len(self.files):,}" + (f" ({len(self.failed):,} failed)" if self.failed else "")),
            ("read", t.read), ("written", t.written), ("duplicates", t.duplicates), ("rejected", t.rejected),
            ("counts balance", all(f.balanced for f in self.files)), ("bytes read", display.size(self.bytes_read)),
            ("seconds", round(self.seconds, 2)), ("lake version", self.lake_version)])
        if self.passed_over:
            v.fields.append(("passed over", f"{len(self.passed_over):,} (not readable as documents)"))
        if t.read:
            v.parts.append(display.Bars(["written", "duplicates", "rejected"], [t.written, t.duplicates, t.rejected],
                                        "documents read", "documents"))
        header = ["input", "status", "read", "written", "duplicates", "rejected", "note"]
        v.parts.append(display.Table("inputs", header, [
            [display.cut(f.input, 60), f.status, f.read, f.written, f.duplicates, f.rejected, f.note]
            for f in self.files[:display.MAX_ROWS]], max(len(self.files) - display.MAX_ROWS, 0)))
        if self.first_rejects:
            v.parts.append(display.Code("first rejects", "\n".join(self.first_rejects)))
        return v
