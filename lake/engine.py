"""Engines: where a job's units of work run.

Every job plans its work as units (ingest: input files; scoring: Lance fragments or slices
of them; materialization: shard ranges), runs them on an engine and commits what they
return. An engine only runs `fn(state, unit)` for each unit, where `state = init(*args)` is
built once per worker (a model is loaded once per worker, not per unit), and yields
`(index, result)` as units finish, in any order. What is committed, and when, stays with
the job, so both engines produce the same lake.

- `local` (the default): this process for one worker, else a pool of processes on this
  machine, forked from a server that imported the job's modules once (lake/workers.py).
- `ray`: a Ray actor pool, one actor per worker (`num_gpus=1` each for model scorers, the
  pool sized to the cluster), on the cluster at `--ray-address` (or `WINNOW_RAY_ADDRESS`),
  or on a local one started for the job when no address is given, which listens on
  127.0.0.1 only. Ray is an extra: `pip install 'winnow[ray]'`.

What an engine starts (workers, a Ray cluster) ends with the process that started it, however
that process ends (lake/processes.py).

The engine is chosen by `--engine local|ray` or `WINNOW_ENGINE` and built once, at the edge
(the API and the command line), then handed to the job. A job never asks an engine its name:
it asks what the engine can do (`runs_in_process`, `places_gpus`, `reaches`, `size`,
`threads_per_worker`, `with_workers`), so a new engine is one class in one file. A job of
several passes runs them inside `with engine.reusing():`, which lets a pass take the last
one's workers, their state built, when its `init` and `args` are the same.

A worker that dies (killed, out of memory, its node lost) is replaced and its unit run again, up to `retries` more times
per unit; after that the job fails naming the unit, and the job commits nothing of it. An
error raised by `fn` itself is not retried (it would fail the same way): it ends the job
with its own message. On Ray, a replacement takes units only once placed (a lost node's
CPUs are gone: the workers left run its units), and a lost head node ends the job at once
in one line (RayEngine.map); its workers on the other nodes end themselves (`_end_without_head`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from winnow.lake.errors import UsageError, WinnowError, positive
from winnow.lake.extras import MissingExtra, need
from winnow.lake.processes import guarded
from winnow.lake.ray_cluster import AddressError, is_loopback, loopback, reachable
from winnow.lake.workers import adopt, context, start_server

ENGINES = ("local", "ray")
ENGINE_ENV = "WINNOW_ENGINE"
ADDRESS_ENV = "WINNOW_RAY_ADDRESS"
RETRIES = 2  # more tries per unit after its worker died
PLACE_S = 60.0  # how long a Ray job with units left and no worker waits for one to be placed
HEAD_S = 2.0  # while a Ray job waits for its units, how often it asks whether the head node still answers
HEAD_MISSES = 3  # a Ray worker ends itself when its head node's GCS missed this many questions in a row
UNITS_LOG = "WINNOW_UNITS_LOG"  # a testing hook: where each unit ran (see _UnitsLog)


class EngineError(WinnowError):
    """A unit of work that failed on every try (its worker died each time)."""


class EngineUsageError(EngineError, UsageError):
    """An engine that cannot be used as asked: unknown, not installed, unreachable."""


def engine(name: str | None = None, address: str | None = None, workers: int | None = None) -> "Engine":
    """The engine `name` (default: $WINNOW_ENGINE, else local). `address`: a Ray cluster
    (default $WINNOW_RAY_ADDRESS; none: Ray starts a local one). `workers`: processes or
    actors (default: this machine's cores, or the Ray cluster's CPUs). An EngineUsageError,
    before anything is written, for an unknown engine, Ray not installed, or an address
    nothing answers at."""
    name = name or os.environ.get(ENGINE_ENV) or "local"
    if name not in ENGINES:
        raise EngineUsageError(f"--engine {name!r}: use one of {', '.join(ENGINES)}")
    if address is not None and not address.strip():  # not "no address": that starts a cluster here
        raise EngineUsageError(f"--ray-address {address!r}: give HOST:PORT (the head node's GCS port, 6379 by "
                               "default), or leave the option out for a one-machine cluster")
    try:
        positive(workers, "--workers (workers)")
    except UsageError as e:
        raise EngineUsageError(str(e)) from None
    if name == "local":
        if address:
            raise EngineUsageError(f"--ray-address {address}: it needs --engine ray")
        return LocalEngine(workers)
    return RayEngine(address or os.environ.get(ADDRESS_ENV) or None, workers)


def build(given: "Engine | str | None" = None, address: str | None = None, workers: int | None = None) -> "Engine":
    """`given` as it is when it is an Engine already (then `address` and `workers` must be
    None), else the engine of that name (see `engine`)."""
    if isinstance(given, Engine):
        if address is not None or workers is not None:
            raise EngineUsageError("give ray_address and workers to the engine itself, not beside an Engine")
        return given
    return engine(given, address, workers)


def reach(engine: "Engine", uri: str, error: type[Exception] = EngineUsageError) -> None:
    """An `error` unless the engine's workers can open the lake at `uri`: a memory:// lake lives
    in this process, so only an engine that runs its units here reaches it."""
    if not engine.reaches(uri):
        raise error(f"--engine {engine.name}: a memory:// lake lives in this process only; its workers cannot "
                    "read it: use --engine local or a lake on disk or object storage")


class Engine:
    """Runs units of work; see the module. A job reads its capabilities, never its name (the
    name is for reports and messages)."""

    name = "engine"
    title = "engine"  # the name in a sentence ("the Ray cluster")
    # A one-worker engine of this kind runs the units in this process: it reaches memory://
    # lakes, and a small job saves starting workers.
    runs_in_process = False
    # Workers ask the engine for GPUs (`num_gpus`) and each sees its own as `cuda`; else the job
    # deals devices (cuda:0, cuda:1, ...) to its workers itself.
    places_gpus = False

    def __init__(self, workers: int | None = None):
        self.workers = workers

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def reaches(self, uri: str) -> bool:
        """Whether the workers can open a lake at `uri` (memory:// lives in this process)."""
        return self.runs_in_process or not uri.startswith("memory://")

    def size(self, num_gpus: float = 0) -> int:
        """Workers for a job: `workers`, else what the engine has (cores, CPUs, or GPUs for GPU workers)."""
        return self.workers or os.cpu_count() or 1

    def gpus(self) -> int:
        """GPUs the engine's workers can be given (`num_gpus`); 0 where the job deals devices itself."""
        return 0

    def with_workers(self, workers: int) -> "Engine":
        """The same engine sized to `workers` workers (one, on an engine that `runs_in_process`: this process)."""
        import copy

        other = copy.copy(self)
        other.workers = workers
        return other

    def threads_per_worker(self, workers: int) -> int:
        """Threads one of `workers` workers may use without oversubscribing the cores."""
        return 1

    def warm(self, fn: Callable[[Any, Any], Any], init: Callable[..., Any] | None = None) -> None:
        """Get ready ahead, where the engine can, for a later `map(fn, ..., init=init)` on
        several workers, while this process does other work; nothing by default. `fn` may be
        the name of the module that defines it, for a caller that has not imported it yet."""

    @contextmanager
    def reusing(self) -> Iterator["Engine"]:
        """Within the block, a `map` whose workers would be the last one's (the same `init`, `args`
        and `num_gpus`) takes that map's workers, their state built, instead of starting new ones:
        a job of several passes over the same state (ingest/partitioned.py) starts its workers
        once. The workers a map kept end with the block, or with a map that needs others."""
        self._reusing = getattr(self, "_reusing", 0) + 1
        try:
            yield self
        finally:
            self._reusing -= 1
            if not self._reusing:
                self._take(None)

    def _take(self, key) -> Any:
        """The workers the last map kept, if they were started for `key` (they are taken), else
        None (and the kept ones end)."""
        kept, self._kept = getattr(self, "_kept", None), None
        if kept is None:
            return None
        if key is not None and _same(kept[0], key):
            return kept[1]
        self._end_workers(kept[1])
        return None

    def _keep(self, key, workers) -> bool:
        """Keep a finished map's `workers`, started for `key`, for the next map of the `reusing`
        block; False outside one (the map ends them)."""
        if not getattr(self, "_reusing", 0):
            return False
        self._take(None)
        self._kept = (key, workers)
        return True

    def _end_workers(self, workers) -> None:
        """End the workers a map kept (an engine that keeps any says how)."""

    def map(self, fn: Callable[[Any, Any], Any], units: Sequence, *, init: Callable[..., Any] | None = None,
            args: tuple = (), num_gpus: float = 0, retries: int = RETRIES,
            describe: Callable[[Any], str] = repr) -> Iterator[tuple[int, Any]]:
        """Yield `(index, fn(state, units[index]))` for every unit as it finishes, in any order,
        `state` being `init(*args)` once per worker (None without `init`). `fn` and `init` are
        module-level functions (they travel to other processes by name). `num_gpus`: GPUs each
        worker holds (Ray). A unit whose worker died `retries + 1` times raises EngineError
        (`describe(unit)` names it)."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go of what the engine started (a local Ray cluster stays up until the process ends)."""


def _same(a: tuple, b: tuple) -> bool:
    """Whether two keys of workers (init, args, num_gpus) are the same: each part the same object, or equal."""
    try:
        return len(a) == len(b) and all(x is y or bool(x == y) for x, y in zip(a, b))
    except Exception:  # noqa: BLE001 - values that cannot be compared are not the same
        return False


def _failed(describe, unit, tries: int, why: str) -> EngineError:
    return EngineError(f"unit {describe(unit)} failed: its worker died {tries} time(s) ({why}); "
                       "nothing of it was committed")


# -- local ---------------------------------------------------------------------------------

_state: Any = None
_init_error: BaseException | None = None


def _local_init(init, args, env) -> None:
    global _state, _init_error
    adopt(env)
    try:
        _state = init(*args) if init is not None else None
    except Exception as e:  # noqa: BLE001 - raised by the first unit, as the job's own error
        _init_error = e


def _local_run(fn, unit):
    if _init_error is not None:
        raise _init_error
    return fn(_state, unit)


def _modules(*functions) -> list[str]:
    """The modules that define `functions` (None: none; a module's name: that module), which a
    worker imports to run them."""
    return [f if isinstance(f, str) else f.__module__ for f in functions
            if isinstance(f, str) or (f is not None and getattr(f, "__module__", None))]


class LocalEngine(Engine):
    """This process (one worker), or processes on this machine forked by a server that imported
    the job's modules once (lake/workers.py)."""

    name = "local"
    title = "local"
    runs_in_process = True

    def threads_per_worker(self, workers: int) -> int:
        cores = os.cpu_count() or 1
        return cores if workers <= 1 else max(1, cores // workers)

    def warm(self, fn, init=None) -> None:
        """The fork server started now (it imports the job's modules, ~1 CPU-s, on another core
        while this process goes on), when this engine has several workers."""
        if (self.workers or 0) > 1:
            with guarded():  # the server and the resource tracker end with this process
                start_server(*_modules(fn, init))

    def map(self, fn, units, *, init=None, args=(), num_gpus=0, retries=RETRIES, describe=repr):
        n = min(self.workers or os.cpu_count() or 1, len(units))
        if n <= 1:
            state = init(*args) if init is not None else None
            for i, unit in enumerate(units):
                yield i, fn(state, unit)
            return
        with guarded():  # the workers and the resource tracker end with this process, however it ends
            yield from self._pool(fn, units, init, args, n, retries, describe)

    def _pool(self, fn, units, init, args, n, retries, describe):
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        todo = deque(range(len(units)))
        tries: Counter = Counter()
        key = (init, args, 0)
        while todo:
            pool, size = self._take(key) or (None, 0)
            if size < n:  # none kept, or too few
                if pool is not None:
                    self._end_workers((pool, size))
                pool, size = ProcessPoolExecutor(n, mp_context=context(*_modules(fn, init)), initializer=_local_init,
                                                 initargs=(init, args, dict(os.environ))), n
            running: dict = {}
            finished = False
            try:
                while todo or running:
                    while todo and len(running) < 2 * n:  # one queued behind each busy worker
                        i = todo.popleft()
                        running[pool.submit(_local_run, fn, units[i])] = i
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        i = running.pop(future)
                        try:
                            result = future.result()
                        except BrokenProcessPool as e:  # a worker died: every unit in flight runs again
                            for j in [i, *running.values()]:
                                tries[j] += 1
                                if tries[j] > retries:
                                    raise _failed(describe, units[j], tries[j], str(e) or "process ended") from None
                            todo.extendleft(sorted([i, *running.values()], reverse=True))
                            running.clear()
                            break
                        yield i, result
                    else:
                        continue
                    break  # the pool broke: start a new one
                else:
                    finished = True
            finally:
                if not (finished and self._keep(key, (pool, size))):
                    self._end_workers((pool, size))

    def _end_workers(self, workers) -> None:
        workers[0].shutdown(wait=True, cancel_futures=True)


# -- ray -------------------------------------------------------------------------------------

def _need_ray() -> None:
    try:
        need("ray", "--engine ray")
    except MissingExtra as e:  # an engine's usage error, as the engine's other ones
        raise EngineUsageError(str(e)) from None


def _ray():
    _need_ray()
    import ray

    return ray


_actor_class = None


def _actor(ray):
    global _actor_class
    if _actor_class is None:
        @ray.remote(max_restarts=0, max_task_retries=0)
        class Worker:
            def __init__(self, init, args):
                self.state, self.error = None, None
                threading.Thread(target=_end_without_head, args=(ray.get_runtime_context().gcs_address,),
                                 name="winnow-head-watch", daemon=True).start()
                try:
                    self.state = init(*args) if init is not None else None
                except Exception as e:  # noqa: BLE001 - raised by the first unit, as the job's own error
                    self.error = e

            def run(self, fn, unit):
                if self.error is not None:
                    raise self.error
                return fn(self.state, unit)

            def where(self) -> tuple[str, int]:
                """The node this worker was placed on, and its process id: the worker is ready."""
                return ray.get_runtime_context().get_node_id(), os.getpid()

            def pid(self) -> int:
                return os.getpid()

        _actor_class = Worker
    return _actor_class


def _end_without_head(gcs: str) -> None:
    """A Ray worker's watch (a thread): once the cluster's head is gone (its GCS missed
    HEAD_MISSES questions in a row, one every HEAD_S), the worker ends: Ray ends the actors
    of a driver that is gone through the head, so without a head they would outlive the job."""
    from winnow.lake.ray_cluster import answers

    misses = 0
    while misses < HEAD_MISSES:
        time.sleep(HEAD_S)
        misses = 0 if answers(gcs) else misses + 1
    os._exit(1)


def _lost(ray) -> tuple[type[Exception], ...]:
    """What Ray raises for a unit whose worker is gone (killed, out of memory, its node lost)."""
    from ray import exceptions as x

    return x.RayActorError, x.ObjectLostError, x.WorkerCrashedError, x.NodeDiedError


class _UnitsLog:
    """The testing hook WINNOW_UNITS_LOG=FILE: each worker placed, each unit's start, end or
    loss, with the node and process of its worker, appended to FILE as `event index node pid
    unit` (`placed -1 node pid -`; a no-op when unset). Tests check that work reached every
    node of a cluster, and what ran again."""

    def __init__(self, describe):
        self.path, self.describe = os.environ.get(UNITS_LOG), describe

    def __call__(self, event: str, index: int, where: tuple[str, int], unit) -> None:
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(f"{event} {index} {where[0]} {where[1]} {'-' if unit is None else self.describe(unit)}\n")


class RayEngine(Engine):
    """A Ray actor pool; see the module."""

    name = "ray"
    title = "Ray"
    places_gpus = True

    def __init__(self, address: str | None = None, workers: int | None = None):
        super().__init__(workers)
        self.address = address
        if not (sys.modules.get("ray") is not None and sys.modules["ray"].is_initialized()):
            _need_ray()  # ray is imported by loopback(), after the variable it reads once is set
            try:
                on_loopback = reachable(address) if address else True
            except AddressError as e:
                raise EngineUsageError(str(e)) from None
            try:
                with loopback(on_loopback) as ray, warnings.catch_warnings():
                    # Ray forks then execs; Lance's fork warning is moot
                    warnings.filterwarnings("ignore", message="lance is not fork-safe")
                    if address:
                        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
                    else:  # a one-machine cluster on 127.0.0.1 only, ended with this process
                        with guarded():
                            ray.init(address="local", num_cpus=workers or os.cpu_count() or 1,
                                     include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            except Exception as e:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...
                raise EngineUsageError(f"cannot start Ray{' at ' + address if address else ''}: "
                                       f"{' '.join(str(e).split())[:300]}") from None
            if not address and not is_loopback(ray.util.get_node_ip_address()):
                ray.shutdown()
                raise EngineError("the local Ray cluster did not stay on 127.0.0.1 (its node address is "
                                  f"{ray.util.get_node_ip_address()}); give --ray-address of a cluster of your own")
        self.actors: list = []  # the running job's actors (each has .pid.remote()), for tests that kill one

    def size(self, num_gpus: float = 0) -> int:
        """Workers for a job: --workers, else the cluster's GPUs (GPU workers) or CPUs."""
        ray = _ray()
        if self.workers:
            return self.workers
        resources = ray.cluster_resources()
        if num_gpus:
            return max(1, int(resources.get("GPU", 0) // num_gpus))
        return max(1, int(resources.get("CPU", 1)))

    def gpus(self) -> int:
        return int(_ray().cluster_resources().get("GPU", 0))

    def map(self, fn, units, *, init=None, args=(), num_gpus=0, retries=RETRIES, describe=repr):
        """See Engine.map. A worker gets units once Ray has placed it (its `where` answered), so
        a replacement that no node has room for (its node was lost with its CPUs) takes none:
        the units go to the workers left, and the replacement joins if a node frees up or
        joins. With units left, none running and no worker placed for PLACE_S, the job fails.
        The head node lost (its GCS does not answer; asked every HEAD_S while waiting and when
        a unit is lost) fails the job at once, in one line, rather than when Ray gives up."""
        ray = _ray()
        from ray.exceptions import RayTaskError

        if not units:
            return
        lost = _lost(ray)
        log = _UnitsLog(describe)
        Worker = _actor(ray).options(num_cpus=1 if not num_gpus else 0, num_gpus=num_gpus)
        init_ref, args_ref = ray.put(init), ray.put(args)
        fn_ref = ray.put(fn)
        n = min(self.size(num_gpus), len(units))
        key = (init, args, num_gpus)
        kept = self._take(key) or {}  # placed workers a pass before this one kept (Engine.reusing) -> where
        self.actors = list(kept)  # placed or not, for tests that kill one
        starting: dict = {}  # its `where` call -> a worker not yet placed
        idle: deque = deque(kept)  # placed workers without a unit
        where: dict = dict(kept)  # worker -> (node id, pid)
        running: dict = {}  # a unit's call -> (worker, unit index)
        finished = False
        todo = deque(range(len(units)))
        tries: Counter = Counter()
        dead_starts, waited = 0, 0.0

        def start() -> None:
            actor = Worker.remote(init_ref, args_ref)
            self.actors.append(actor)
            starting[actor.where.remote()] = actor

        def drop(actor) -> None:
            ray.kill(actor, no_restart=True)
            self.actors.remove(actor)
            where.pop(actor, None)

        try:
            for _ in range(n - len(kept)):
                start()
            while todo or running:
                while todo and idle:
                    actor, i = idle.popleft(), todo.popleft()
                    running[actor.run.remote(fn_ref, units[i])] = (actor, i)
                    log("start", i, where[actor], units[i])
                ready, _ = ray.wait([*running, *starting], num_returns=1, timeout=HEAD_S)
                if not ready:
                    _head(ray)
                    waited = 0.0 if running else waited + HEAD_S
                    if waited >= PLACE_S:
                        raise EngineError(f"no {self.title} worker could be placed in {PLACE_S:.0f} s with "
                                          f"{len(todo)} unit(s) left (the cluster's resources now: "
                                          f"{_resources(ray)}); nothing of them was committed")
                    continue
                waited = 0.0
                if ready[0] in starting:
                    actor = starting.pop(ready[0])
                    try:
                        where[actor] = tuple(ray.get(ready[0]))
                    except lost as e:  # died before it was placed or while its state was built
                        _head(ray)
                        drop(actor)
                        dead_starts += 1
                        if dead_starts > n * (retries + 1):
                            raise EngineError(f"{self.title} workers died {dead_starts} time(s) while starting "
                                              f"({' '.join(str(e).split())[:200]})") from None
                        start()
                    else:
                        log("placed", -1, where[actor], None)
                        idle.append(actor)
                    continue
                actor, i = running.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except RayTaskError as e:  # fn raised: the job's own error, not retried
                    cause = getattr(e, "cause", None)
                    raise (cause if isinstance(cause, Exception) else e.as_instanceof_cause()) from None
                except lost as e:  # the worker died, or its node: the unit runs again on another worker
                    log("lost", i, where[actor], units[i])
                    _head(ray)
                    tries[i] += 1
                    if tries[i] > retries:
                        raise _failed(describe, units[i], tries[i], " ".join(str(e).split())[:200]) from None
                    todo.appendleft(i)
                    drop(actor)
                    start()
                else:
                    log("done", i, where[actor], units[i])
                    idle.append(actor)
                    yield i, result
            finished = True
        except HeadLost:
            self.actors = []  # nothing to kill: the cluster is gone (and asking it would wait on it)
            raise
        finally:
            placed = {actor: where[actor] for actor in self.actors if actor in where}
            if finished and self._keep(key, placed):  # the next pass of a reusing block takes them
                self._end_workers([actor for actor in self.actors if actor not in placed])
            else:
                self._end_workers(self.actors)

    def _end_workers(self, actors) -> None:
        ray = _ray()
        for actor in actors:
            ray.kill(actor, no_restart=True)


class HeadLost(EngineError):
    """The Ray cluster's head node is gone: no unit can run, nothing more can be committed."""


def _head(ray) -> None:
    """A HeadLost unless the GCS of the cluster this process joined answers."""
    from winnow.lake.ray_cluster import answers

    address = ray.get_runtime_context().gcs_address
    if not answers(address) and not (time.sleep(1.0) or answers(address)):  # asked twice, a second apart
        raise HeadLost(f"the Ray cluster's head node is gone (its GCS at {address} does not answer): the job "
                       "stops, its unfinished units were not committed; run it again on a live cluster")


def _resources(ray) -> str:
    """The cluster's live CPUs and GPUs, as `CPU 2/3, GPU 0/0` (available/total), or why not known."""
    try:
        total, free = ray.cluster_resources(), ray.available_resources()
    except Exception as e:  # noqa: BLE001 - a message about a message
        return f"unknown: {' '.join(str(e).split())[:100]}"
    return ", ".join(f"{k} {free.get(k, 0):g}/{total.get(k, 0):g}" for k in ("CPU", "GPU"))
