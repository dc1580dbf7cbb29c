"""The lake's tables, info and the sql verb's output formats."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

import winnow

from .helpers import C4, GITHUB, OWT, cli


def test_info_counts_sources_columns_and_size(lake):
    winnow.ingest_files(lake, [str(OWT)], source="owt")
    winnow.ingest_files(lake, [str(GITHUB)], source="code")
    i = winnow.info(lake)
    assert i.documents == 1050
    assert {s["source"]: s["documents"] for s in i.sources} == {"owt": 1000, "code": 50}
    assert i.text_bytes == sum(len(json.loads(x)["text"].encode()) for x in OWT.read_bytes().splitlines()) + sum(
        s["text_bytes"] for s in i.sources if s["source"] == "code"
    )
    assert ("content_hash", "string") in i.columns and ("input_row", "int64") in i.columns
    assert i.ingests == {"done": 2} and i.versions == i.version == 3
    assert i.size_on_disk > i.text_bytes  # text is stored uncompressed by default


def test_compressed_text_lake_is_smaller_and_reads_the_same(tmp_path):
    plain = winnow.init(tmp_path / "plain")
    packed = winnow.init(tmp_path / "packed", compress_text=True)
    for lake in (plain, packed):
        winnow.ingest_files(lake, [str(OWT)])
    q = "SELECT id, text FROM docs ORDER BY id"
    assert winnow.query(plain, q).equals(winnow.query(packed, q))
    assert winnow.info(packed).size_on_disk < 0.8 * winnow.info(plain).size_on_disk


def test_sql_formats_and_versions(tmp_path):
    path = tmp_path / "lake"
    cli("init", path)
    cli("ingest", path, GITHUB, "--no-progress")
    cli("ingest", path, C4, "--no-progress", "--source", "c4")
    q = "SELECT source, count(*) AS n FROM docs GROUP BY source ORDER BY source"
    assert cli("sql", path, q, "-f", "csv").stdout.splitlines() == ['"source","n"', '"c4",445', '"github-sample-50",50']
    rows = [json.loads(x) for x in cli("sql", path, q, "-f", "json").stdout.splitlines()]
    assert rows == [{"source": "c4", "n": 445}, {"source": "github-sample-50", "n": 50}]
    cli("sql", path, q, "-f", "parquet", "--out", tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 2
    # docs as of the version the first ingest produced: only its documents
    first = winnow.query(winnow.open(path), "SELECT min(lake_version) AS v FROM ingests")["v"][0].as_py()
    old = cli("sql", path, "SELECT count(*) AS n FROM docs", "-f", "csv", "--version", first).stdout
    assert old.splitlines()[-1] == "50"
    table = cli("sql", path, "SELECT id, text FROM docs ORDER BY id LIMIT 2").stdout.splitlines()
    header = [c.strip() for c in next(line for line in table if "┃" in line).split("┃")[1:-1]]
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in table if line.count("│") == 3]
    want = winnow.query(winnow.open(path), "SELECT id, text FROM docs ORDER BY id LIMIT 2").to_pylist()
    assert header == ["id", "text"] and [r[0] for r in rows] == [w["id"] for w in want]
    for (_, text), w in zip(rows, want):  # one line per row: newlines folded, long text cut with …
        folded = " ".join(w["text"].split())
        assert text == folded or (text.endswith("…") and folded.startswith(text[:-1]) and len(text) < len(folded))
    bad = cli("sql", path, "SELECT nope FROM docs", check=False)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: Binder Error")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_shell_reads_statements_from_stdin(tmp_path):
    path = tmp_path / "lake"
    cli("init", path)
    cli("ingest", path, GITHUB, "--no-progress")
    out = cli("sql", path, input="SELECT count(*)\n AS n FROM docs;\nSELECT broken;\n.quit\n")
    assert "50" in out.stdout and "error:" in out.stderr
