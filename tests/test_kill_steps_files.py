"""The kill suite, verbs that write files and folders: materialize, rater train, weights fit
--out, report, sql --out; and compact, which starts from the same scored lake (its pinned
selection must return the same ids). Each is killed (SIGKILL) at each of its write steps,
then run again: the run completes without --replace and leaves what a clean run leaves, and
no temporary.

The machinery, the verbs' steps and what is compared: tests/kill.py. The figures:
`python -m pytest -q -s tests/test_kill_steps_files.py` prints them at the end.
"""

from __future__ import annotations

from . import kill

NAMES = ['materialize', 'rater-train', 'weights-fit', 'report', 'sql-out', 'compact']
lakes, test_steps_of, test_killed_at_each_step_then_run_again, teardown_module = kill.suite(NAMES)
