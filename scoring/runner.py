"""The scoring runner: compute a scorer's columns for the rows that lack them.

- Reads only the scorer's input columns (and `id`), writes only its output columns: the
  text's files are never rewritten (lake/columns.py).
- A null in the scorer's first output column marks a row not yet scored, so a killed job
  run again, or a run after more documents were ingested, scores only those rows.
- Results are committed in chunks; each chunk is one `rewrite_columns` merge, which Lance
  rebases onto concurrent commits, so scorers on different columns can run at once.
- The catalog records, per column: scorer, version, parameters, rows, duration, lake
  version. A different version or parameters over an existing column is refused unless
  `replace=True`, which drops the column and scores every row again.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from winnow.lake import Lake, catalog
from winnow.lake.errors import UsageError, WinnowError
from winnow.lake.columns import add_columns, drop_columns, write_columns
from winnow.lake.progress import Progress
from winnow.lake.version import WINNOW_VERSION

from .registry import resolve
from .scorer import Scorer

DEFAULT_BATCH_ROWS = 1024
DEFAULT_COMMIT_ROWS = 65536
TASK_ROWS = 16384  # rows per unit of work handed to a worker


class ScoreError(WinnowError):
    """A scoring job that cannot run as asked (one clear line)."""


@dataclass
class MetricReport:
    scorer: str
    version: str
    columns: list[str]
    scored: int = 0  # rows computed by this run
    rows: int = 0  # rows holding a value after it
    seconds: float = 0.0
    lake_version: int = 0
    note: str = ""


@dataclass(frozen=True)
class _Job:
    """What a worker needs to score tasks on its own (picklable)."""

    lake_uri: str
    storage_options: dict
    version: int
    spec: str
    params: dict
    device: str
    columns: tuple[str, ...]
    filter: str
    batch_rows: int


def score(
    lake: Lake,
    spec: str,
    *,
    params: dict[str, Any] | None = None,
    workers: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    device: str = "cpu",
    where: str | None = None,
    replace: bool = False,
    commit_rows: int = DEFAULT_COMMIT_ROWS,
    progress: Progress | None = None,
) -> MetricReport:
    """Score the rows of `docs` that lack the scorer's columns (all rows with `replace`)."""
    t0 = time.perf_counter()
    params = dict(params or {})
    cls = resolve(spec)
    scorer = cls(**params)
    fields = scorer.outputs()
    names = [f.name for f in fields]
    report = MetricReport(scorer=cls.name, version=cls.version, columns=names)
    # What a column depends on: the parameters, and the identity of files behind them (a
    # tokenizer's or a model's hash) where the scorer can tell it.
    identity = {**params, "fingerprint": scorer.fingerprint()} if hasattr(scorer, "fingerprint") else params
    params_json = json.dumps(identity, sort_keys=True, default=str)
    _check_ownership(lake, cls, params_json, names, replace)
    if replace:
        drop_columns(lake, names)
    missing = [n for n in cls.inputs if n not in lake.docs().schema.names]
    if missing:
        raise ScoreError(f"scorer {cls.name} reads column(s) {', '.join(missing)} that docs lacks")
    add_columns(lake, fields)
    now = datetime.now(timezone.utc)
    catalog.record_metrics(lake, [_metric_row(cls, n, params_json, "running", now) for n in names])

    docs = lake.docs()
    row_filter = f"{names[0]} IS NULL" + (f" AND ({where})" if where else "")
    tasks = _plan(docs, row_filter)
    total = sum(t[2] for t in tasks)
    job = _Job(lake.uri, lake.storage_options, docs.version, spec, params, device,
               ("id", *cls.inputs), row_filter, batch_rows)
    if progress:
        progress.start(f"{cls.name} v{cls.version}", total, "rows")
    pending: list[pa.Table] = []
    pending_rows = 0
    version = docs.version
    try:
        for result in _results(lake, job, scorer, tasks, workers, cls.uses_model):
            pending.append(result)
            pending_rows += result.num_rows
            report.scored += result.num_rows
            if progress:
                progress.advance(result.num_rows)
            if pending_rows >= commit_rows:
                version = write_columns(lake, pa.concat_tables(pending))
                pending, pending_rows = [], 0
        if pending:
            version = write_columns(lake, pa.concat_tables(pending))
    finally:
        if progress:
            progress.stop()
    report.rows = lake.docs().count_rows(filter=f"{names[0]} IS NOT NULL")
    report.seconds = time.perf_counter() - t0
    report.lake_version = version
    if not total:
        report.note = "up to date: no row lacks these columns"
    catalog.record_metrics(
        lake,
        [_metric_row(cls, n, params_json, "done", now, report.rows, report.seconds, version) for n in names],
    )
    return report


def _check_ownership(lake: Lake, cls: type[Scorer], params_json: str, names: list[str], replace: bool) -> None:
    present = set(lake.docs().schema.names)
    for name in names:
        if name not in present or replace:
            continue
        owner = catalog.metric(lake, name)
        if owner is None:
            raise ScoreError(f"column {name!r} exists but no scorer wrote it; pass --replace to overwrite it")
        same = (owner["scorer"], owner["scorer_version"], owner["params"]) == (cls.name, cls.version, params_json)
        if not same:
            raise ScoreError(
                f"column {name!r} holds {owner['scorer']} v{owner['scorer_version']} with params {owner['params']}; "
                f"{cls.name} v{cls.version} with params {params_json} differs: pass --replace to overwrite it"
            )


def _metric_row(cls, name, params_json, status, at, rows=None, seconds=None, version=None) -> dict:
    return {
        "metric": name, "scorer": cls.name, "scorer_version": cls.version, "params": params_json,
        "status": status, "rows": rows, "seconds": seconds, "lake_version": version,
        "at": at if status == "running" else datetime.now(timezone.utc), "winnow_version": WINNOW_VERSION,
    }


def _plan(docs, row_filter: str) -> list[tuple[int, int, int]]:
    """(fragment id, offset, rows) units of work over the rows that pass the filter."""
    tasks = []
    for fragment in docs.get_fragments():
        n = fragment.count_rows(row_filter)
        for offset in range(0, n, TASK_ROWS):
            tasks.append((fragment.fragment_id, offset, min(TASK_ROWS, n - offset)))
    return tasks


def _results(lake, job: _Job, scorer: Scorer, tasks, workers, uses_model: bool):
    """Result tables (id + output columns), in any order."""
    n = 1 if uses_model else (workers or os.cpu_count() or 1)
    if n <= 1 or len(tasks) <= 1 or lake.uri.startswith("memory://"):
        scorer.setup(job.device)
        docs = lake.docs(job.version)
        for task in tasks:
            yield from _score_task(docs, scorer, job, task)
        return
    with mp.get_context("spawn").Pool(n, initializer=_init_worker, initargs=(job,)) as pool:
        for tables in pool.imap_unordered(_worker_task, tasks):
            yield from tables


def _score_task(docs, scorer: Scorer, job: _Job, task):
    fragment_id, offset, rows = task
    scanner = docs.scanner(
        columns=list(job.columns), filter=job.filter, fragments=[docs.get_fragment(fragment_id)],
        offset=offset, limit=rows, batch_size=job.batch_rows,
    )
    fields = scorer.outputs()
    for batch in scanner.to_batches():
        if batch.num_rows:
            yield outputs_table(scorer, fields, batch)


def outputs_table(scorer: Scorer, fields: list[pa.Field], batch: pa.RecordBatch) -> pa.Table:
    """`id` and the scorer's columns for one batch, checked against what it declared."""
    out = scorer.score(batch)
    arrays = [batch.column("id")]
    for f in fields:
        if f.name not in out:
            raise ScoreError(f"scorer {scorer.name} returned no column {f.name!r}")
        values = out[f.name]
        a = values.cast(f.type) if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=f.type)
        if len(a) != batch.num_rows:
            raise ScoreError(f"scorer {scorer.name} returned {len(a)} values of {f.name!r} for {batch.num_rows} rows")
        if a.null_count:
            if not pa.types.is_floating(f.type):
                raise ScoreError(f"scorer {scorer.name} returned nulls in {f.name!r}; a null marks an unscored row")
            a = a.fill_null(float("nan"))
        arrays.append(a)
    return pa.Table.from_arrays(arrays, names=["id", *(f.name for f in fields)])


_worker: tuple | None = None


def _init_worker(job: _Job) -> None:
    global _worker
    lake = Lake(job.lake_uri, job.storage_options)
    scorer = resolve(job.spec)(**job.params)
    scorer.setup(job.device)
    _worker = (lake.docs(job.version), scorer, job)


def _worker_task(task) -> list[pa.Table]:
    docs, scorer, job = _worker
    return list(_score_task(docs, scorer, job, task))
