"""Staging: the files one partitioned ingest passes between its stages, inside the lake.

They live under LAKE/_staging/ingest-<run>/ (a path or object store URI that every worker
reaches, opened with the lake's storage options) as Lance files: parsed documents,
rejects and keys per unit, the lake's keys per group of fragments, decisions per key
partition. Readers take a row range of a file, so a partition's pass reads only its slice
of each unit's keys. The run removes its folder when it ends, failed or not; a run killed
outright leaves it, and a later ingest removes folders of runs older than STALE_SECONDS.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pyarrow as pa
from lance.file import LanceFileSession, LanceFileWriter

FOLDER = "_staging"
STALE_SECONDS = 7 * 86400


class Staging:
    """One run's staging folder; picklable (each process opens its own session)."""

    def __init__(self, lake_uri: str, run: str, storage_options: dict[str, str] | None = None):
        self.uri = f"{lake_uri}/{FOLDER}/ingest-{run}"
        self.storage_options = dict(storage_options or {})
        self._session: LanceFileSession | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_session": None}

    @property
    def session(self) -> LanceFileSession:
        if self._session is None:
            self._session = LanceFileSession(self.uri, self.storage_options or None)
        return self._session

    def writer(self, name: str, schema: pa.Schema) -> LanceFileWriter:
        """A writer of file `name` (write_batch, then close)."""
        return self.session.open_writer(name, schema=schema)

    def write(self, name: str, table: pa.Table) -> None:
        w = self.writer(name, table.schema)
        if table.num_rows:
            w.write_batch(table)
        w.close()

    def read(self, name: str, start: int = 0, n: int | None = None, columns: list[str] | None = None) -> pa.Table:
        """Rows `start` to `start + n` (to the end when n is None) of file `name`."""
        reader = self.session.open_reader(name, columns=columns)
        if n is None:
            n = reader.num_rows() - start
        return reader.read_range(start, n).to_table()

    def batches(self, name: str, batch_rows: int = 8192) -> Iterator[pa.RecordBatch]:
        yield from self.session.open_reader(name).read_all(batch_size=batch_rows).to_batches()

    def remove(self) -> None:
        """Delete every file of this run's folder (and, on a file system, the folder)."""
        for name in self.session.list():
            self.session.delete_file(name)
        _remove_empty_folders(self.uri)


def remove_stale(lake_uri: str, storage_options: dict[str, str] | None = None,
                 older_than: float = STALE_SECONDS) -> int:
    """Remove staging folders of ingests killed outright (left more than `older_than` seconds
    ago, by their newest file); on file systems only. The folders removed."""
    root = _local_path(f"{lake_uri}/{FOLDER}")
    if root is None or not os.path.isdir(root):
        return 0
    removed = 0
    for entry in os.scandir(root):
        if not entry.is_dir() or not entry.name.startswith("ingest-"):
            continue
        files = [os.path.join(d, f) for d, _, fs in os.walk(entry.path) for f in fs]
        newest = max((os.path.getmtime(f) for f in files), default=entry.stat().st_mtime)
        if time.time() - newest > older_than:
            Staging(lake_uri, entry.name.removeprefix("ingest-"), storage_options).remove()
            removed += 1
    return removed


def _local_path(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri.removeprefix("file://")
    return None if "://" in uri else uri


def _remove_empty_folders(uri: str) -> None:
    path = _local_path(uri)
    if path is None:
        return  # object stores have no folders
    for folder in (path, os.path.dirname(path)):
        try:
            os.rmdir(folder)
        except OSError:
            return  # not empty (another run's), or already gone
