"""The seed systems' selections in sql/examples run as written, on a lake holding every
score column they name (imported: synthetic values for the model ratings)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow

from .conftest import C4, OWT, ROOT

EXAMPLES = sorted((ROOT / "sql" / "examples").glob("*.sql"))
SEED_SYSTEMS = [p for p in EXAMPLES if not p.name.startswith("quickstart")]


@pytest.fixture(scope="module")
def rated_lake(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("examples")
    lake = winnow.init(tmp / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4)])
    columns = sorted({c for p in SEED_SYSTEMS for c in re.findall(r"\b((?:prrc|qurating|wanjuan|dsir|rps|gopher)_\w+|"
                                                                   r"fineweb_edu|fasttext_hq|datarater)\b", p.read_text())})
    ids = lake.docs().to_table(columns=["id", "n_bytes"])
    rng = np.random.default_rng(0)
    table = {"id": ids["id"], "n_tokens": pa.array((ids["n_bytes"].to_numpy() // 4).astype(np.int32))}
    scale = {"datarater": 5, "gopher_word_count": 2000, "gopher_mean_word_length": 8}
    for c in columns:
        table[c] = pa.array((rng.random(ids.num_rows) * scale.get(c, 1)).astype(np.float32))
    pq.write_table(pa.table(table), tmp / "scores.parquet")
    winnow.import_scores(lake, str(tmp / "scores.parquet"))
    return lake


@pytest.mark.parametrize("path", SEED_SYSTEMS, ids=lambda p: p.stem)
def test_seed_system_selection_runs(rated_lake, path: Path):
    sel = winnow.select(rated_lake, path.stem, path.read_text(), seed=1)
    rows = winnow.selection(rated_lake, path.stem)
    assert sel.documents == rows.num_rows > 0
    assert rows.num_rows <= rated_lake.docs().count_rows()
