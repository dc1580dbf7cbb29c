"""Run a command and measure it: wall seconds and peak RSS summed over its process tree.

RSS is sampled every ~50 ms with psutil for the process and all its descendants; so is
their CPU time (user + system, last value seen per process: a lower bound by < 50 ms per
process), which is less disturbed than wall time when other jobs share the cores.
Summing RSS counts pages shared between processes (forked workers, shared libraries)
once per process, so for multi-process tools it is an upper bound on real memory use.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from contextlib import contextmanager

import psutil


def _sample(proc: psutil.Process, cpu: dict) -> int:
    """Summed RSS of proc's tree; records each process's CPU seconds into cpu."""
    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    for p in procs:
        try:
            with p.oneshot():
                total += p.memory_info().rss
                t = p.cpu_times()
                cpu[p.pid] = t.user + t.system
        except psutil.Error:
            pass
    return total


def measure(cmd: list[str], env=None, interval: float = 0.05) -> dict:
    """Run cmd to completion; return seconds, cpu_seconds, peak_rss (bytes), returncode, stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = psutil.Popen(cmd, env=env, stdout=out, stderr=err)
        peak, cpu = 0, {}
        while proc.poll() is None:
            peak = max(peak, _sample(proc, cpu))
            time.sleep(interval)
        seconds = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-3000:]}")
    return {"seconds": seconds, "cpu_seconds": sum(cpu.values()), "peak_rss": peak, "returncode": proc.returncode, "stdout": stdout, "stderr": stderr}


def median_time(fn, reps: int = 3) -> float:
    """The median wall seconds of `reps` calls of fn() in this process."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@contextmanager
def commands_env(pyc: bool, name: str):
    """The environment of the commands a bench runs: this process's, or with `pyc` one where
    they write and read bytecode caches, as after a pip install, in a temporary
    PYTHONPYCACHEPREFIX (so no checkout gets a __pycache__) removed at the end."""
    env = dict(os.environ)
    if not pyc:
        yield env
        return
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix=f"winnow-{name}-pyc-") as folder:
        env["PYTHONPYCACHEPREFIX"] = folder
        yield env
