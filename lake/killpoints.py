"""Kill points: named places between a verb's write steps, where a test can stop the process.

A testing hook, off unless one of two environment variables is set (a call costs two dict
lookups):

- `WINNOW_STEPS_LOG=FILE`: every `step(name)` reached appends a line `name` to FILE, so a
  test learns the steps of a verb by running it once;
- `WINNOW_KILL_AT=NAME[:N]`: the N-th time (default 1) the process reaches step NAME, it
  sends itself SIGKILL: no handler, no `finally`, no catalog row runs after it, as with a
  `kill -9` between the two writes around the step.

Steps are called in the process that writes (never in a worker). Names are `verb:what`,
e.g. `score:claimed` (the catalog's running row is in), `columns:commit` (a column file
replacement committed), `atomic:publish` (a folder or file complete, not yet renamed into
place). tests/test_kill_steps.py kills every writing verb at each of its steps, runs it
again, and compares the result with a clean run's.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

KILL_AT = "WINNOW_KILL_AT"
STEPS_LOG = "WINNOW_STEPS_LOG"

_hits: Counter = Counter()


def step(name: str) -> None:
    """Mark that the process reached step `name` (see the module: a no-op unless testing)."""
    log = os.environ.get(STEPS_LOG)
    kill = os.environ.get(KILL_AT)
    if log is None and kill is None:
        return
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(name + "\n")
    if kill:
        target, _, nth = kill.rpartition(":")
        if not nth.isdigit():
            target, nth = kill, "1"
        if target == name:
            _hits[name] += 1
            if _hits[name] == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)
