"""The engines behind every job (lake/engine.py): local processes and a real Ray cluster
started on 127.0.0.1 with this machine's 2 CPUs. Both run the same units to the same
results, build each worker's state once, run a unit again when its worker dies (up to the
limit, then name it), and pass a unit's own error through untouched."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from winnow.lake.engine import EngineError, EngineUsageError, engine

def load(scale: int, path: str) -> dict:
    """A worker's state: built once per worker (counted by process id in the file `path`)."""
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    return {"scale": scale, "path": path}


def work(state, unit):
    if unit == "boom":
        raise ValueError("unit boom is bad input")
    if unit == "die-once":
        flag = state["path"] + ".died"
        if not os.path.exists(flag):
            open(flag, "w").close()
            os._exit(3)  # the worker process dies mid-unit
    if unit == "die-always":
        os._exit(4)
    return unit * state["scale"] if isinstance(unit, int) else unit, os.getpid()


def late(_state, name):
    return os.environ.get(name)


def broken(_):
    raise ValueError("model folder m has no weights")


@pytest.fixture(scope="module")
def engines(ray_cluster):
    return {"local": engine("local", workers=2), "ray": engine("ray", workers=2)}


@pytest.mark.parametrize("name", ["local", "ray"])
def test_same_results_and_state_built_once_per_worker(engines, name, tmp_path):
    inits = tmp_path / "inits"
    got = dict(engines[name].map(work, list(range(40)), init=load, args=(3, str(inits))))
    assert sorted(got) == list(range(40)) and {i: v for i, (v, _) in got.items()} == {i: 3 * i for i in range(40)}
    pids = {pid for _, pid in got.values()}
    built = inits.read_text().split()
    assert len(built) == len(set(built)) <= 2 and pids <= set(map(int, built))  # once per worker, not per unit
    assert os.getpid() not in pids  # both engines ran them in worker processes


@pytest.mark.parametrize("name", ["local", "ray"])
def test_a_worker_that_dies_is_replaced_and_its_unit_run_again(engines, name, tmp_path):
    args = (1, str(tmp_path / "inits"))
    got = dict(engines[name].map(work, [1, "die-once", 2, 3], init=load, args=args))
    assert {i: v for i, (v, _) in got.items()} == {0: 1, 1: "die-once", 2: 2, 3: 3}
    assert (tmp_path / "inits.died").exists()
    with pytest.raises(EngineError, match=r"unit 'die-always' failed: its worker died 2 time\(s\)"):
        list(engines[name].map(work, [1, "die-always"], init=load, args=args, retries=1))


@pytest.mark.parametrize("name", ["local", "ray"])
def test_a_units_own_error_and_a_failed_init_come_through_as_they_are(engines, name, tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="^unit boom is bad input$"):
        list(engines[name].map(work, [1, "boom", 2], init=load, args=(1, str(tmp_path / "inits"))))
    with pytest.raises(ValueError, match="^model folder m has no weights$"):
        list(engines[name].map(work, [1, 2, 3], init=broken, args=("m",)))
    assert time.perf_counter() - t0 < 60  # not retried


@pytest.mark.parametrize("name", ["local", "ray"])
def test_the_passes_of_a_job_reuse_one_set_of_workers(engines, name, tmp_path):
    """Inside `reusing()`, a second map with the same init and args runs on the first one's
    workers, their state built once; a map with other args starts its own; the block's end
    ends them. Outside it, each map starts its own workers."""
    e, inits = engines[name], tmp_path / "inits"
    args = (1, str(inits))
    with e.reusing():
        first = {pid for _, pid in dict(e.map(work, list(range(20)), init=load, args=args)).values()}
        second = {pid for _, pid in dict(e.map(work, list(range(20)), init=load, args=args)).values()}
        built = inits.read_text().split()
        other = {pid for _, pid in dict(e.map(work, list(range(4)), init=load, args=(2, str(tmp_path / "o")))).values()}
    assert len(built) == len(set(built)) <= 2 and first | second <= set(map(int, built))  # built once, for both
    assert not other & set(map(int, built))
    deadline = time.time() + 30
    while any(psutil.pid_exists(pid) for pid in first | second | other) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(psutil.pid_exists(pid) for pid in first | second | other)  # ended with the block
    apart = [{pid for _, pid in dict(e.map(work, [1, 2], init=load, args=args)).values()} for _ in range(2)]
    assert not apart[0] & apart[1]  # without the block, one set of workers per map


def test_a_local_worker_has_the_environment_of_its_job_not_of_the_fork_server(engines, tmp_path):
    """Local workers are forked from a server started with the first pool; a variable set
    since (an object store's credentials, say) reaches the workers of a later job."""
    e, name = engines["local"], "WINNOW_TEST_SET_LATE"
    list(e.map(work, [1, 2], init=load, args=(1, str(tmp_path / "inits"))))  # the server runs
    os.environ[name] = "set after the server started"
    try:
        got = dict(e.map(late, [name, name]))
    finally:
        del os.environ[name]
    assert got == {0: "set after the server started", 1: "set after the server started"}


def test_bad_engines_are_one_line_before_anything_runs():
    with pytest.raises(EngineUsageError, match="--engine 'spark': use one of local, ray"):
        engine("spark")
    with pytest.raises(EngineUsageError, match="needs --engine ray"):
        engine("local", address="127.0.0.1:6379")
    # an address nothing answers at: refused within the connect timeout, in a fresh process
    code = ("from winnow.lake.engine import engine\n"
            "try:\n    engine('ray', address='127.0.0.1:9')\nexcept Exception as e:\n    print(type(e).__name__, e)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("EngineUsageError --ray-address 127.0.0.1:9: no Ray cluster answers there"), out
    assert time.perf_counter() - t0 < 30
