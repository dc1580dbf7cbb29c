"""The kill suite, verbs that write the lake: ingest, score (minhash; a heuristic
scorer writes through the same steps, `score-gopher` in tests/kill.py),
import-scores, dedup --method minhash, select create. Each is killed (SIGKILL) at each of its
write steps, then run again: the run completes without --replace and leaves what a clean
run leaves.

The machinery, the verbs' steps and what is compared: tests/kill.py. The figures:
`python -m pytest -q -s tests/test_kill_steps.py` prints them at the end.
"""

from __future__ import annotations

import pytest

from . import kill

NAMES = ['ingest', 'score-minhash', 'import-scores', 'dedup-minhash', 'select-create']
FIGURES = {"trials": 0, "killed": 0, "completed": 0, "equal": 0}
TRIALS = kill.trials(NAMES)


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    return kill.make_lakes(tmp_path_factory.mktemp("kill"), {kill.VERBS[n].pre for n in NAMES})


@pytest.mark.parametrize("name", NAMES)
def test_steps_of(lakes, tmp_path_factory, name):
    """A clean run reaches the declared steps, in order; its result is kept for the trials."""
    kill.check_steps(lakes, name, tmp_path_factory.mktemp(name))


@pytest.mark.parametrize("name,step", TRIALS, ids=[f"{v}@{s}" for v, s in TRIALS])
def test_killed_at_each_step_then_run_again(lakes, tmp_path, name, step):
    """Killed at `step`, run again without --replace: it completes, equal to a clean run."""
    kill.trial(lakes, name, step, tmp_path, FIGURES)


def teardown_module(module):
    if FIGURES["trials"]:
        print("\n" + kill.figures_line(NAMES, FIGURES))
