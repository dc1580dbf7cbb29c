"""Importing scores computed elsewhere: parquet or JSON lines with an id column.

List-valued columns (QuRatedPajama's or SlimPajama-Meta-rater's score vectors) are split
into named columns: `split={"scores": ["writing_style", "facts_and_trivia", ...]}`.
Rows whose id is not in the lake are counted and reported, never written.

The file is read and checked whole before the lake changes: its id column (present, no
nulls, no repeats), the columns asked for, the splits, the column names (never one of the
documents' own columns) and whether they exist already. `replace=True` drops an existing
column and writes it again from the file alone, as `score --replace` does: rows the file
does not cover are null afterwards. The catalog's `running` rows are written before any
column is added; a failure once writing began is recorded as `failed`. The same import
(same file, same --on) run again after a failure or a kill writes its columns again from
the start, without --replace.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from winnow.lake import Lake, catalog, display, schema
from winnow.lake.columns import add_columns, drop_columns
from winnow.lake.fragments import ColumnWriter
from winnow.lake.killpoints import step
from winnow.lake.lake import clean_message
from winnow.lake.version import WINNOW_VERSION

from winnow.scoring.scorer import ScoreError, ScoreUsageError

CHUNK_ROWS = 65536
COMMIT_ROWS = 1 << 22  # rows of values per commit (a kill loses at most these; the run again writes all)
CORE_COLUMNS = frozenset(schema.DOCS.names)


@display.shown
@dataclass
class ImportResult:
    columns: list[str]
    read: int = 0
    matched: int = 0
    unknown_ids: int = 0
    seconds: float = 0.0
    lake_version: int = 0


def read_scores(path: str) -> pa.Table:
    """A parquet file (`.parquet` in its name) or JSON lines, optionally compressed; a
    `ScoreUsageError` naming the file for anything that cannot be read as one."""
    kind = "parquet" if ".parquet" in path else "JSON lines"
    try:
        with fsspec.open(path, "rb", compression="infer") as f:
            return pq.read_table(f) if kind == "parquet" else pajson.read_json(f)
    except FileNotFoundError:
        raise ScoreUsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ScoreUsageError(f"{path}: a folder, not a file of scores") from None
    except (OSError, ValueError, pa.ArrowException) as e:
        text = clean_message(e)
        text = text if len(text) <= 200 else text[:200] + "…"
        raise ScoreUsageError(f"{path}: cannot be read as {kind} ({text}); expected a .parquet file or "
                              "JSON lines (.jsonl), optionally compressed") from None


def import_scores(
    lake: Lake,
    path: str,
    *,
    on: str = "id",
    columns: list[str] | None = None,
    split: dict[str, list[str]] | None = None,
    replace: bool = False,
) -> ImportResult:
    t0 = time.perf_counter()
    path = str(path)
    table = read_scores(path)
    scores = _scores(table, path, on, columns, split or {})
    names = [n for n in scores.column_names if n != "id"]
    docs = lake.docs()
    params = json.dumps({"file": path, "on": on}, sort_keys=True)
    clash = [n for n in names if n in docs.schema.names]
    if clash and not replace and not _unfinished(lake, clash, params):
        raise ScoreUsageError(f"column(s) {', '.join(clash)} already exist: pass --replace to overwrite them")
    matched = _placed(docs, scores)
    report = ImportResult(columns=names, read=scores.num_rows, matched=matched.num_rows)
    report.unknown_ids = scores.num_rows - matched.num_rows

    # From here on the lake changes. The claim (running rows) comes first: a column this
    # import added is never without its owner's row, so the same import run again after a
    # kill finds it its own and writes it again from the start.
    now = datetime.now(timezone.utc)
    version = docs.version
    try:
        _record(lake, names, params, "running", now, None, None, None)
        step("import:claimed")
        if clash:
            drop_columns(lake, clash)  # as `score --replace`: the file alone says what the column holds
            step("import:dropped")
        fields = [pa.field(n, scores[n].type) for n in names]
        add_columns(lake, fields)
        step("import:columns")
        version = lake.docs().version
        fragments = matched["_rowaddr"].to_numpy() >> 32
        ids, counts = np.unique(fragments, return_counts=True)
        writer = ColumnWriter(lake, fields, version, dict(zip(ids.tolist(), counts.tolist())))
        for start in range(0, matched.num_rows, CHUNK_ROWS):
            writer.add(matched.slice(start, CHUNK_ROWS))
            if writer.pending >= COMMIT_ROWS or start + CHUNK_ROWS >= matched.num_rows:
                version = writer.commit()
                step("import:commit")
    except Exception as e:
        message = clean_message(e)
        _record(lake, names, params, "failed", now, None, time.perf_counter() - t0, version, message)
        raise ScoreError(f"importing {path} failed ({type(e).__name__}: {message}); recorded as failed in the "
                         "catalog; run it again") from e
    report.seconds = time.perf_counter() - t0
    report.lake_version = version
    _record(lake, names, params, "done", now, matched.num_rows, report.seconds, version)
    return report


def _placed(docs, scores: pa.Table) -> pa.Table:
    """The rows of `scores` whose id `docs` holds, with their row address (`_rowaddr`), in row
    address order: written fragment by fragment (lake/fragments.py), never joined by id in
    Lance (a merge per chunk joins every id of the lake: at 10M documents it ran out of
    Lance's join memory)."""
    lake = docs.to_table(columns=["id"], with_row_address=True)
    at = pc.index_in(scores["id"], value_set=lake["id"])
    if at.null_count:  # ids the lake lacks (copies the table: skipped when every id is known)
        known = pc.is_valid(at)
        scores, at = scores.filter(known), at.filter(known)
    address = lake["_rowaddr"].take(at)
    del lake
    matched = scores.append_column("_rowaddr", address)
    order = address.to_numpy()
    if len(order) and not (order[1:] >= order[:-1]).all():  # a file in the lake's order is not copied
        matched = matched.sort_by("_rowaddr")
    return matched


def _scores(table: pa.Table, path: str, on: str, columns: list[str] | None, split: dict[str, list[str]]) -> pa.Table:
    """`id` and the columns to import, checked: a `ScoreUsageError` names what is wrong."""
    have = table.column_names
    if on not in have:
        raise ScoreUsageError(f"{path}: no id column {on!r} (columns: {', '.join(have)}); name it with --on")
    ids = table[on]
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type) or pa.types.is_integer(ids.type)):
        raise ScoreUsageError(f"{path}: id column {on!r} is {ids.type}, not strings or integers")
    ids = ids.cast(pa.string())
    if ids.null_count:
        row = pc.index(pc.is_null(ids), True).as_py() + 1
        more = f" and {ids.null_count - 1:,} more" if ids.null_count > 1 else ""
        raise ScoreUsageError(f"{path}: id column {on!r} is null in row {row}{more}")
    counts = pc.value_counts(ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        first = repeated[0].as_py()
        raise ScoreUsageError(f"{path}: id {first['values']!r} appears {first['counts']} times "
                              f"({len(repeated)} id(s) repeat); each document can have one score")
    wanted = list(columns) if columns else [c for c in have if c != on]
    unknown = [c for c in wanted if c not in have]
    if unknown:
        raise ScoreUsageError(f"{path}: no column(s) {', '.join(unknown)} (columns: {', '.join(have)})")
    if not wanted:
        raise ScoreUsageError(f"{path}: no column to import besides the id column {on!r}")
    stray = [c for c in split if c not in wanted]
    if stray:
        raise ScoreUsageError(f"--split {', '.join(stray)}: not a column being imported ({', '.join(wanted)})")
    out = {"id": ids}
    for name in wanted:
        col = table[name]
        if name not in split:
            if name == "id":
                raise ScoreUsageError(f"{path}: column 'id' would overwrite the documents' ids; import it under "
                                      "another name (--on names the file's id column)")
            out[name] = col
            continue
        parts = split[name]
        if not pa.types.is_list(col.type) and not pa.types.is_large_list(col.type) \
                and not pa.types.is_fixed_size_list(col.type):
            raise ScoreUsageError(f"{path}: column {name!r} is {col.type}, not a list to split")
        if not parts or any(not p for p in parts):
            raise ScoreUsageError(f"--split {name}: give the names of its elements, NAME=a,b,c")
        lengths = pc.list_value_length(col)
        shortest = pc.min(lengths).as_py()
        if shortest is not None and shortest < len(parts):
            row = pc.index(lengths, shortest).as_py() + 1
            raise ScoreUsageError(f"{path}: column {name!r} has {shortest} element(s) in row {row}, "
                                  f"fewer than the {len(parts)} names given to --split")
        for i, part in enumerate(parts):
            if part in out:
                raise ScoreUsageError(f"--split {name}: column {part!r} is named twice")
            out[part] = pc.list_element(col, i)
    names = [n for n in out if n != "id"]
    core = [n for n in names if n in CORE_COLUMNS]
    if core:
        raise ScoreUsageError(f"{path}: column(s) {', '.join(core)} would overwrite the documents' own columns "
                              f"({', '.join(schema.DOCS.names)}); import them under another name")
    empty = [n for n in names if pa.types.is_null(out[n].type)]
    if empty:
        raise ScoreUsageError(f"{path}: column(s) {', '.join(empty)} hold no values (type null)")
    return pa.table(out).combine_chunks()


def _unfinished(lake: Lake, names: list[str], params: str) -> bool:
    """Whether every column of `names` belongs to an import of the same file that did not
    finish (running: killed; failed): this import may write them again without --replace."""
    for name in names:
        owner = catalog.metric(lake, name)
        if owner is None or owner["scorer"] != "import" or owner["params"] != params or owner["status"] == "done":
            return False
    return True


def _record(lake, names, params, status, at, rows, seconds, version, error=None) -> None:
    rows_ = [
        {"metric": n, "scorer": "import", "scorer_version": "1", "params": params, "status": status,
         "rows": rows, "seconds": seconds, "lake_version": version,
         "at": at if status == "running" else datetime.now(timezone.utc), "winnow_version": WINNOW_VERSION,
         "error": error}
        for n in names
    ]
    try:
        catalog.record_metrics(lake, rows_)
    except Exception:
        if status != "failed":  # a failed row is best effort: the import's own error is reported
            raise
