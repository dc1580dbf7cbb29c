"""Lakes that cannot be created or reached: one line naming the cause, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .helpers import C4, WINNOW, cli, fails


def test_init_on_a_file_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("a file\n")
    line = fails("init", path, contains="it is a file")
    assert str(path) in line
    assert path.read_text() == "a file\n"


def test_a_missing_lake_is_a_usage_error(tmp_path):
    fails("info", tmp_path / "nowhere", contains="no winnow lake at")
    fails("sql", tmp_path / "nowhere", "SELECT 1", contains="winnow init")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("verb", [["info"], ["report", "--out", "{tmp}/r.html"], ["serve"]])
def test_a_plain_file_or_an_unknown_scheme_holds_no_lake(tmp_path, verb):
    """Not Lance's "Unable to walk dir" (exit 1): `no winnow lake at PATH`, exit 2, from the
    one place lakes are opened (Lake.check_format), for every verb. `serve` through its API
    (the command would run in a process of its own, ~3 s a call here)."""
    import winnow

    plain = tmp_path / "notes.txt"
    plain.write_text("a file\n")
    for where in (plain, "foo://x", plain / "sub"):
        if verb == ["serve"]:
            with pytest.raises(winnow.UsageError, match=f"^no winnow lake at {where}"):
                winnow.serve(str(where), port=0)
            continue
        line = fails(verb[0], where, *[a.format(tmp=tmp_path) for a in verb[1:]], contains=f"no winnow lake at {where}")
        assert "Unable to walk dir" not in line and "No object store" not in line, line
    assert plain.read_text() == "a file\n" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_init_twice_is_refused(tmp_path):
    cli("init", tmp_path / "l")
    fails("init", tmp_path / "l", contains="already exists")


def _options(endpoint: str) -> dict[str, str]:
    return {"aws_endpoint": endpoint, "allow_http": "true", "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing", "aws_region": "us-east-1"}


def _flags(options: dict[str, str]) -> list[str]:
    return [x for k, v in options.items() for x in ("-o", f"{k}={v}")]


def test_object_store_errors_name_the_missing_setting(s3_endpoint):
    options = _options(s3_endpoint)
    cli("init", "s3://lakes/named", *_flags(options))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
    # No options at all: the region is what the store asks for first, not "no winnow lake".
    line = fails("info", "s3://lakes/named", contains="aws_region", env=env)
    assert "no winnow lake" not in line
    fails("init", "s3://lakes/other", contains="aws_region", env=env)
    # A region but no credentials or endpoint: named too, with what was given.
    line = fails("init", "s3://lakes/other", "-o", "aws_region=us-east-1", env=env)
    assert "given: aws_region" in line and len(line) < 600
    # With every option: the lake is found, and its size on disk listed with the same options, quickly.
    out = cli("ingest", "s3://lakes/named", C4, "--no-progress", *_flags(options)).stdout
    assert "written 445" in out
    info = cli("info", "s3://lakes/named", *_flags(options), timeout=60).stdout
    assert "documents 445" in info and "n/a" not in info
    size_mb = float(info.split("size on disk ")[1].split(" MB")[0].replace(",", ""))
    assert size_mb > 1.0  # 1.1 MB of text at least
    env_opts = {**env, "WINNOW_STORAGE_OPTIONS": json.dumps(options)}
    proc = subprocess.run([str(WINNOW), "info", "s3://lakes/named"], capture_output=True, text=True, env=env_opts)
    assert proc.returncode == 0 and "n/a" not in proc.stdout


def test_an_older_lakes_catalog_gains_new_fields_on_open(tmp_path):
    """A catalog table written before a field existed (here metrics without `error`) gets the
    field as a null column when opened, and its log keeps appending with the new schema."""
    import lance
    import pyarrow as pa

    import winnow
    from winnow.lake import catalog, schema

    winnow.init(tmp_path / "l")
    old = pa.schema([f for f in schema.METRICS if f.name != "error"])
    lance.write_dataset(pa.Table.from_batches([], schema=old), str(tmp_path / "l/_catalog/metrics.lance"),
                        schema=old, mode="overwrite")
    assert "error" not in lance.dataset(str(tmp_path / "l/_catalog/metrics.lance")).schema.names
    lake = winnow.open(tmp_path / "l")
    assert "error" in lake.dataset("metrics").schema.names
    from datetime import datetime, timezone

    catalog.record_metrics(lake, [dict(metric="m", scorer="s", scorer_version="1", status="failed",
                                       at=datetime.now(timezone.utc), winnow_version="0", error="why")])
    assert catalog.metric(lake, "m")["error"] == "why"
