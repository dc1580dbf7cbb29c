"""The kill suite, verbs that write the lake: ingest (and on a lake past the key index's
limit, `ingest-index`), score (minhash; a heuristic
scorer writes through the same steps, `score-gopher` in tests/kill.py),
import-scores, dedup --method minhash, select create. Each is killed (SIGKILL) at each of its
write steps, then run again: the run completes without --replace and leaves what a clean
run leaves.

The machinery, the verbs' steps and what is compared: tests/kill.py. The figures:
`python -m pytest -q -s tests/test_kill_steps.py` prints them at the end.
"""

from __future__ import annotations

from . import kill

NAMES = ['ingest', 'ingest-index', 'score-minhash', 'import-scores', 'dedup-minhash', 'select-create']
lakes, test_steps_of, test_killed_at_each_step_then_run_again, teardown_module = kill.suite(NAMES)
