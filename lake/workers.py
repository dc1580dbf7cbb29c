"""Local worker processes: forked from one server process that imported what they need once.

A spawned process is a new interpreter that imports its work again: Lance, pyarrow and the
pandas pyarrow brings cost a worker ~0.5 CPU-seconds before its first unit, on every worker of
every job (bench/workers.py). So the local engine's pools (lake/engine.py) and the local
ingest's parsing processes (ingest/local.py) are started from multiprocessing's fork server
instead: one process, started by the first pool of this process, that imports the job's
modules once (`preload`) and forks a worker for each request. A worker then costs a fork and
what its `init` builds.

Forking is safe there as it is not in a process that has used Lance: the server has only
imported its modules, it runs no Lance runtime and opens no dataset (Lance warns on every
fork all the same: lake/fork_server.py, which the server imports last, silences that warning
in the server, and readies it to fork).

A worker takes this process's environment as it is when the worker is asked for (`adopt`).
The server inherits this process's environment when it starts, so a server started inside
the process guard (`with guarded():`, lake/processes.py) carries its mark, and so does every
worker forked from it: all of them end with this process, even after `kill -9`. It ends by
itself when this process does.
"""

from __future__ import annotations

import multiprocessing as mp
import os

SERVER = "from multiprocessing.forkserver import main"  # how the server is started: `python -c SERVER...`


def context(*modules: str):
    """The multiprocessing context of local workers. `modules`: what a worker needs, imported
    once by the fork server if this call is the one that starts it (later calls share the
    running server; a worker imports what the server lacks). Only winnow's own modules are
    preloaded: a module that fails to import must not take the server down with it."""
    ctx = mp.get_context("forkserver")
    wanted = [m for m in modules if m.startswith("winnow.")]
    ctx.set_forkserver_preload(["__main__", *dict.fromkeys(wanted), "winnow.lake.fork_server"])  # that one last
    return ctx


def start_server(*modules: str) -> None:
    """Start the fork server now if none runs (`modules`: as `context`), so that its imports
    overlap what this process does before it asks for its first worker; it ends with this
    process, as ever."""
    from multiprocessing import forkserver

    context(*modules)
    forkserver.ensure_running()  # spawns the server and returns: the server imports by itself


def adopt(env: dict[str, str]) -> None:
    """Make this worker's environment `env`, its parent's when it asked for the worker: a
    forked worker has the server's, from when the server started (a variable set since, such
    as an object store's credentials, would be missing)."""
    for name in set(os.environ) - set(env):
        del os.environ[name]
    os.environ.update(env)


def is_worker(cmdline: list[str], parent_cmdline: list[str]) -> bool:
    """Whether a process of this command line is a local worker (for tests and benchmarks):
    a spawned process, or one forked by the fork server (which has the server's command line)."""
    line, parent = " ".join(cmdline), " ".join(parent_cmdline)
    return "spawn_main" in line or (SERVER in line and line == parent)
