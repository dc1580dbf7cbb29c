"""The process guard: nothing a winnow command starts outlives it, even after `kill -9`.

`guard()` gives this process a mark of its own and starts its watchdog: a small Python
process apart from this one (its own session, no import beyond the standard library) that
waits for this process to end. While the mark is in this process's environment (in
WINNOW_GUARD, a space-separated list, so that guards nest), every process started from here
inherits it, however it is started and whoever starts it: the local workers' fork
server and the workers it forks (lake/workers.py), the multiprocessing resource tracker,
torchrun and its ranks, the gcs_server, raylet and helpers of a Ray cluster started for
the job. A cluster reached by --ray-address was started elsewhere and carries no mark.

The mark is read from the environment a process was started with (`/proc/PID/environ`;
psutil elsewhere), which a process that renames itself overwrites: Ray's agents and workers
do (`ray::IDLE`). So while this process lives the watchdog also follows its process tree
every FOLLOW_S: a process that carries the mark, or whose parent is followed, is followed
(its start time kept, so that a reused PID is never taken for it). Once this process is
gone, by a normal exit or by SIGKILL, the watchdog sends SIGTERM to every process it
followed or that carries the mark, and to their children, SIGKILL to those alive GRACE_S
later, and sweeps until none is left for QUIET_ROUNDS rounds in a row; then it exits.

The command line guards every command (`winnow.cli.main`: the mark stays for the whole
command); an engine marks only what it starts (`with guarded():` around its pool or its
Ray cluster), so that in a Python session the user's own processes are never followed.
One watchdog per process, however often either is called.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

MARK_ENV = "WINNOW_GUARD"
POLL_S = 0.2  # how often the watchdog looks for its process, and sweeps once it is gone
FOLLOW_S = 0.5  # how often it follows its process's tree (a scan of the process table: ~5 ms for 100)
GRACE_S = 2.0  # SIGTERM, then SIGKILL this much later
QUIET_ROUNDS = 3  # sweeps that found nothing before the watchdog exits

_guarded: tuple[int, str, subprocess.Popen | None] | None = None  # (pid, its mark, its watchdog)


def guard() -> str:
    """Mark this process's children from now on and start its watchdog (once per process);
    the mark."""
    mark = _mark()
    marks = os.environ.get(MARK_ENV, "").split()
    if mark not in marks:  # set again after a caller restored the environment (the tests' cli())
        os.environ[MARK_ENV] = " ".join([*marks, mark])
    return mark


@contextmanager
def guarded():
    """`guard()` for the processes started inside the block only: the environment is as it
    was afterwards (where the mark was there before, it stays)."""
    before = os.environ.get(MARK_ENV)
    guard()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MARK_ENV, None)
        else:
            os.environ[MARK_ENV] = before


def _mark() -> str:
    global _guarded
    if _guarded is None or _guarded[0] != os.getpid():  # none yet, or a fork of a guarded process
        mark = f"{os.getpid()}-{secrets.token_hex(6)}"
        env = {k: v for k, v in os.environ.items() if k != MARK_ENV}  # the watchdog is never swept
        try:
            watchdog = subprocess.Popen(
                [sys.executable, "-I", os.path.abspath(__file__), str(os.getpid()), mark], env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError:  # no process to spare: the command runs unguarded rather than not at all
            watchdog = None
        _guarded = (os.getpid(), mark, watchdog)
    return _guarded[1]


# -- the watchdog (standard library only: it runs as a file, `python -I processes.py PID MARK`) --

def carries(pid: int, mark: str, var: str = MARK_ENV) -> bool:
    """Whether process `pid` was started with `mark` among the words of its variable `var`."""
    if os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            return False
        key = var.encode() + b"="
        return any(e.startswith(key) and mark.encode() in e[len(key):].split() for e in environ.split(b"\0"))
    import psutil

    try:
        return mark in psutil.Process(pid).environ().get(var, "").split()
    except psutil.Error:
        return False


def processes() -> dict[int, tuple[int, float]]:
    """Every process this user may see: pid -> (parent pid, start time)."""
    table = {}
    if os.path.isdir("/proc/self"):
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat", "rb") as f:
                        fields = f.read().rsplit(b")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                if fields[0] != b"Z":  # a zombie is gone already
                    table[int(name)] = (int(fields[1]), float(fields[19]))
        return table
    import psutil

    for p in psutil.process_iter(["ppid", "create_time", "status"]):
        if p.info["status"] != psutil.STATUS_ZOMBIE:
            table[p.pid] = (p.info["ppid"], p.info["create_time"])
    return table


def follow(root: int, mark: str, followed: dict[int, float], table) -> dict[int, float]:
    """`followed` (pid -> start time) with the descendants of `root` that carry `mark`, or whose
    parent is followed; those no longer running are dropped. `table`: `processes()`."""
    followed = _running(followed, table)
    children = _children(table)
    todo = [(child, False) for child in children.get(root, [])]
    while todo:
        pid, parent_followed = todo.pop()
        if pid == os.getpid():
            continue
        if parent_followed or pid in followed or carries(pid, mark):
            followed[pid] = table[pid][1]
            parent_followed = True
        todo.extend((child, parent_followed) for child in children.get(pid, []))
    return followed


def sweep(mark: str, followed: dict[int, float] | None = None, grace: float = GRACE_S) -> None:
    """End every process in `followed` or carrying `mark`, and their descendants: SIGTERM,
    SIGKILL `grace` seconds later, until none has been seen for QUIET_ROUNDS rounds."""
    followed, signalled, quiet = dict(followed or {}), {}, 0
    while quiet < QUIET_ROUNDS:
        table = processes()
        followed = _running(followed, table)
        followed.update((pid, table[pid][1]) for pid in table if pid != os.getpid() and carries(pid, mark))
        children, todo = _children(table), list(followed)
        while todo:  # the descendants of the followed, seen before their parents end
            for child in children.get(todo.pop(), []):
                if child not in followed and child != os.getpid():
                    followed[child] = table[child][1]
                    todo.append(child)
        quiet = 0 if followed else quiet + 1
        now = time.monotonic()
        for pid in followed:
            if pid not in signalled:
                signalled[pid] = now
                _signal(pid, signal.SIGTERM)
            elif now - signalled[pid] >= grace:
                _signal(pid, signal.SIGKILL)
        time.sleep(POLL_S)


def _running(followed: dict[int, float], table) -> dict[int, float]:
    """Those of `followed` still running (same pid, same start time: a reused pid is not ours)."""
    return {pid: start for pid, start in followed.items() if pid in table and table[pid][1] == start}


def _children(table) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    return children


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:  # gone already
        pass


def _watch(parent: int, mark: str) -> None:
    """The watchdog: follow `parent`'s tree (every FOLLOW_S) until it ends (this process is
    then someone else's child), then sweep."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    followed: dict[int, float] = {}
    due = 0.0
    while os.getppid() == parent:
        if time.monotonic() >= due:
            began = time.monotonic()
            table = processes()
            if os.getppid() != parent:  # the tree is already cut: keep what was seen
                break
            followed = follow(parent, mark, followed, table)
            took = time.monotonic() - began
            due = began + max(FOLLOW_S, 20 * took)  # 5% of a core at most, on a machine of many processes
        time.sleep(POLL_S)
    sweep(mark, followed)


if __name__ == "__main__":
    _watch(int(sys.argv[1]), sys.argv[2])
