"""Shared fixtures: the real data in ../shared, lakes in temporary folders, the CLI."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import winnow
from winnow.lake.lake import CATALOG_TABLES

from .browser import browser  # noqa: F401  (one Chromium for the whole session: two Playwright instances cannot share a thread)

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
    env = {**kwargs.pop("env", os.environ), "COLUMNS": "200"}
    proc = subprocess.run([str(WINNOW), *map(str, args)], capture_output=True, text=True, env=env, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"winnow {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def fails(*args, code: int = 2, contains: str | None = None, **kwargs) -> str:
    """Run `winnow ARGS`, which must fail with exit status `code` (2: usage, 1: a failed job)
    and one line on stderr, `error: ...`, with no traceback; that line is returned."""
    proc = cli(*args, check=False, **kwargs)
    said = proc.stderr.strip().splitlines()
    errors = [line for line in said if line.startswith("error: ")]
    where = f"winnow {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == code, where
    assert len(errors) == 1 and "Traceback" not in proc.stderr, where
    if contains is not None:
        assert contains in errors[0], where
    return errors[0]


def lake_state(lake) -> dict:
    """Everything a failed command must leave as it was: the lake version, its tags and
    schema, and every catalog table's version."""
    docs = lake.docs()
    state = {
        "docs_version": docs.version,
        "tags": sorted(docs.tags.list()),
        "columns": docs.schema.names,
    }
    for name in ("rejects", *CATALOG_TABLES):
        state[name] = lake.dataset(name).version
    return state


def edited(text: str, rate: float, rng: random.Random, vocab: list[str]) -> str:
    """`text` with each word, at `rate`, deleted, replaced or followed by an inserted word
    (a third each), the new words drawn from `vocab`."""
    out = []
    for w in text.split():
        r = rng.random()
        if r < rate / 3:
            continue
        out.append(rng.choice(vocab) if r < 2 * rate / 3 else w)
        if 2 * rate / 3 <= r < rate:
            out.append(rng.choice(vocab))
    return " ".join(out)
