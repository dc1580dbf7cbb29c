"""Worker processes of the local runner (ingest/local.py): read input files into batches of
documents and rejects.

Workers only parse; they never touch the lake. The runner (the parent process) is the one
writer: it deduplicates against the whole lake and commits. Messages on the result queue:

    ("batch", key, documents, rejects, records_read, bytes_read)
    ("done", key)
    ("failed", key, message)      the input could not be read at all

A worker never outlives the runner: on Linux the kernel kills it when the runner dies (set
first thing, then the runner is checked for having died before that), and wherever a worker
waits (for a task, for room on the result queue) it checks that the runner is still there.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
from dataclasses import dataclass

import fsspec

from winnow.ingest.documents import BatchBuilder, FieldNames
from winnow.ingest.readers import READERS, open_decompressed, read

WAIT_S = 1.0  # how often a waiting worker checks that the runner is alive
PR_SET_PDEATHSIG = 1


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


def run(tasks, results, runner: int) -> None:
    """Worker main loop: take tasks until the None sentinel. `runner` is the parent's pid."""
    _die_with(runner)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the runner stops its workers
    while (task := _get(tasks, runner)) is not None:
        try:
            for message in read_task(task):
                _put(results, message, runner)
        except OSError as e:
            _put(results, ("failed", task.key, f"{task.uri}: cannot read: {e}"), runner)
        except Exception as e:  # a reader bug must not hang the runner
            _put(results, ("failed", task.key, f"{task.uri}: {type(e).__name__}: {e}"), runner)


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


def _get(tasks, runner: int):
    """The next task; exit when the runner is gone."""
    while True:
        try:
            return tasks.get(timeout=WAIT_S)
        except queue.Empty:
            _exit_if_orphaned(runner)


def _put(results, message, runner: int) -> None:
    """Put with backpressure; exit when the runner is gone."""
    while True:
        try:
            results.put(message, timeout=WAIT_S)
            return
        except queue.Full:
            _exit_if_orphaned(runner)


def _exit_if_orphaned(runner: int) -> None:
    if os.getppid() != runner:
        os._exit(1)


def _die_with(runner: int) -> None:
    """Have the kernel kill this worker when the runner dies (Linux; even by SIGKILL).

    The runner may have died before this line ran (while this process was importing): the
    signal then never comes, so check for that after asking for it.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the waits above still notice an orphaned worker
    _exit_if_orphaned(runner)
