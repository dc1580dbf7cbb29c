"""Worker processes: read input files into batches of documents and rejects.

Workers only parse; they never touch the lake. The runner (the parent process) is the one
writer: it deduplicates against the whole lake and commits. Messages on the result queue:

    ("batch", key, documents, rejects, records_read, bytes_read)
    ("done", key)
    ("failed", key, message)      the input could not be read at all
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
from dataclasses import dataclass

import fsspec

from .documents import BatchBuilder, FieldNames
from .readers import READERS, open_decompressed

PUT_TIMEOUT_S = 1.0


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


def run(tasks, results) -> None:
    """Worker main loop: take tasks until the None sentinel."""
    _die_with_parent()
    parent = os.getppid()
    while (task := tasks.get()) is not None:
        try:
            for message in read_task(task):
                _put(results, message, parent)
        except OSError as e:
            _put(results, ("failed", task.key, f"{task.uri}: cannot read: {e}"), parent)
        except Exception as e:  # a reader bug must not hang the runner
            _put(results, ("failed", task.key, f"{task.uri}: {type(e).__name__}: {e}"), parent)


def read_task(task: Task):
    builder = BatchBuilder(task.fields, task.max_doc_bytes)
    read = READERS[task.format]
    with fsspec.open(task.uri, "rb") as raw:
        stream = raw if task.format in ("warc", "parquet") else open_decompressed(raw, task.uri)
        for row, record in read(stream, task.start_row):
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


def _put(results, message, parent: int) -> None:
    """Put with backpressure; give up when the parent is gone."""
    while True:
        try:
            results.put(message, timeout=PUT_TIMEOUT_S)
            return
        except queue.Full:
            if os.getppid() != parent:
                os._exit(1)


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker when the runner dies (even by SIGKILL)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
