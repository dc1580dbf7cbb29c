"""Importing scores computed elsewhere: parquet or JSON lines with an id column.

List-valued columns (QuRatedPajama's or SlimPajama-Meta-rater's score vectors) are split
into named columns: `split={"scores": ["writing_style", "facts_and_trivia", ...]}`.
Rows whose id is not in the lake are counted and reported, never written.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from winnow.lake import Lake, catalog
from winnow.lake.columns import add_columns, write_columns
from winnow.lake.version import WINNOW_VERSION

from .runner import ScoreError

CHUNK_ROWS = 65536


@dataclass
class ImportReport:
    columns: list[str]
    read: int = 0
    matched: int = 0
    unknown_ids: int = 0
    seconds: float = 0.0
    lake_version: int = 0


def read_scores(path: str) -> pa.Table:
    with fsspec.open(path, "rb", compression="infer") as f:
        if ".parquet" in path:
            return pq.read_table(f)
        return pajson.read_json(f)


def import_scores(
    lake: Lake,
    path: str,
    *,
    on: str = "id",
    columns: list[str] | None = None,
    split: dict[str, list[str]] | None = None,
    replace: bool = False,
) -> ImportReport:
    t0 = time.perf_counter()
    table = read_scores(path)
    if on not in table.column_names:
        raise ScoreError(f"{path}: no column {on!r} (columns: {', '.join(table.column_names)})")
    wanted = columns or [c for c in table.column_names if c != on]
    out = {"id": table[on].cast(pa.string())}
    for name in wanted:
        if name not in table.column_names:
            raise ScoreError(f"{path}: no column {name!r}")
        col = table[name]
        if split and name in split:
            if not pa.types.is_list(col.type) and not pa.types.is_fixed_size_list(col.type):
                raise ScoreError(f"{path}: column {name!r} is {col.type}, not a list to split")
            for i, part in enumerate(split[name]):
                out[part] = pc.list_element(col, i)
        else:
            out[name] = col
    scores = pa.table(out).combine_chunks()
    names = [n for n in scores.column_names if n != "id"]
    present = set(lake.docs().schema.names)
    clash = [n for n in names if n in present]
    if clash and not replace:
        raise ScoreError(f"column(s) {', '.join(clash)} already exist: pass --replace to overwrite them")
    add_columns(lake, [pa.field(n, scores[n].type) for n in names])
    known = pc.is_in(scores["id"], value_set=lake.docs().to_table(columns=["id"])["id"])
    matched = scores.filter(known)
    report = ImportReport(columns=names, read=scores.num_rows, matched=matched.num_rows)
    report.unknown_ids = scores.num_rows - matched.num_rows
    version = lake.docs().version
    for start in range(0, matched.num_rows, CHUNK_ROWS):
        version = write_columns(lake, matched.slice(start, CHUNK_ROWS))
    report.seconds = time.perf_counter() - t0
    report.lake_version = version
    params = json.dumps({"file": path, "on": on}, sort_keys=True)
    now = datetime.now(timezone.utc)
    catalog.record_metrics(lake, [
        {"metric": n, "scorer": "import", "scorer_version": "1", "params": params, "status": "done",
         "rows": matched.num_rows, "seconds": report.seconds, "lake_version": version, "at": now,
         "winnow_version": WINNOW_VERSION}
        for n in names
    ])
    return report
