"""Worker messages handed on in input order, whichever worker sent them first.

The local runner deduplicates in the order it applies batches; applying them in input
order (then row order, which one worker per input keeps) makes the first of two equal
documents the one kept, as the partitioned runner does (ingest/runner.py has the rule).

The messages of the first input not yet ended pass at once. Those of later inputs are held
until every input before theirs has ended: in memory up to `memory_bytes` in all, then in a
temporary folder (pickled, read back once, in order), so workers never wait on the order.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator

HELD_MEMORY = 256 << 20
REJECT_BYTES = 512  # a reject's rough size in memory, for the held total


def _ends(message) -> bool:
    return message[0] in ("done", "failed")


def _size(message) -> int:
    if message[0] != "batch":
        return 0
    return message[2].nbytes + REJECT_BYTES * len(message[3])


class InputOrder:
    """Hands on messages `(kind, key, ...)` in the order of their keys; see the module."""

    def __init__(self, keys: Iterable[int], memory_bytes: int = HELD_MEMORY):
        self.memory_bytes = memory_bytes
        self._todo = deque(sorted(keys))
        self._held: dict[int, list] = {k: [] for k in self._todo}
        self._spills: dict[int, object] = {}  # key -> its open spill file (append, then read once)
        self._bytes = 0  # held in memory
        self._folder: str | None = None
        self.spilled = 0  # messages that went to disk (for tests and figures)

    def arrive(self, message) -> Iterator:
        """The messages due now, `message` among them if its input is the first not ended;
        consume it fully before the next call."""
        key = message[1]
        if key != self._todo[0]:
            self._hold(key, message)
            return
        yield message
        if _ends(message):
            self._todo.popleft()
            yield from self._release()

    def _release(self) -> Iterator:
        """Held messages of the inputs now first, as long as they ended while held."""
        while self._todo:
            key = self._todo[0]
            ended = False
            for m in self._drain(key):
                ended = ended or _ends(m)
                yield m
            if not ended:
                return
            self._todo.popleft()

    def _hold(self, key: int, message) -> None:
        size = _size(message)
        if key not in self._spills and self._bytes + size <= self.memory_bytes:
            self._held[key].append(message)
            self._bytes += size
            return
        if key not in self._spills:  # from now on this input's messages go to disk, in order
            if self._folder is None:
                self._folder = tempfile.mkdtemp(prefix="winnow-ingest-")
            self._spills[key] = open(os.path.join(self._folder, f"{key}.pickle"), "w+b")
        pickle.dump(message, self._spills[key], protocol=pickle.HIGHEST_PROTOCOL)
        self.spilled += 1

    def _drain(self, key: int) -> Iterator:
        held, self._held[key] = self._held[key], []
        for m in held:
            self._bytes -= _size(m)
            yield m
        f = self._spills.pop(key, None)
        if f is None:
            return
        with f:
            f.flush()
            f.seek(0)
            while True:
                try:
                    yield pickle.load(f)
                except EOFError:
                    break
        os.unlink(f.name)

    def close(self) -> None:
        """Remove what was spilled (also when the run failed)."""
        for f in self._spills.values():
            f.close()
        self._spills.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
