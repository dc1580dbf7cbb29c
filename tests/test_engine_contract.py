"""An engine is one class in one file: jobs ask an engine what it can do, never its name.

A small engine defined here (units on threads of this process, declared as not running in
this process, so that ingest takes the partitioned path) runs ingest, score, dedup and
materialize, and gives the same lake and the same shard bytes as the local engine."""

from __future__ import annotations

import re
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import pytest

import winnow
from winnow.lake.engine import RETRIES, Engine

from .helpers import C4, OWT, SHARED

ROOT = Path(__file__).resolve().parents[1]
GPT2 = SHARED / "tokenizers" / "gpt2-tokenizer.json"
PACKAGES = ("lake", "ingest", "scoring", "sql", "train", "winnow")
# a test of an engine's kind by its name, or by its class
BY_NAME = re.compile(r"""\.name\s*(==|!=|\bin\b|\bnot\s+in\b)|["'](local|ray)["']\s*(==|!=)\s*\w*\.?name\b"""
                     r"""|isinstance\([^)]*\b(LocalEngine|RayEngine)\b""")


def engine_name_tests(text: str) -> list[str]:
    """The lines of `text` that test an engine's name or class."""
    return [line.strip() for line in text.splitlines()
            if BY_NAME.search(line) and re.search(r"\b(eng|engine|runner)\b|Engine\b", line)]


def test_no_job_tests_an_engine_by_name():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "lake" / "engine.py":
                continue
            found += [f"{path.relative_to(ROOT)}: {line}" for line in engine_name_tests(path.read_text())]
    assert not found, "jobs must ask an engine what it can do, not what it is called:\n" + "\n".join(found)


def test_the_name_check_sees_a_test_by_name():
    assert engine_name_tests('    if runner.name == "local":\n        pass\n')
    assert engine_name_tests('if eng.name != "ray" and x:')
    assert engine_name_tests("ok = isinstance(engine, RayEngine)")
    assert not engine_name_tests("report.engine = runner.name")
    assert not engine_name_tests('names = [f.name for f in fields if f.name == "id"]')


class ThreadEngine(Engine):
    """Units on a pool of threads, each thread with its own state (`init` once per thread)."""

    name = "threads"
    title = "thread"
    runs_in_process = False  # as if its workers were elsewhere: the partitioned ingest, no in-process shortcut

    def map(self, fn, units, *, init=None, args=(), num_gpus=0, retries=RETRIES, describe=repr):
        mine = threading.local()
        started = []

        def run(unit):
            if not hasattr(mine, "state"):
                mine.state = init(*args) if init is not None else None
                started.append(threading.get_ident())
            return fn(mine.state, unit)

        with ThreadPoolExecutor(min(self.size(num_gpus), max(1, len(units)))) as pool:
            running = {pool.submit(run, unit): i for i, unit in enumerate(units)}
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield running.pop(future), future.result()
        self.threads_started = len(set(started))


def flow(lake, engine, out: Path):
    """ingest -> score -> dedup -> select -> materialize on `engine`; the docs and the shards."""
    winnow.ingest_files(lake, [str(OWT), str(C4)], engine=engine)
    winnow.ingest_files(lake, [str(OWT)], engine=engine, reingest=True)  # every document a duplicate now
    for scorer in ("gopher", "minhash"):
        winnow.score(lake, scorer, engine=engine)
    winnow.dedup(lake, "minhash", threshold=0.8, engine=engine)
    winnow.select(lake, "kept", "SELECT id FROM docs WHERE dup_keep")
    report = winnow.materialize(lake, "kept", out, tokenizer=str(GPT2), shard_tokens=200_000, engine=engine)
    docs = winnow.query(lake, "SELECT * EXCLUDE (ingest_id) FROM docs ORDER BY id")
    return docs, report


def test_an_engine_defined_in_a_test_runs_every_job_like_the_local_one(tmp_path):
    threads = ThreadEngine(2)
    docs, report = flow(winnow.init(tmp_path / "threads"), threads, tmp_path / "shards-threads")
    assert threads.threads_started == 2  # the materialization ran on both threads
    local_docs, local_report = flow(winnow.init(tmp_path / "local"), winnow.engine("local", workers=2),
                                    tmp_path / "shards-local")
    assert docs.num_rows == local_docs.num_rows > 1400 and docs.equals(local_docs)
    assert report.engine == "threads" and (report.documents, report.tokens) == (local_report.documents,
                                                                                local_report.tokens)
    shards = sorted(p.name for p in (tmp_path / "shards-threads").glob("*.bin"))
    assert shards and shards == sorted(p.name for p in (tmp_path / "shards-local").glob("*.bin"))
    for name in shards:
        assert (tmp_path / "shards-threads" / name).read_bytes() == (tmp_path / "shards-local" / name).read_bytes()


def test_an_engine_that_does_not_run_here_cannot_reach_a_memory_lake():
    lake = winnow.init("memory://engine-contract/lake")
    with pytest.raises(winnow.UsageError, match="a memory:// lake lives in this process only"):
        winnow.ingest_files(lake, [str(C4)], engine=ThreadEngine(2))
    assert lake.docs().count_rows() == 0
