"""Ingest on both engines (ingest/local.py, ingest/partitioned.py) gives the same lake, on the
real data of ../shared/data plus a slow input and a fast one that share documents: the same
documents with the same ids and column values, the same rejects, the same balanced counts,
and the duplicate kept is the first by input order, then row, whichever worker reads first.
A Ray worker killed mid-ingest, or the whole ingest killed and run again, loses nothing and
duplicates nothing. A real Ray cluster runs on 127.0.0.1 with this machine's 2 CPUs."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import lance
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow
from winnow.ingest.inorder import InputOrder
from winnow.ingest.ranges import byte_ranges, open_range
from winnow.lake import UsageError

from .helpers import C4, DATA, GITHUB, OWT, WARCS, fails, lake_state, lines

SHARED = 20  # documents the slow and the fast input share, and OpenWebText holds too
RANGE_BYTES = 1 << 20  # small byte ranges: the partitioned runner splits the JSON lines files
DOC_COLUMNS = ["id", "text", "source", "url", "meta", "n_chars", "n_bytes", "content_hash", "input_row"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    """C4; slow.jsonl (14 MB: OpenWebText three times over, each text prefixed, then SHARED of
    its documents as they are); fast.jsonl (the same SHARED under other ids, five C4 lines, a
    new text under an OpenWebText id, four bad lines); a parquet file and a truncated-line
    .jsonl.gz; then ../shared/data (whose C4 file is skipped: the same bytes as C4, given first)."""
    folder = tmp_path_factory.mktemp("inputs")
    owt = [json.loads(line) for line in lines(OWT)]
    slow, fast = folder / "slow.jsonl", folder / "fast.jsonl"
    with open(slow, "w") as f:
        for rep in range(3):
            for i, d in enumerate(owt):
                f.write(json.dumps({"id": f"slow-{rep}-{i}", "text": f"[{rep}] {d['text']}"}) + "\n")
        for i, d in enumerate(owt[:SHARED]):
            f.write(json.dumps({"id": f"slow-tail-{i}", "text": d["text"]}) + "\n")
    body = [json.dumps({"id": f"fast-{i}", "text": d["text"]}).encode() + b"\n" for i, d in enumerate(owt[:SHARED])]
    body += lines(C4)[:5]
    body.append(json.dumps({"id": owt[100]["id"], "text": "A new text under an OpenWebText id."}).encode() + b"\n")
    body += [b'{"id": "b1", "text": "unterminated\n', b'{"id": "b2", "body": "no text field"}\n',
             b'{"id": "b3", "text": "   "}\n', b'{"id": "b4", "text": null}\n']
    fast.write_bytes(b"".join(body))
    other = folder / "other"  # formats read whole: parquet, gzip-compressed JSON lines
    other.mkdir()
    pq.write_table(pa.Table.from_pylist([{"text": f"[pq] {d['text']}", "url": f"https://example.org/{i}"}
                                         for i, d in enumerate(owt[:60])]), other / "part.parquet")
    (other / "part.jsonl.gz").write_bytes(gzip.compress(b"".join(lines(GITHUB)[:10]) + b"{broken\n"))
    return [str(C4), str(slow), str(fast), str(other), str(DATA)]


def snapshot(lake) -> dict:
    """What both engines must agree on: documents (every column but the ingest id), rejects,
    and each input's counts and status."""
    docs = lake.docs().to_table(columns=DOC_COLUMNS).to_pylist()
    rejects = lake.dataset("rejects").to_table(columns=["input", "input_row", "reason", "detail", "raw"]).to_pylist()
    counts = winnow.query(lake, "SELECT input, status, n_read, n_written, n_duplicates, n_rejected FROM ingests "
                                "QUALIFY row_number() OVER (PARTITION BY ingest_id ORDER BY ended_at DESC "
                                "NULLS LAST) = 1 ORDER BY input").to_pylist()
    return {"docs": sorted(tuple(d.values()) for d in docs), "rejects": sorted(tuple(r.values()) for r in rejects),
            "counts": counts}


@pytest.fixture(scope="module")
def local_lake(tmp_path_factory, inputs):
    lake = winnow.init(tmp_path_factory.mktemp("local") / "lake")
    report = winnow.ingest_files(lake, inputs, workers=2)
    return lake, report


def test_local_and_ray_give_the_same_lake(ray_cluster, local_lake, inputs, tmp_path):
    lake, local = local_lake
    ray_lake = winnow.init(tmp_path / "lake")
    on_ray = winnow.ingest_files(ray_lake, inputs, workers=2, engine="ray", range_bytes=RANGE_BYTES)
    by_name = {f.input.rsplit("/", 1)[-1]: f for f in on_ray.files if f.status != "skipped"}
    assert set(by_name) == {C4.name, "slow.jsonl", "fast.jsonl", "part.parquet", "part.jsonl.gz", GITHUB.name,
                            OWT.name, *(w.name for w in WARCS)}
    assert [(f.input, f.status, f.read, f.written, f.duplicates, f.rejected) for f in on_ray.files] == \
           [(f.input, f.status, f.read, f.written, f.duplicates, f.rejected) for f in local.files]
    assert all(f.balanced for f in on_ray.files) and on_ray.first_rejects == local.first_rejects
    assert snapshot(ray_lake) == snapshot(lake)
    # The rule: the first by input order, then row. slow.jsonl is read while fast.jsonl is
    # long done, yet its copies of the shared documents are the ones kept.
    ids = set(ray_lake.docs().to_table(columns=["id"])["id"].to_pylist())
    assert {f"slow-tail-{i}" for i in range(SHARED)} <= ids and not any(i.startswith("fast-") for i in ids)
    owt = [json.loads(line) for line in lines(OWT)]
    assert not {d["id"] for d in owt[:SHARED]} & ids  # OpenWebText's own copies are duplicates
    assert by_name[OWT.name].duplicates == SHARED
    # fast.jsonl took OpenWebText's 101st id first: that document's id is its content hash.
    row = winnow.query(ray_lake, f"SELECT id, content_hash FROM docs WHERE input_row = 101 "
                                 f"AND ingest_id = '{by_name[OWT.name].ingest_id}'").to_pylist()[0]
    assert row["id"] == row["content_hash"] and owt[100]["id"] in ids
    assert by_name[C4.name].written == 445 and by_name["fast.jsonl"].rejected == 4
    assert by_name["part.parquet"].written == 60 and by_name["part.jsonl.gz"].rejected == 1
    assert by_name[GITHUB.name].duplicates == 10  # part.jsonl.gz held its first ten
    assert by_name["fast.jsonl"].duplicates == SHARED + 5  # its C4 lines: C4 was given first
    assert "same bytes" in next(f.note for f in on_ray.files if f.status == "skipped")
    assert not (Path(ray_lake.uri) / "_staging").exists()  # the run's staging folder is gone


def _workers_running(pid: int) -> list[psutil.Process]:
    """Ray actors of this test's cluster that are running a unit."""
    found = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if p.name() == "ray::Worker.run":
                found.append(p)
        except psutil.Error:
            pass
    return found


def test_a_ray_worker_killed_mid_write_loses_nothing_and_duplicates_nothing(ray_cluster, local_lake, inputs,
                                                                            tmp_path):
    lake = winnow.init(tmp_path / "lake")
    data = Path(lake.table_uri("docs")) / "data"
    killed = []

    def kill_one_writer():  # once fragments are being written (pass 3), kill a worker mid-unit
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            running = _workers_running(os.getpid())
            if running and data.is_dir() and any(data.iterdir()):
                running[0].send_signal(signal.SIGKILL)
                killed.append(running[0].pid)
            time.sleep(0.005)

    killer = threading.Thread(target=kill_one_writer)
    killer.start()
    report = winnow.ingest_files(lake, inputs, workers=2, engine="ray", range_bytes=RANGE_BYTES // 4)
    killer.join()
    assert killed, "no worker was running a unit while fragments were written"
    assert all(f.balanced for f in report.files)
    assert snapshot(lake) == snapshot(local_lake[0])
    again = winnow.ingest_files(lake, inputs, workers=2, engine="ray")
    assert {f.status for f in again.files} == {"skipped"} and snapshot(lake) == snapshot(local_lake[0])


def test_a_killed_ray_ingest_resumes_to_the_lake_an_unkilled_one_gives(ray_cluster, local_lake, inputs, tmp_path):
    lake = winnow.init(tmp_path / "lake")
    code = ("import sys, winnow\n"
            "winnow.ingest_files(winnow.open(sys.argv[1]), sys.argv[3:], workers=2, engine='ray', "
            "ray_address=sys.argv[2], range_bytes=1 << 19, commit_bytes=1 << 19)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, lake.uri, ray_cluster, *inputs], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 150
    while lance.dataset(lake.table_uri("docs")).version < 6:  # a few commits have landed
        assert proc.poll() is None, f"the ingest ended before it could be killed: {proc.stderr.read().decode()}"
        assert time.time() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = lake.docs().count_rows()
    assert 0 < partial < local_lake[0].docs().count_rows()
    resumed = winnow.ingest_files(lake, inputs, workers=2, engine="ray", range_bytes=RANGE_BYTES)
    assert "resumed" in {f.status for f in resumed.files} and all(f.balanced for f in resumed.files)
    assert snapshot(lake) == snapshot(local_lake[0])


def test_an_unreachable_ray_address_is_one_line_and_writes_nothing(tmp_path):
    path = tmp_path / "lake"
    lake = winnow.init(path)
    before = lake_state(lake)
    line = fails("ingest", path, GITHUB, "--engine", "ray", "--ray-address", "127.0.0.1:9", "--no-progress",
                 code=2, contains="--ray-address 127.0.0.1:9: no Ray cluster answers there", timeout=120)
    assert "ray start --head" in line
    fails("ingest", path, GITHUB, "--engine", "spark", "--no-progress", code=2, contains="use one of local, ray",
          timeout=120)
    assert lake_state(winnow.open(path)) == before


def test_ray_refuses_a_lake_that_lives_in_this_process(ray_cluster):
    lake = winnow.init("memory://winnow-engines/lake")
    before = lake_state(lake)
    with pytest.raises(UsageError, match="memory://.* lives in this process only"):
        winnow.ingest_files(lake, [str(GITHUB)], engine="ray")
    assert lake_state(lake) == before


# -- the parts: byte ranges and the local runner's input order ------------------------------------


def test_byte_ranges_end_on_lines_and_cover_the_file_once():
    data = OWT.read_bytes()
    for size in (1, 1000, 1 << 16, 1 << 20, len(data) - 1, len(data), 10 * len(data)):
        ranges = byte_ranges(str(OWT), len(data), size)
        assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(ranges, ranges[1:]))
        assert all(data[end - 1:end] == b"\n" for _, end in ranges)
        assert [line for s, e in ranges for line in open_range(str(OWT), s, e)] == lines(OWT)
        assert len(ranges) == 1 or len(ranges) >= len(data) // max(size, max(map(len, lines(OWT)))) // 2


def test_messages_come_out_in_input_order_and_spill_to_disk_past_the_budget():
    def batch(key, n):
        return ("batch", key, pa.table({"text": ["x" * 1000] * n}), [], n, 0)

    arrivals = [batch(2, 5), batch(1, 3), ("done", 2), batch(0, 1), batch(1, 4), ("done", 1), batch(0, 2),
                ("failed", 0, "cannot read")]
    order = InputOrder([0, 1, 2], memory_bytes=4000)
    out = [m for a in arrivals for m in order.arrive(a)]
    order.close()
    assert [(m[0], m[1], m[4] if m[0] == "batch" else None) for m in out] == [
        ("batch", 0, 1), ("batch", 0, 2), ("failed", 0, None), ("batch", 1, 3), ("batch", 1, 4), ("done", 1, None),
        ("batch", 2, 5), ("done", 2, None)]
    assert order.spilled >= 3  # past 4,000 bytes held, later messages went to disk and came back
    assert out[6][2].num_rows == 5 and isinstance(out[6][2], pa.Table)


def test_ranges_stream_is_bytes():
    assert isinstance(open_range(str(GITHUB), 0, 10), io.BytesIO)
