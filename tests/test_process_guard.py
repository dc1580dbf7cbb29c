"""Let no one in, leave nothing behind: a Ray cluster a command starts listens on 127.0.0.1
only, a --ray-address where no Ray answers is refused at once, and nothing a command started
outlives a `kill -9` of it, on either engine (lake/processes.py, lake/engine.py).

The kill tests run the real command with a mark of their own in its environment (not the
guard's), follow its process tree until the moment of the kill, and then ask that within
KILL_S no process they saw, and none that carries their mark, is left.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

import psutil
import pytest

import winnow
from winnow.lake.workers import SERVER, is_worker

from .helpers import C4, OWT, SHARED, WINNOW, alive, cli, fails

MARK = "WINNOW_TEST_MARK"
KILL_S = 5.0  # everything a killed command started is gone this soon
GPT2 = str(SHARED / "tokenizers" / "gpt2-tokenizer.json")


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Five fragments of real documents (commits of 1 MB), a selection of them all."""
    uri = tmp_path_factory.mktemp("guard") / "lake"
    cli("init", uri)
    cli("ingest", uri, OWT, C4, "--commit-mb", "1", "--no-progress")
    winnow.select(winnow.open(uri), "all", "SELECT id FROM docs", seed=5)
    return uri


def _start(args) -> tuple[subprocess.Popen, str]:
    mark = uuid.uuid4().hex
    proc = subprocess.Popen([str(WINNOW), *map(str, args)], env={**os.environ, MARK: mark, "COLUMNS": "200"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    return proc, mark


def _carrying(mark: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(MARK) == mark and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            pass
    return found


def _follow(proc: subprocess.Popen, seen: dict, until, deadline_s: float = 90) -> None:
    """Add the command's descendants to `seen` (pid -> Process) until `until(command lines)`."""
    deadline = time.time() + deadline_s
    while True:
        assert proc.poll() is None, f"ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        assert time.time() < deadline, "the moment to kill never came"
        try:
            for p in psutil.Process(proc.pid).children(recursive=True):
                seen.setdefault(p.pid, p)
        except psutil.NoSuchProcess:
            pass
        lines = []
        for p in alive(seen.values()):
            try:
                lines.append(" ".join(p.cmdline()))
            except psutil.Error:
                pass
        if until(lines):
            return
        time.sleep(0.02)


def _kill(proc: subprocess.Popen, mark: str, seen: dict) -> tuple[int, float]:
    """kill -9 the command alone; (processes it had started, seconds until all were gone)."""
    started = alive({p.pid: p for p in [*seen.values(), *_carrying(mark)]}.values())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = time.time()
    while time.time() - killed < KILL_S:
        left = alive({p.pid: p for p in [*started, *_carrying(mark)]}.values())
        if not left:
            return len(started), time.time() - killed
        time.sleep(0.1)
    names = []
    for p in left:
        try:
            names.append(f"{p.pid} {' '.join(p.cmdline())[:100]}")
        except psutil.Error:
            pass
    for p in left:  # leave the machine clean for the next test
        try:
            p.kill()
        except psutil.Error:
            pass
    raise AssertionError(f"{len(names)} of {len(started)} processes alive {KILL_S} s after the kill: {names}")


def _workers(n: int):
    """Whether `n` local workers run: forked by the fork server (which has their command line), or spawned."""
    return lambda lines: (sum(SERVER in line for line in lines) >= n + 1
                          or sum("spawn_main" in line for line in lines) >= n)


def _worked(processes, cpu_s: float) -> bool:
    """Whether the local workers among `processes` have used `cpu_s` CPU-seconds between them
    (a forked worker starts in ~0.01: they are at work)."""
    total = 0.0
    for p in alive(processes):
        try:
            if is_worker(p.cmdline(), p.parent().cmdline()):
                total += sum(p.cpu_times()[:2])
        except (psutil.Error, AttributeError):  # gone, or its parent gone
            pass
    return total >= cpu_s


# -- nothing outlives a killed command ----------------------------------------------------------

@pytest.mark.parametrize("moment", ["starting", "working"])
def test_a_killed_local_score_leaves_no_process(lake, moment):
    """`score minhash` on two local workers, killed as they start, then while they score."""
    proc, mark = _start(["score", lake, "minhash", "--workers", "2", "--replace", "--no-progress"])
    seen: dict = {}
    _follow(proc, seen, _workers(2))
    if moment == "working":
        _follow(proc, seen, lambda lines: _worked(seen.values(), 0.3))
    started, gone = _kill(proc, mark, seen)
    print(f"score minhash, killed {moment}: {started} processes, all gone in {gone:.1f} s")
    assert started >= 3  # two workers and the resource tracker at least


def test_a_killed_materialize_leaves_no_process(lake, tmp_path):
    """`materialize --workers 2`, killed once its first shard is written."""
    out = tmp_path / "shards"
    proc, mark = _start(["materialize", lake, "all", "--out", out, "--tokenizer", GPT2, "--shard-tokens", "50000",
                         "--workers", "2", "--no-progress"])
    seen: dict = {}
    _follow(proc, seen, lambda lines: _workers(2)(lines) and any(out.glob("shard-*.bin")))
    started, gone = _kill(proc, mark, seen)
    print(f"materialize, killed after its first shard: {started} processes, all gone in {gone:.1f} s")
    assert started >= 3 and not (out / "manifest.json").exists()


def test_the_guard_ends_with_its_process_and_follows_only_what_it_marked(tmp_path):
    """In a Python session, an engine marks only what it starts: a process the session starts
    itself afterwards is not followed, and the session's watchdog ends with the session."""
    code = ("import subprocess, sys, time\n"
            "from winnow.lake.processes import guarded\n"
            "with guarded():\n"
            "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "mine = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print(mine.pid, flush=True)\n"
            "time.sleep(60)\n")
    mark = uuid.uuid4().hex
    proc = subprocess.Popen([str(WINNOW.parent / "python"), "-c", code], env={**os.environ, MARK: mark},
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    own = psutil.Process(int(proc.stdout.readline()))
    try:
        time.sleep(1.0)  # the watchdog has followed the tree
        seen = {p.pid: p for p in psutil.Process(proc.pid).children(recursive=True) if p.pid != own.pid}
        assert len(seen) == 2  # the guarded child and the watchdog
        _kill(proc, mark="-", seen=seen)
        assert own.is_running()  # started outside `guarded()`: the user's own
    finally:
        own.kill()


def test_a_killed_command_leaves_its_users_own_cluster_alone(ray_cluster, lake):
    """kill -9 of `score --engine ray --ray-address` while its actors run on a cluster the
    command did not start (this session's): every process of that cluster lives on, and it
    still runs work; the killed driver's actors are ended by Ray itself."""
    import ray

    mine = {p.pid: p for p in alive(psutil.Process().children(recursive=True))}
    names = {pid: p.name() for pid, p in mine.items()}
    listening: set = set()
    _sockets(mine.values(), listening, set(), set())
    assert listening and all(_loopback(ip) for _, ip, _ in listening), listening  # started as --engine ray does
    proc, mark = _start(["score", lake, "gopher", "--replace", "--engine", "ray", "--ray-address", ray_cluster,
                         "--workers", "2", "--no-progress"])
    deadline = time.time() + 90
    while not (actors := [p for p in alive(psutil.Process().children(recursive=True))
                          if p.name().startswith("ray::Worker")]):  # an idle worker of the cluster, now its actor
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "its actors never ran"
        time.sleep(0.01)
    _kill(proc, mark, {})
    time.sleep(1.0)  # the watchdog's sweep is over
    # its workers come and go as Ray sees fit (the killed job's actors among them); the rest stay
    cluster = [p for pid, p in mine.items() if not names[pid].startswith(("ray::IDLE", "ray::Worker"))]
    assert {"gcs_server", "raylet"} <= {names[p.pid] for p in cluster}
    ended = [p for p in cluster if p not in alive(cluster)]
    assert not ended, f"processes of the cluster were ended: {ended}"
    assert ray.get(ray.put("still here")) == "still here" and ray.cluster_resources()["CPU"] == 2
    gone_by = time.time() + 10
    while alive(actors) and time.time() < gone_by:
        time.sleep(0.1)
    assert not alive(actors)


# -- a local Ray cluster listens on 127.0.0.1 only ------------------------------------------------

def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def _sockets(tree, listening: set, talking: set, node_ips: set) -> None:
    for p in tree:
        try:
            name = p.name()
            for c in p.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    listening.add((name, c.laddr.ip, c.laddr.port))
                elif c.raddr:
                    talking.add((name, c.laddr.ip, c.raddr.ip))
            for arg in p.cmdline():
                if arg.startswith(("--node_ip_address=", "--node-ip-address=")):
                    node_ips.add(arg.split("=", 1)[1])
        except psutil.Error:
            pass


def test_a_ray_cluster_started_for_a_job_listens_on_loopback_only_and_ends_with_it(tmp_path):
    """`ingest --engine ray` without --ray-address: every socket of every process of the
    cluster it starts, looked at over and over until its actors read, listens and talks on
    loopback only, and the node registers as 127.0.0.1. Then kill -9 of the command: the
    whole cluster (gcs_server, raylet, agents, workers) goes with it."""
    cli("init", tmp_path / "lake")
    proc, mark = _start(["ingest", tmp_path / "lake", OWT, C4, "--engine", "ray", "--workers", "2", "--no-progress"])
    listening, talking, node_ips, seen = set(), set(), set(), {}
    reading = None
    try:
        while reading is None or time.time() < reading + 1.0:  # a second of the actors at work
            _follow(proc, seen, lambda lines: True)
            _sockets([psutil.Process(proc.pid), *alive(seen.values())], listening, talking, node_ips)
            if reading is None and any(p.name().startswith("ray::Worker") for p in alive(seen.values())):
                reading = time.time()
            time.sleep(0.1)
        try:
            ended = _kill(proc, mark, seen)
        except AssertionError as e:
            ended = e
    finally:
        if proc.poll() is None:
            proc.kill()
    names = {name for name, _, _ in listening}
    print(f"{len(listening)} listening sockets of {sorted(names)}, {len(talking)} connections, node address "
          f"{sorted(node_ips)}; killed while its actors ran: "
          + (str(ended) if isinstance(ended, AssertionError) else f"{ended[0]} processes, all gone in {ended[1]:.1f} s"))
    assert {"gcs_server", "raylet"} <= names, listening  # the cluster was seen
    assert not [s for s in listening if not _loopback(s[1])], listening
    assert not [c for c in talking if not (_loopback(c[1]) and _loopback(c[2]))], talking
    assert node_ips and all(_loopback(ip) for ip in node_ips), node_ips
    assert not isinstance(ended, AssertionError), ended
    assert ended[0] >= 5  # the processes it started, gone in ended[1] s


# -- --ray-address: where no Ray answers, at once ----------------------------------------------

def test_a_ray_address_where_something_else_listens_is_refused_at_once(lake):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        accepted = []
        stop = threading.Event()

        def accept():  # takes connections and says nothing, as a stuck service would
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    accepted.append(server.accept()[0])
                except OSError:
                    pass

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        began = time.time()
        line = fails("score", lake, "gopher", "--engine", "ray", "--ray-address", address, "--no-progress",
                     timeout=60, contains=f"--ray-address {address}: no Ray cluster answers there")
        took = time.time() - began
        stop.set()
        thread.join()
    print(f"refused in {took:.1f} s: {line}")
    assert took < 15 and accepted


def test_an_empty_ray_address_is_a_usage_error(lake):
    """Not "no address" (that starts a cluster on this machine): a usage error, on either engine."""
    fails("score", lake, "gopher", "--engine", "ray", "--ray-address", "", contains="--ray-address ''")
    fails("score", lake, "gopher", "--ray-address", "", contains="--ray-address ''")
