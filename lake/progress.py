"""The one progress protocol every long job reports to (ingest, score, materialize, ...).

A job calls `start` once with what it counts (`unit`: "bytes", "rows", "docs") and the
total when known, `advance` with how many more units are done plus any side counts
(documents written, tokens), and `stop` at the end, also on failure. The command line
shows it as a bar; the Python API takes `progress=None` to show nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, label: str, total: int | None, unit: str) -> None: ...
    def advance(self, done: int, **counts: int) -> None: ...
    def stop(self) -> None: ...
