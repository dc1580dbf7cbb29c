"""Worker processes of the local runner (ingest/local.py): read input files into batches of
documents and rejects.

Workers only parse; they never touch the lake. The runner (the parent process) is the one
writer: it deduplicates against the whole lake and commits. Messages on the result queue:

    ("batch", key, documents, rejects, records_read, bytes_read)
    ("done", key)
    ("failed", key, message)      the input could not be read at all

A batch's documents travel as the path of an Arrow IPC file in the runner's batch folder,
which the runner maps into memory (`load`): through the queue they would be pickled, piped
and unpickled, about 1 CPU-second per 25,000 documents (94 MB) on the two sides together,
as much as reading them; written and mapped, ~0.05.

A worker never outlives the runner: the runner's process guard (lake/processes.py) ends it
when the runner ends, however the runner ends.
"""

from __future__ import annotations

import itertools
import os
import signal
from dataclasses import dataclass

import fsspec
import pyarrow as pa

from winnow.lake.workers import adopt

from winnow.ingest.documents import BatchBuilder, FieldNames
from winnow.ingest.readers import READERS, open_decompressed, read


@dataclass(frozen=True)
class Task:
    key: int
    uri: str
    format: str
    start_row: int  # records at rows <= start_row were committed by an earlier run
    fields: FieldNames
    max_doc_bytes: int
    batch_docs: int
    batch_bytes: int


def run(tasks, results, env: dict[str, str], folder: str | None = None) -> None:
    """Worker main loop: take tasks until the None sentinel (`env`: the runner's environment;
    `folder`: where batches' documents go as files, None: in the messages)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the runner stops its workers
    adopt(env)
    names = (os.path.join(folder, f"{os.getpid()}-{k}.arrow") for k in itertools.count()) if folder else None
    while (task := tasks.get()) is not None:
        try:
            for message in read_task(task):
                if names is not None and message[0] == "batch":
                    message = (*message[:2], _store(message[2], next(names)), *message[3:])
                results.put(message)  # waits for room: the runner's backpressure
        except OSError as e:
            results.put(("failed", task.key, f"{task.uri}: cannot read: {e}"))
        except Exception as e:  # a reader bug must not hang the runner
            results.put(("failed", task.key, f"{task.uri}: {type(e).__name__}: {e}"))


def read_task(task: Task):
    builder = BatchBuilder(task.fields, task.max_doc_bytes)
    reader = READERS[task.format]
    with fsspec.open(task.uri, "rb") as raw:
        stream = open_decompressed(raw, task.uri) if reader.decompress else raw
        for row, record in read(reader, stream, task.start_row):
            builder.add(row, record)
            if len(builder.columns["text"]) >= task.batch_docs or builder.text_bytes >= task.batch_bytes:
                yield ("batch", task.key, *builder.take(), _position(raw))
        yield ("batch", task.key, *builder.take(), _position(raw))
    yield ("done", task.key)


def _position(raw) -> int:
    try:
        return raw.tell()
    except (OSError, ValueError):
        return 0


def _store(table: pa.Table, path: str) -> str:
    """`path`, where `table` is now written as an Arrow IPC file."""
    with pa.OSFile(path, "wb") as f, pa.ipc.new_file(f, table.schema) as writer:
        writer.write_table(table)
    return path


def load(documents: pa.Table | str) -> pa.Table:
    """A batch's documents: the table itself, or the file a worker stored it in, mapped into
    memory and removed (the mapping keeps its pages until the table is gone)."""
    if isinstance(documents, pa.Table):
        return documents
    try:
        with pa.memory_map(documents) as source:
            return pa.ipc.open_file(source).read_all()
    finally:
        os.unlink(documents)
