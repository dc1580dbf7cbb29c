"""The Ray engine on a real cluster of several nodes (issue 23 §1): three nodes on this machine,
all on 127.0.0.1 (Ray's own `ray.cluster_utils.Cluster`: a raylet, its object store and its
workers per node, one CPU each), joined by `winnow ... --ray-address 127.0.0.1:PORT` as a user
joins a cluster, the commands run as the `winnow` executable.

- The loopback cluster is joined and work reaches every node (WINNOW_UNITS_LOG says on which
  node each unit ran; a scorer of the user's whose workers meet before they score).
- A whole node (its raylet, object store and workers) is killed with SIGKILL while it runs a
  unit of `ingest`, `score` (gopher and minhash; a fastText rater as the model scorer), `dedup --method
  minhash` and `materialize`; a fresh node joins after each kill. Each job finishes on the
  nodes left (or fails in one line and its rerun finishes) and the lake equals a local run's:
  the same ids, texts and columns, the same shards byte for byte, nothing lost, nothing twice.
- The head node killed mid-job: the command fails in one line within HEAD_BOUND_S, the lake
  is as a failed job leaves it (nothing half-committed), and a rerun on a new cluster finishes.
- After every command, killed or not, no worker of winnow's is left on any node.
- A lake on an object store (moto's S3 server on 127.0.0.1): the whole flow on the cluster,
  a node killed mid-ingest.

This module starts its own clusters (never the session's one-node cluster of the other Ray
modules, and never in this process's Ray: the test process only starts and kills nodes).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pytest

import winnow

from .helpers import C4, OWT, SHARED, WINNOW, alive, same_shards, texts

MB = 1 << 20
LOOPBACK = "127.0.0.1"
NODE = dict(node_ip_address=LOOPBACK, num_cpus=1, object_store_memory=80 * MB)
GPT2 = str(SHARED / "tokenizers" / "gpt2-tokenizer.json")
SHARD_TOKENS = 50_000
HEAD_BOUND_S = 30  # a job whose head node died fails within this (measured: ~8 s)
JOIN_BOUND_S = 30  # a cluster without a node here to join is refused within this, imports included (~5 s)
GONE_S = 20  # the workers of a command are gone this long after it ended
INPUTS = [str(C4), str(OWT)]
DOC_COLUMNS = ["id", "text", "source", "url", "meta", "n_chars", "n_bytes", "content_hash", "input_row"]


# -- the cluster -------------------------------------------------------------------------------

class Nodes:
    """A Ray cluster of one head and worker nodes on 127.0.0.1, started in this process (no
    driver here). `kill(node)`: SIGKILL to the node's raylet, its workers and every process
    it runs. `seen`: the processes met under the raylets so far (pid -> psutil.Process)."""

    def __init__(self, workers: int):
        from ray._private.utils import get_ray_address_file
        from ray.cluster_utils import Cluster

        pointer = Path(get_ray_address_file(None))  # Cluster points `ray.init()` here at itself: put it back
        before = pointer.read_text() if pointer.exists() else None
        try:
            self.cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
        finally:
            if before is None:
                pointer.unlink(missing_ok=True)
            else:
                pointer.write_text(before)
        self.cluster_head_id = self.cluster.head_node.node_id
        for _ in range(workers):
            self.add()
        self.seen: dict[int, psutil.Process] = {}

    @property
    def address(self) -> str:
        return self.cluster.address

    @property
    def head(self):
        return self.cluster.head_node

    @property
    def workers(self) -> list:
        return sorted(self.cluster.worker_nodes, key=lambda n: n.node_id)

    def add(self):
        return self.cluster.add_node(**NODE)

    def note(self) -> None:
        for node in [self.head, *self.workers]:
            if node is None:  # the head, once killed
                continue
            try:
                raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
                for p in raylet.children(recursive=True):
                    self.seen.setdefault(p.pid, p)
            except (psutil.Error, KeyError, IndexError):
                pass

    def kill(self, node) -> int:
        """SIGKILL the whole node at once; the number of processes killed."""
        procs = []
        for infos in node.all_processes.values():
            for info in infos:
                try:
                    p = psutil.Process(info.process.pid)
                    procs += [p, *p.children(recursive=True)]
                except psutil.Error:
                    pass
        for p in procs:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        self.cluster.remove_node(node, allow_graceful=False)  # reaps them
        return len(procs)

    def winnow_workers(self) -> list[psutil.Process]:
        """winnow's Ray workers (actors of class Worker) seen on any node and still running."""
        left = []
        for p in alive(self.seen.values()):
            try:
                if p.name().startswith("ray::Worker"):
                    left.append(p)
            except psutil.Error:
                pass
        return left

    def shutdown(self) -> None:
        self.cluster.shutdown()


@pytest.fixture(scope="module")
def nodes():
    cluster = Nodes(workers=2)
    yield cluster
    cluster.shutdown()


# -- running a command on it -------------------------------------------------------------------

@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    units: list[tuple[str, int, str]] = field(default_factory=list)  # (event, index, node id)
    killed: str | None = None  # the node killed
    killed_at: float | None = None  # seconds into the command
    mid_unit: bool | None = None  # whether the node killed was running a unit of the job

    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error: ")]

    def nodes(self, event: str = "start") -> set[str]:
        return {node for e, _, node in self.units if e == event}


def run(nodes: Nodes, tmp_path: Path, *args, kill: str | None = None, every: bool = False,
        env: dict | None = None, timeout: float = 180) -> Run:
    """`winnow ARGS --engine ray --ray-address ADDRESS` in a process of its own. `kill`:
    'worker' kills a worker node as soon as it runs a unit (with `every`, once every node holds
    a worker of the job; in a job of quick units, one that holds an idle worker of the job),
    then a fresh node joins; 'head' kills the head node once a unit runs there. Then checks
    that no winnow worker is left on any node."""
    log = tmp_path / f"units-{time.monotonic_ns()}.log"
    env = {**(env or os.environ), "WINNOW_UNITS_LOG": str(log), "COLUMNS": "200"}
    command = [str(WINNOW), *map(str, args), "--engine", "ray", "--ray-address", nodes.address, "--no-progress"]
    t0 = time.monotonic()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    killed = killed_at = mid_unit = None
    try:
        while proc.poll() is None:
            nodes.note()
            if kill and killed is None:
                units = _units(log)
                placed = {n for e, _, n in units if e == "placed"}
                everywhere = placed >= {n.node_id for n in [nodes.head, *nodes.workers]}
                busy = _busy(units)
                victims = [nodes.head] if kill == "head" else nodes.workers
                target = next((v for v in victims if v.node_id in busy), None)
                if target is None and kill == "worker" and any(e == "done" for e, _, _ in units):
                    target = next((v for v in victims if v.node_id in placed), None)  # quick units: an idle worker
                if target is not None and (kill == "head" or everywhere or not every):
                    killed, killed_at, mid_unit = target.node_id, time.monotonic() - t0, target.node_id in busy
                    nodes.kill(target)
                    if kill == "worker":
                        nodes.add()  # the cluster is three nodes again; the job may place workers there
            time.sleep(0.02)
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    seconds = time.monotonic() - t0
    at = f"{killed_at:.1f} s in, {'mid-unit' if mid_unit else 'idle'}" if killed else "none"
    print(f"{seconds:6.1f} s  winnow {' '.join(map(str, args[:2]))} ... (node killed: {kill} {at}; "
          f"exit {proc.returncode})")
    deadline = time.monotonic() + GONE_S
    while nodes.winnow_workers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not nodes.winnow_workers(), f"winnow workers left {GONE_S} s after `{' '.join(command)}` ended"
    return Run(proc.returncode, stdout, stderr, seconds, _units(log), killed, killed_at, mid_unit)


def _units(log: Path) -> list[tuple[str, int, str]]:
    if not log.exists():
        return []
    rows = [line.split(" ", 4) for line in log.read_text().splitlines() if line.count(" ") >= 4]
    return [(r[0], int(r[1]), r[2]) for r in rows]  # (event, unit index or -1, node id)


def _busy(units) -> set[str]:
    """The nodes running a unit now: started there, not done or lost since."""
    running: dict[tuple[int, str], int] = {}
    for event, index, node in units:
        running[(index, node)] = running.get((index, node), 0) + (1 if event == "start" else -1)
    return {node for (_, node), n in running.items() if n > 0}


def finished(nodes: Nodes, tmp_path: Path, first: Run, *args, env: dict | None = None) -> Run:
    """`first` if it finished; else it failed in one line (exit 1, no traceback) and a rerun
    on the cluster finishes: that run."""
    if first.returncode == 0:
        return first
    assert first.returncode == 1 and len(first.errors()) == 1 and "Traceback" not in first.stderr, first
    again = run(nodes, tmp_path, *args, env=env)
    assert again.returncode == 0, again
    return again


def node_lost(r: Run) -> None:
    """A node of the job was killed mid-job; if it was running a unit, that unit was lost and
    ran again on another node (a job of quick units may have finished them all on the other
    nodes: then the node killed held an idle worker of the job)."""
    assert r.killed, f"no worker node held a worker of the job while it ran: {r}"
    lost = [i for e, i, n in r.units if e == "lost" and n == r.killed]
    assert lost or not r.mid_unit, r.units
    assert all(any(e == "done" and i == j and n != r.killed for e, j, n in r.units) for i in lost) or r.returncode


# -- the local run every lake is compared with -----------------------------------------------

@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The flow on the local engine, one step per folder: ingested (C4 and OpenWebText, in
    small commits: many fragments), scored (gopher, a fastText rater, minhash signatures),
    deduplicated (minhash), materialized (a selection of every document)."""
    root = tmp_path_factory.mktemp("local")
    model = quality_model(root / "quality.bin")
    lake = winnow.init(root / "ingested")
    winnow.ingest_files(lake, INPUTS, commit_bytes=1 << 18, workers=1)
    assert len(lake.docs().get_fragments()) >= 16
    shutil.copytree(root / "ingested", root / "scored")
    scored = winnow.open(root / "scored")
    winnow.score(scored, "gopher", workers=1)
    winnow.score(scored, "fasttext", params={"model": str(model)}, workers=1)
    winnow.score(scored, "minhash", workers=1)
    shutil.copytree(root / "scored", root / "signed")
    winnow.dedup(scored, "minhash", workers=1)
    winnow.select(scored, "all", "SELECT id FROM docs", seed=5)
    winnow.materialize(scored, "all", root / "shards", tokenizer=GPT2, shard_tokens=SHARD_TOKENS, workers=1)
    return root


def quality_model(path: Path) -> Path:
    """A fastText bigram classifier (OpenWebText pages as __label__hq, C4's as __label__cc),
    trained as DCLM's is, tiny (dim 16): a model rater's model, saved at `path`."""
    import fasttext_new

    rows = [f"__label__hq {' '.join(t.split())}" for t in texts(OWT, 300)]
    rows += [f"__label__cc {' '.join(t.split())}" for t in texts(C4, 200)]
    path.with_suffix(".txt").write_text("\n".join(rows) + "\n")
    model = fasttext_new.train_supervised(input=str(path.with_suffix(".txt")), lr=0.5, epoch=5, dim=16, wordNgrams=2,
                                          bucket=50_000, thread=1, seed=1, verbose=0)
    model.save_model(str(path))
    return path


def snapshot(lake) -> dict:
    """What an ingest on any engine must give: documents (every column but the ingest id), rejects."""
    docs = lake.docs().to_table(columns=DOC_COLUMNS).to_pylist()
    rejects = lake.dataset("rejects").to_table(columns=["input", "input_row", "reason", "detail", "raw"]).to_pylist()
    return {"docs": sorted(tuple(d.values()) for d in docs), "rejects": sorted(tuple(r.values()) for r in rejects)}


def columns(lake, names: list[str]) -> dict:
    t = lake.docs().to_table(columns=["id", *names]).sort_by("id")
    assert len(set(t["id"].to_pylist())) == t.num_rows  # nothing twice
    return {n: t[n].combine_chunks() for n in ["id", *names]}


def same_columns(lake, other, names: list[str]) -> None:
    """The two lakes hold the same ids and, for each, the same values of `names` (NaN = NaN)."""
    import pyarrow as pa

    mine, theirs = columns(lake, names), columns(other, names)
    for n in ["id", *names]:
        if pa.types.is_floating(mine[n].type):
            np.testing.assert_array_equal(mine[n].to_numpy(zero_copy_only=False),
                                          theirs[n].to_numpy(zero_copy_only=False), n)
        else:
            assert mine[n].equals(theirs[n]), n


# -- the tests ---------------------------------------------------------------------------------

# A scorer as a user writes one (the fraction of upper-case letters), whose workers meet
# before they score: each writes its process id into the folder `meet`, then waits (60 s at
# most) until `workers` have, so that every worker of the job, one per node, runs units.
MEETING = """
import os, time
import pyarrow as pa
from winnow.scoring import Param, Scorer


class Upper(Scorer):
    name = "upper_n"
    inputs = ("text",)
    parameters = {"meet": Param(str, "", "a folder where the workers meet"),
                  "workers": Param(int, 1, "how many meet there before any scores")}

    def outputs(self):
        return [pa.field("upper_n", pa.float64())]

    def score(self, batch):
        open(os.path.join(self.param("meet"), str(os.getpid())), "w").close()
        deadline = time.time() + 60
        while len(os.listdir(self.param("meet"))) < self.param("workers") and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        texts = batch.column("text").to_pylist()
        return {"upper_n": [sum(c.isupper() for c in t) / max(1, sum(c.isalpha() for c in t)) for t in texts]}
"""


def test_the_loopback_cluster_is_joined_every_node_works_and_a_lost_node_loses_nothing(nodes, local, tmp_path):
    """A scorer of the user's on a lake on disk: the cluster at 127.0.0.1:PORT is joined,
    every node runs units, then a worker node is killed mid-unit; every value is right."""
    shutil.copytree(local / "ingested", tmp_path / "lake")
    (tmp_path / "upper_n.py").write_text(MEETING)
    (tmp_path / "meet").mkdir()
    every = {n.node_id for n in [nodes.head, *nodes.workers]}
    args = ["score", tmp_path / "lake", f"{tmp_path / 'upper_n.py'}:Upper", "-p", f"meet={tmp_path / 'meet'}",
            "-p", "workers=3", "--workers", "3"]
    r = run(nodes, tmp_path, *args, kill="worker", every=True)
    assert r.nodes("start") >= every and r.nodes("placed") >= every, (r.units, every)  # work on every node
    node_lost(r)
    finished(nodes, tmp_path, r, *args)
    t = winnow.open(tmp_path / "lake").docs().to_table(columns=["id", "text", "upper_n"])
    assert t.num_rows == len(set(t["id"].to_pylist())) == 1445
    assert t["upper_n"].to_pylist() == [sum(c.isupper() for c in x) / max(1, sum(c.isalpha() for c in x))
                                        for x in t["text"].to_pylist()]


def test_the_whole_flow_on_s3_loses_nothing_to_lost_nodes(nodes, local, s3_endpoint, tmp_path):
    """moto's S3 server on 127.0.0.1 holds the lake; every job runs on the cluster, and a
    worker node is killed in each but scoring (killed mid-unit in the test above): ingest,
    score (a fastText rater, gopher and minhash), dedup --method minhash, materialize. A step
    may finish before any of its units reached a worker node (Ray placed them on the head):
    then nothing was killed in it, and at least two of the three lost a node. Each step's
    lake (or shards) equals the local run's."""
    options = {"aws_endpoint": s3_endpoint, "allow_http": "true", "aws_access_key_id": "testing",
               "aws_secret_access_key": "testing", "aws_region": "us-east-1"}
    env = {**os.environ, "WINNOW_STORAGE_OPTIONS": json.dumps(options)}
    uri = "s3://lakes/nodes"
    winnow.init(uri, options)
    model = ["-p", f"model={local / 'quality.bin'}"]
    steps = [["ingest", uri, *INPUTS], ["score", uri, "fasttext", "gopher", "minhash", *model],
             ["dedup", uri, "--method", "minhash"],
             ["materialize", uri, "all", "--out", tmp_path / "shards", "--tokenizer", GPT2, "--shard-tokens",
              SHARD_TOKENS]]
    lost = []
    for step, args in enumerate(steps):
        if args[0] == "materialize":
            winnow.select(winnow.open(uri, options), "all", "SELECT id FROM docs", seed=5)
        r = run(nodes, tmp_path, *args, "--workers", "3", kill=None if args[0] == "score" else "worker", env=env)
        if r.killed:
            node_lost(r)
            lost.append(args[0])
        else:
            assert r.returncode == 0, r
        finished(nodes, tmp_path, r, *args, "--workers", "3", env=env)
        lake = winnow.open(uri, options)
        if args[0] == "ingest":
            assert snapshot(lake) == snapshot(winnow.open(local / "ingested"))
        elif args[0] in ("score", "dedup"):
            names = [n for n in lake.docs().schema.names if n.startswith(("quality", "gopher_", "minhash", "dup_"))]
            assert len(names) == 1 + 21 + 1 + (2 if args[0] == "dedup" else 0)
            same_columns(lake, winnow.open(local / "scored"), names)
    same_shards(local / "shards", tmp_path / "shards", other_lake=True)  # on S3, the other on disk
    assert len(lost) >= 2, f"a node was lost in {lost} only"


def test_the_head_node_lost_mid_job_fails_in_one_line_and_a_new_cluster_finishes(nodes, local, tmp_path):
    """Last: it ends the module's cluster. The head holds the cluster's state (its GCS): the
    job cannot go on; it fails in one line within HEAD_BOUND_S, its catalog row says failed,
    the lake's columns are whole (committed fragments only), and a rerun on a new cluster
    finishes with the local run's columns. That cluster's raylet killed, its GCS alive, it
    cannot be joined: refused in one line within JOIN_BOUND_S."""
    shutil.copytree(local / "ingested", tmp_path / "lake")
    r = run(nodes, tmp_path, "score", tmp_path / "lake", "gopher", "--workers", "3", kill="head")
    assert r.killed == nodes.cluster_head_id, r
    assert r.returncode == 1 and len(r.errors()) == 1 and "Traceback" not in r.stderr, r
    assert "the Ray cluster's head node is gone" in r.errors()[0]
    assert r.seconds - r.killed_at < HEAD_BOUND_S, r
    lake = winnow.open(tmp_path / "lake")
    names = [n for n in winnow.open(local / "scored").docs().schema.names if n.startswith("gopher_")]
    status = winnow.query(lake, f"SELECT status FROM metrics WHERE metric = '{names[0]}'")["status"].to_pylist()
    assert status == ["failed"]
    theirs = {n: a.to_numpy(zero_copy_only=False) for n, a in columns(winnow.open(local / "scored"), names).items()}
    if names[0] in lake.docs().schema.names:  # what was committed is whole and right
        t = lake.docs().to_table(columns=["id", *names], filter=f"{names[0]} IS NOT NULL").sort_by("id")
        at = np.searchsorted(theirs["id"], t["id"].to_numpy(zero_copy_only=False))
        for n in names:
            np.testing.assert_array_equal(t[n].to_numpy(zero_copy_only=False), theirs[n][at], n)
    fresh = Nodes(workers=0)
    try:
        again = run(fresh, tmp_path, "score", tmp_path / "lake", "gopher", "--workers", "1")
        assert again.returncode == 0, again
        # A cluster that cannot be joined (its GCS answers, no raylet does) is refused in seconds.
        raylet = psutil.Process(fresh.head.all_processes["raylet"][0].process.pid)
        for p in [raylet, *raylet.children(recursive=True)]:
            p.kill()
        t0 = time.monotonic()
        refused = subprocess.run([str(WINNOW), "score", tmp_path / "lake", "rps", "--engine", "ray", "--ray-address",
                                  fresh.address, "--no-progress"], capture_output=True, text=True, timeout=120)
        assert time.monotonic() - t0 < JOIN_BOUND_S and refused.returncode == 2, refused
        assert refused.stderr.startswith("error: ") and len(refused.stderr.strip().splitlines()) == 1, refused
        assert "no live node on this machine (127.0.0.1" in refused.stderr and "none alive" in refused.stderr
    finally:
        fresh.shutdown()
    same_columns(winnow.open(tmp_path / "lake"), winnow.open(local / "scored"), names)
