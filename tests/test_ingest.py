"""Ingestion on the real data: counts balance, dedup, idempotence, every format."""

from __future__ import annotations

import gzip
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

import winnow

from .helpers import C4, DATA, GITHUB, OWT, WARCS, cli, lines


def docs_table(lake, columns=("id", "content_hash", "source", "input_row")):
    return lake.docs().to_table(columns=list(columns))


def test_all_of_shared_data_balances_and_is_unique(lake):
    report = winnow.ingest_files(lake, [str(DATA)], workers=2)
    by_name = {f.input.rsplit("/", 1)[-1]: f for f in report.files}
    assert set(by_name) == {OWT.name, C4.name, GITHUB.name, *(w.name for w in WARCS)}
    assert all(f.balanced for f in report.files)
    assert by_name[OWT.name].read == 1000 and by_name[C4.name].read == 449 and by_name[GITHUB.name].read == 50
    assert report.passed_over == [str(DATA / "SOURCES.md")]
    total = report.total()
    docs = docs_table(lake)
    assert docs.num_rows == total.written
    assert len(set(docs["id"].to_pylist())) == docs.num_rows
    assert len(set(docs["content_hash"].to_pylist())) == docs.num_rows
    # OpenWebText ids are given and unique: kept as they are.
    owt_ids = {json.loads(line)["id"] for line in lines(OWT)}
    assert owt_ids <= set(docs["id"].to_pylist())
    # Catalog: one done ingest per file, pointing at the version that holds its documents.
    ingests = winnow.query(lake, "SELECT status, n_read, n_written, lake_version FROM ingests").to_pylist()
    assert len(ingests) == 5 and {i["status"] for i in ingests} == {"done"}
    assert sum(i["n_written"] for i in ingests) == docs.num_rows
    assert all(i["lake_version"] == report.lake_version for i in ingests)


def test_reingest_is_a_noop_and_a_renamed_copy_adds_nothing(lake, tmp_path):
    first = winnow.ingest_files(lake, [str(OWT), str(C4)])
    version = lake.docs().version
    again = winnow.ingest_files(lake, [str(OWT), str(C4)])
    assert [f.status for f in again.files] == ["skipped", "skipped"]
    assert "already ingested" in again.files[0].note
    assert lake.docs().version == version
    copy = tmp_path / "renamed.jsonl"
    shutil.copy(OWT, copy)
    renamed = winnow.ingest_files(lake, [str(copy)])
    assert renamed.files[0].status == "skipped" and lake.docs().version == version
    # Not the same bytes, but the same documents: all are duplicates.
    reordered = tmp_path / "reordered.jsonl"
    reordered.write_bytes(b"".join(reversed(lines(C4))))
    r = winnow.ingest_files(lake, [str(reordered)]).files[0]
    assert (r.read, r.written, r.duplicates) == (449, 0, 449)
    assert docs_table(lake).num_rows == first.total().written


def test_bad_input_lands_in_rejects_and_the_rest_is_ingested(lake, tmp_path):
    good = lines(OWT)[:40]
    big = max(good, key=len)
    bad = [
        b'{"id": "x1", "text": "unterminated\n',
        b'{"id": "x2", "body": "no text field"}\n',
        b'{"id": "x3", "text": null}\n',
        b'{"id": "x4", "text": 42}\n',
        b'{"id": "x5", "text": "   "}\n',
        b'{"id": "x6", "text": "caf\xe9 latin-1, not UTF-8"}\n',
        b'["an", "array"]\n',
    ]  # and `big`, a good line, is over the size limit set below
    path = tmp_path / "mixed.jsonl"
    body = []
    for i, line in enumerate(good):
        body.append(line)
        if i % 5 == 0 and bad:
            body.append(bad.pop(0))
    path.write_bytes(b"".join(body + bad))
    limit = len(json.loads(big)["text"].encode()) - 1
    report = winnow.ingest_files(lake, [str(path)], max_doc_bytes=limit)
    f = report.files[0]
    assert f.balanced and f.read == 47 and f.rejected == 8
    rejects = winnow.query(lake, "SELECT input_row, reason, detail, raw FROM rejects ORDER BY input_row").to_pylist()
    reasons = [r["reason"] for r in rejects]
    assert sorted(reasons) == sorted(
        ["malformed_json", "missing_text", "null_text", "non_string_text", "empty_text", "invalid_utf8",
         "malformed_json", "too_large"]
    )
    by_reason = {r["reason"]: r for r in rejects}
    assert body[by_reason["missing_text"]["input_row"] - 1].startswith(b'{"id": "x2"')
    assert "x6" in by_reason["invalid_utf8"]["raw"]
    assert body[by_reason["too_large"]["input_row"] - 1] == big
    # every good line but the too-large one is a document
    assert (f.written, f.duplicates) == (39, 0)
    assert report.first_rejects[0].startswith(f"{path}:")


def test_truncated_gzip_keeps_what_was_readable(lake, tmp_path):
    data = gzip.compress(b"".join(lines(OWT)[:300]))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    f = winnow.ingest_files(lake, [str(cut)]).files[0]
    assert f.balanced and 50 < f.written < 300
    reasons = set(winnow.query(lake, "SELECT reason FROM rejects")["reason"].to_pylist())
    assert "corrupt_compression" in reasons
    assert docs_table(lake).num_rows == f.written


def test_every_format(lake, tmp_path):
    owt = lines(OWT)
    zst = tmp_path / "part.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(b"".join(owt[:100])))
    gz = tmp_path / "part.json.gz"
    gz.write_bytes(gzip.compress(b"".join(owt[100:200])))
    rows = [json.loads(line) for line in owt[200:300]]
    pq.write_table(pa.Table.from_pylist([{**r, "url": f"https://example.org/{i}"} for i, r in enumerate(rows)]),
                   tmp_path / "part.parquet")
    (tmp_path / "note.txt").write_text(json.loads(owt[300])["text"])
    report = winnow.ingest_files(lake, [str(tmp_path)] + [str(w) for w in WARCS], source="mixed")
    written = {f.input.rsplit("/", 1)[-1]: f.written for f in report.files}
    assert written["part.jsonl.zst"] == 100 and written["part.json.gz"] == 100
    assert written["part.parquet"] == 100 and written["note.txt"] == 1
    assert all(f.balanced for f in report.files)
    parquet_urls = winnow.query(lake, "SELECT count(*) AS n FROM docs WHERE url LIKE 'https://example.org/%'")
    assert parquet_urls["n"][0].as_py() == 100


def test_warc_responses_become_clean_documents(lake):
    report = winnow.ingest_files(lake, [str(w) for w in WARCS], source="cc")
    assert [f.read for f in report.files] == [22, 15]  # HTML responses; requests are not documents
    docs = winnow.query(lake, "SELECT id, url, text, meta FROM docs").to_pylist()
    assert len(docs) == report.total().written > 30
    assert all(d["id"].startswith("urn:uuid:") and d["url"].startswith("http") for d in docs)
    # chunked transfer encoding is undone: no chunk sizes before the text, no HTML left
    assert not any(d["text"].split("\n", 1)[0].strip().isalnum() and len(d["text"].split("\n", 1)[0]) <= 5
                   and all(c in "0123456789abcdef" for c in d["text"].split("\n", 1)[0].strip()) for d in docs)
    assert not any("<div" in d["text"] or "</html>" in d["text"] for d in docs)
    # UTF-8 pages decode as UTF-8 (charset detection alone turns some into mojibake)
    assert not any("â€" in d["text"] or "ðŸ" in d["text"] for d in docs)
    assert any("DALL•E" in d["text"] for d in docs)
    cc = next(d for d in docs if d["url"] == "https://creativecommons.org/")
    assert cc["text"].startswith("Better Sharing, Brighter Future")
    assert json.loads(cc["meta"])["warc_date"].startswith("20")


def test_c4_meta_is_decoded_and_its_url_extracted(lake):
    winnow.ingest_files(lake, [str(C4)])
    row = winnow.query(lake, "SELECT url, meta->'meta'->>'url' AS meta_url, meta->'meta'->>'language' AS lang "
                           "FROM docs LIMIT 1").to_pylist()[0]
    assert row["url"].startswith("http") and row["url"] == row["meta_url"] and row["lang"] == "en"


def test_cli_exit_codes(tmp_path):
    lake_dir = tmp_path / "lake"
    cli("init", lake_dir)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(lines(OWT)[0] + b"{not json\n")
    ok = cli("ingest", lake_dir, bad, "--no-progress")
    assert "read 2 = written 1 + duplicates 0 + rejected 1" in ok.stdout
    assert f"reject: {bad}:2: malformed_json" in ok.stderr
    strict = cli("ingest", lake_dir, tmp_path / "missing.jsonl", "--no-progress", check=False)
    assert strict.returncode == 1 and "no such file" in strict.stderr
    again = cli("init", lake_dir, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    bad2 = tmp_path / "bad2.jsonl"
    bad2.write_bytes(b'{"text": ""}\n')
    assert cli("ingest", lake_dir, bad2, "--strict", "--no-progress", check=False).returncode == 1
