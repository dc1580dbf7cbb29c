"""Ingest under abuse: killed parents, bad option values, wrong flags, re-ingests on purpose,
small commits, and the reader contract."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import time

import lance
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow
from winnow.ingest import READERS, FieldNames, Reader, format_of
from winnow.ingest.readers import Reject, read
from winnow.lake import UsageError
from winnow.lake.workers import is_worker

from .helpers import C4, GITHUB, OWT, WARCS, WINNOW, alive, cli, fails, lake_state, lines

# -- workers never outlive the runner ---------------------------------------------------------


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _workers(pid: int) -> list[psutil.Process]:
    found = []
    for p in _descendants(pid):
        try:
            if is_worker(p.cmdline(), p.parent().cmdline()):
                found.append(p)
        except (psutil.Error, AttributeError):  # gone, or its parent gone
            pass
    return found


def _reading(worker: psutil.Process, names: set[str]) -> bool:
    try:
        return any(os.path.basename(f.path) in names for f in worker.open_files())
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def big_inputs(tmp_path_factory):
    """Two ~180 MB JSON lines files of real OpenWebText documents, repeated, so that each of
    two workers is mid-file when the runner is killed (at ~90 MB, beside a second pytest-xdist
    worker, an ingest once ended before both of its workers were seen reading)."""
    folder = tmp_path_factory.mktemp("big")
    owt = lines(OWT)
    paths = []
    for name, body in (("big-a.jsonl", b"".join(owt)), ("big-b.jsonl", b"".join(reversed(owt)))):
        path = folder / name
        with open(path, "wb") as f:
            for _ in range(40):
                f.write(body)
        paths.append(path)
    return paths


@pytest.mark.parametrize("moment", ["starting", "reading", "blocked"])
def test_workers_die_with_their_runner(tmp_path, big_inputs, moment):
    """kill -9 of `winnow ingest`: its workers go too, whether they were still importing
    (starting), parsing (reading), or waiting on a full queue behind a stopped runner."""
    lake = tmp_path / "lake"
    cli("init", lake)
    proc = subprocess.Popen(
        [str(WINNOW), "ingest", str(lake), *map(str, big_inputs), "--workers", "2", "--commit-mb", "1",
         "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    names = {p.name for p in big_inputs}
    children: list[psutil.Process] = []
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, "the ingest ended before it could be killed"
            assert time.time() < deadline, "the ingest's workers never got going"
            workers = _workers(proc.pid)
            if len(workers) == 2 and (moment == "starting" or all(_reading(w, names) for w in workers)):
                break
            time.sleep(0.01)
        if moment == "blocked":
            os.kill(proc.pid, signal.SIGSTOP)  # the result queue fills up; workers wait to put
            time.sleep(2)
        children = _descendants(proc.pid)
        assert len(children) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        gone_by = time.time() + 15
        while alive(children) and time.time() < gone_by:
            time.sleep(0.1)
        left = alive(children)
        assert not left, f"alive after the runner was killed ({moment}): {[p.cmdline() for p in left]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in alive(children):
            p.kill()


# -- option values are checked before anything is written ----------------------------------


def test_bad_values_on_the_command_line_are_usage_errors(tmp_path):
    lake = tmp_path / "lake"
    cli("init", lake)
    before = lake_state(winnow.open(lake))
    for flags, named in ((["--workers", "-1"], "--workers"), (["--max-doc-bytes", "0"], "--max-doc-bytes"),
                         (["--commit-mb", "0"], "--commit-mb")):
        line = fails("ingest", lake, GITHUB, "--no-progress", *flags, code=2, contains=named, timeout=120)
        assert "must be" in line
    assert lake_state(winnow.open(lake)) == before


@pytest.mark.parametrize(
    "options, named",
    [
        ({"workers": -1}, "--workers"),
        ({"workers": 0}, "--workers"),
        ({"workers": 1.5}, "--workers"),
        ({"workers": True}, "--workers"),
        ({"max_doc_bytes": 0}, "--max-doc-bytes"),
        ({"max_doc_bytes": -5}, "--max-doc-bytes"),
        ({"commit_bytes": 0}, "--commit-mb"),
        ({"batch_docs": 0}, "batch_docs"),
        ({"source": " "}, "--source"),
        ({"fields": FieldNames(text="")}, "--text-field"),
        ({"fields": FieldNames(id="")}, "--id-field"),
    ],
)
def test_bad_values_through_the_api_are_usage_errors(lake, options, named):
    before = lake_state(lake)
    with pytest.raises(UsageError, match=named):
        winnow.ingest_files(lake, [str(GITHUB)], **options)
    assert lake_state(lake) == before


def test_no_inputs_is_a_usage_error(lake):
    with pytest.raises(UsageError, match="no inputs"):
        winnow.ingest_files(lake, [])


# -- a wrong flag does not lock an input out --------------------------------------------------


def _ingests(lake, path) -> list[dict]:
    return winnow.query(lake, f"SELECT ingest_id, status, n_read, n_rejected, options FROM ingests "
                              f"WHERE input = '{path}' ORDER BY started_at").to_pylist()


def test_a_wrong_text_field_fails_loudly_and_the_right_one_still_ingests(tmp_path):
    path = tmp_path / "c4.jsonl"
    shutil.copy(C4, path)
    lake_dir = tmp_path / "lake"
    cli("init", lake_dir)
    line = fails("ingest", lake_dir, path, "--text-field", "typo", "--no-progress", code=1)
    assert str(path) in line and "all 449 records were rejected" in line
    assert "missing_text" in line and "--text-field" in line
    lake = winnow.open(lake_dir)
    [failed] = _ingests(lake, path)
    assert (failed["status"], failed["n_read"], failed["n_rejected"]) == ("failed", 449, 449)
    assert '"text_field":"typo"' in failed["options"]
    rejects = winnow.query(lake, "SELECT reason, count(*) AS n FROM rejects GROUP BY reason").to_pylist()
    assert rejects == [{"reason": "missing_text", "n": 449}]  # the reasons are kept
    assert lake.docs().count_rows() == 0

    f = winnow.ingest_files(lake, [str(path)]).files[0]  # the right flags: not "already ingested"
    assert (f.status, f.read, f.written, f.duplicates, f.rejected) == ("ingested", 449, 445, 4, 0)
    again = winnow.ingest_files(lake, [str(path)]).files[0]
    assert again.status == "skipped" and "already ingested" in again.note and "--reingest" in again.note
    out = cli("ingest", lake_dir, path, "--reingest", "--no-progress").stdout  # on purpose: all dedup
    assert "read 449 = written 0 + duplicates 449 + rejected 0" in out


def test_the_same_failing_options_fail_again_and_keep_one_set_of_rejects(lake, tmp_path):
    report = winnow.ingest_files(lake, [str(GITHUB)], max_doc_bytes=10)
    f = report.files[0]
    assert f.status == "failed" and "too_large" in f.note and "--max-doc-bytes" in f.note
    assert f.balanced and f.rejected == f.read == 50
    again = winnow.ingest_files(lake, [str(GITHUB)], max_doc_bytes=10).files[0]
    assert again.status == "failed" and again.balanced and again.read == 50
    assert winnow.query(lake, "SELECT count(*) AS n FROM rejects")["n"][0].as_py() == 50


def test_options_that_change_what_a_file_yields_are_part_of_its_identity(lake, tmp_path):
    first = winnow.ingest_files(lake, [str(C4)]).files[0]
    assert (first.written, first.duplicates) == (445, 4)
    # A smaller size limit yields other documents: read again, deduplicated against the lake.
    smaller = winnow.ingest_files(lake, [str(C4)], max_doc_bytes=2000).files[0]
    assert smaller.status == "ingested" and smaller.balanced and smaller.read == 449
    assert smaller.written == 0 and smaller.rejected > 0
    assert "other options" in smaller.note and "max_doc_bytes=2000" in smaller.note
    assert winnow.ingest_files(lake, [str(C4)], max_doc_bytes=2000).files[0].status == "skipped"
    # The same bytes under a .txt name are another format: one document, the whole file.
    as_text = tmp_path / "c4.txt"
    shutil.copy(C4, as_text)
    t = winnow.ingest_files(lake, [str(as_text)]).files[0]
    assert (t.status, t.read, t.written) == ("ingested", 1, 1)
    # Field names do not apply to formats that name their own fields (text, WARC).
    warc = winnow.ingest_files(lake, [str(WARCS[0])]).files[0]
    again = winnow.ingest_files(lake, [str(WARCS[0])], fields=FieldNames(text="body")).files[0]
    assert warc.written > 0 and again.status == "skipped"
    # Nor does the source name: a label, not content.
    assert winnow.ingest_files(lake, [str(C4)], source="other").files[0].status == "skipped"


def test_reingest_reads_an_input_again_on_purpose(lake):
    first = winnow.ingest_files(lake, [str(GITHUB)]).files[0]
    assert first.written == 50
    lake.docs().delete("input_row <= 5")  # documents removed from the lake since
    assert winnow.ingest_files(lake, [str(GITHUB)]).files[0].status == "skipped"
    again = winnow.ingest_files(lake, [str(GITHUB)], reingest=True).files[0]
    assert (again.status, again.read, again.written, again.duplicates) == ("ingested", 50, 5, 45)
    assert again.ingest_id != first.ingest_id and "on purpose" in again.note
    assert lake.docs().count_rows() == 50
    done = [i for i in _ingests(lake, GITHUB) if i["status"] == "done"]
    assert len(done) == 2


def test_a_catalog_from_before_options_were_recorded_still_works(lake):
    winnow.ingest_files(lake, [str(GITHUB)])
    older = lake.dataset("ingests").to_table().drop_columns(["options"])
    lance.write_dataset(older, lake.table_uri("ingests"), mode="overwrite")
    assert "options" not in lake.dataset("ingests").schema.names
    lake = winnow.open(lake.uri)  # opening adds the column (null in the older rows)
    f = winnow.ingest_files(lake, [str(GITHUB)]).files[0]
    assert f.status == "skipped"  # an ingest recorded without options had the defaults
    assert "options" in lake.dataset("ingests").schema.names
    assert winnow.ingest_files(lake, [str(C4)]).files[0].written == 445


# -- commits smaller than a worker's batch ------------------------------------------------------


def test_commit_bytes_below_the_worker_batch_commit_that_often(lake):
    before = len(lake.docs().versions())
    f = winnow.ingest_files(lake, [str(OWT)], workers=1, commit_bytes=1 << 20).files[0]
    assert f.written == 1000
    text_mb = winnow.query(lake, "SELECT sum(n_bytes) AS b FROM docs")["b"][0].as_py() / 2**20
    commits = len(lake.docs().versions()) - before
    assert commits >= int(text_mb) >= 4  # a commit per MB of text, not one per 16 MB batch


# -- readers: a small contract, one registry, resume done once ---------------------------------


def _samples(tmp_path) -> dict[str, tuple[str, bytes]]:
    owt = lines(OWT)[:40]
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([json.loads(line) for line in owt]), buf)
    return {
        "jsonl": ("part.jsonl.gz", gzip.compress(b"".join(owt) + b"{broken\n")),
        "parquet": ("part.parquet", buf.getvalue()),
        "text": ("note.txt", json.loads(owt[0])["text"].encode()),
        "warc": (WARCS[0].name, WARCS[0].read_bytes()),
    }


def _records(fmt: str, name: str, data: bytes, start_row: int) -> list:
    from winnow.ingest.readers import open_decompressed

    reader = READERS[fmt]
    stream = io.BytesIO(data)
    stream = open_decompressed(stream, name) if reader.decompress else stream
    return list(read(reader, stream, start_row))


def test_every_reader_resumes_through_the_one_read_loop(tmp_path):
    samples = _samples(tmp_path)
    assert set(samples) == set(READERS)
    for fmt, (name, data) in samples.items():
        assert format_of(name) == fmt and READERS[fmt].name == fmt
        whole = _records(fmt, name, data, 0)
        assert [row for row, _ in whole] == list(range(1, len(whole) + 1))
        for start in (1, len(whole) // 2, len(whole)):
            assert _records(fmt, name, data, start) == whole[start:], (fmt, start)
    # a broken stream is one reject at the row where it broke
    cut = gzip.compress(b"".join(lines(OWT)[:100]))
    records = _records("jsonl", "x.jsonl.gz", cut[: len(cut) // 2], 0)
    assert records[-1][1].reason == "corrupt_compression" and records[-1][0] == len(records)


def test_a_new_format_is_one_reader_class():
    class Lines(Reader):  # one document per line of plain text
        name = "lines"
        suffixes = (".lines",)

        def units(self, stream):
            return iter(stream)

        def parse(self, line: bytes):
            text = line.decode("utf-8", errors="replace").strip()
            return {"text": text} if text else Reject.of("empty_text", "blank line")

    data = b"one\n\ntwo\nthree\n"
    got = list(read(Lines(), io.BytesIO(data), 2))
    assert got == [(3, {"text": "two"}), (4, {"text": "three"})]
    assert not hasattr(winnow.ingest, "FORMATS")  # the registry is READERS, keyed by format
