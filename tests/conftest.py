"""Shared fixtures: the real data in ../shared, lakes in temporary folders, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import winnow

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
DATA = SHARED / "data"
OWT = DATA / "openwebtext-1000.jsonl"
C4 = DATA / "c4-sample-449.jsonl"
GITHUB = DATA / "github-sample-50.jsonl"
WARCS = sorted((DATA / "warc").glob("*.warc.gz"))
WINNOW = Path(sys.executable).parent / "winnow"

if not DATA.is_dir():
    raise RuntimeError(f"the tests read real data from {DATA}; it is missing")


@pytest.fixture
def lake(tmp_path):
    return winnow.init(tmp_path / "lake")


def cli(*args, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run the `winnow` command; its output is returned as text."""
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([str(WINNOW), *map(str, args)], capture_output=True, text=True, env=env, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"winnow {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)
