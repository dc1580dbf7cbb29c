"""A killed ingest resumes exactly; concurrent writers; lakes at non-path URIs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import lance

import winnow

from .helpers import C4, GITHUB, OWT, WINNOW, cli, resampled_corpus


def snapshot(lake):
    docs = lake.docs().to_table(columns=["id", "content_hash", "input_row"]).to_pylist()
    rejects = winnow.query(lake, "SELECT input_row, reason FROM rejects ORDER BY input_row").to_pylist()
    return sorted((d["id"], d["content_hash"], d["input_row"]) for d in docs), rejects


def test_killed_ingest_resumes_to_the_same_documents(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    resampled_corpus(corpus, 30_000)
    whole = tmp_path / "whole"
    cli("init", whole)
    cli("ingest", whole, corpus, "--no-progress")

    killed = tmp_path / "killed"
    cli("init", killed)
    docs_uri = f"{killed}/docs.lance"
    proc = subprocess.Popen(
        [str(WINNOW), "ingest", str(killed), str(corpus), "--no-progress", "--workers", "1", "--commit-mb", "2"],
        start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while lance.dataset(docs_uri).version < 4:  # a few commits have landed
        assert proc.poll() is None, "the ingest ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = lance.dataset(docs_uri).count_rows()
    assert 0 < partial

    resumed = cli("ingest", killed, corpus, "--no-progress")
    assert "resumed after row" in resumed.stdout
    assert "read 30,000 = written" in resumed.stdout  # the whole file is accounted for, once
    assert snapshot(lake_at(killed)) == snapshot(lake_at(whole))
    again = cli("ingest", killed, corpus, "--no-progress")
    assert "already ingested" in again.stdout


def lake_at(path):
    return winnow.open(path)


def test_concurrent_ingests_into_one_lake_both_land(tmp_path):
    path = tmp_path / "lake"
    cli("init", path)
    procs = [
        subprocess.Popen([str(WINNOW), "ingest", str(path), str(f), "--no-progress", "--workers", "1",
                          "--commit-mb", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for f in (OWT, C4)
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    lake = winnow.open(path)
    ingests = winnow.query(lake, "SELECT input, status, n_written FROM ingests ORDER BY input").to_pylist()
    assert [i["status"] for i in ingests] == ["done", "done"]
    assert lake.docs().count_rows() == sum(i["n_written"] for i in ingests) == 1000 + 445


def test_memory_lake_through_the_python_api():
    lake = winnow.init("memory://winnow-test/lake")
    report = winnow.ingest_files(lake, [str(GITHUB), str(C4)])
    assert report.total().written == 50 + 445
    assert winnow.query(lake, "SELECT count(*) AS n FROM docs")["n"][0].as_py() == 495
    assert winnow.info(lake).size_on_disk is None


def test_file_uri_lake_through_the_cli(tmp_path):
    uri = f"file://{tmp_path}/lake"
    cli("init", uri)
    cli("ingest", uri, GITHUB, "--no-progress")
    out = cli("sql", uri, "SELECT count(*) AS n FROM docs", "--format", "csv").stdout
    assert out.strip().splitlines()[-1] == "50"


def test_s3_lake_with_storage_options_from_flags(s3_endpoint):
    flags = []
    for kv in (f"aws_endpoint={s3_endpoint}", "allow_http=true", "aws_access_key_id=testing",
               "aws_secret_access_key=testing", "aws_region=us-east-1"):
        flags += ["-o", kv]
    cli("init", "s3://lakes/demo", *flags)
    out = cli("ingest", "s3://lakes/demo", C4, "--no-progress", *flags).stdout
    assert "read 449 = written 445 + duplicates 4 + rejected 0" in out
    env = {**os.environ, "WINNOW_STORAGE_OPTIONS": json.dumps(dict(kv.split("=", 1) for kv in flags[1::2]))}
    info = subprocess.run([str(WINNOW), "info", "s3://lakes/demo"], capture_output=True, text=True, env=env)
    assert info.returncode == 0 and "documents 445" in info.stdout
