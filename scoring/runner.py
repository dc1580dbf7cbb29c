"""The scoring runner: compute a scorer's columns for the rows that lack them.

- Reads only the scorer's input columns (and `id`), writes only its output columns: the
  text's files are never rewritten. The columns are registered schema-only, then each
  fragment's values are written as one Lance column file for that fragment and committed
  with a `DataReplacement` (lake/fragments.py says why, with the measurements).
- The work is planned as units: a fragment, or a slice of a large one, over the rows to
  score at the pinned read version. With several workers a unit holds about 1/(4 x workers)
  of those rows (at least `MIN_TASK_ROWS`, at most `TASK_ROWS`), so that every worker gets
  a share of a small job and the shares come out even; one worker, or a model scorer (whose
  batches are cut within a unit), takes `TASK_ROWS`. Units run on an engine (lake/engine.py):
  `local` (this process for one worker, else spawned processes) or `ray` (an actor pool;
  model scorers on `--device cuda` get one GPU per actor, the pool sized to the cluster's
  GPUs). Each worker builds its scorer once (its model loaded once) and returns values
  with their row addresses; this process places them in their fragments' files.
- Commits: every `commit_rows` rows, one replacement of every fragment written since the
  last one (a fragment still partial is written with nulls where it is not scored yet).
  A fragment whose rows are all in is written at once and staged (LAKE/_staging/<job
  key>/): a job that dies keeps it, and the next run of the same job commits it without
  scoring it again.
- A null in the scorer's first output column marks a row not yet scored, so a killed job
  run again, or a run after more documents were ingested, scores only those rows. A
  concurrent ingest's fragments are kept (Lance rebases the replacement onto its append)
  and are scored by the next run.
- The catalog records, per column: scorer, version, parameters, rows, duration, lake
  version. A different version or parameters over an existing column is refused unless
  `replace=True`, which drops the column and scores every row again.
- Everything that can be checked is checked before the lake changes: the options, the
  scorer's parameters, what it fits from the lake, its model or tokenizer (set up once
  here), its columns, the `where` filter (planned over the data), the engine (a Ray
  address nothing answers at). Rows a scorer could not score (NaN) are counted by reason.
  A job that fails after it began writing is recorded as `failed` in the catalog, with its
  error; running it again resumes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake, catalog, display, schema
from winnow.lake.columns import add_columns, drop_columns
from winnow.lake.engine import Engine, LocalEngine, reach
from winnow.lake.errors import WinnowError, check, positive
from winnow.lake.extras import need
from winnow.lake.fragments import ColumnWriter, Staging, commit_staged
from winnow.lake.killpoints import step
from winnow.lake.lake import clean_message
from winnow.lake.progress import Progress
from winnow.lake.version import WINNOW_VERSION
from winnow.lake.workers import context

from winnow.scoring.model import check_device
from winnow.scoring.registry import resolve
from winnow.scoring.scorer import ScoreError, Scorer, ScoreUsageError

DEFAULT_BATCH_ROWS = 1024
DEFAULT_COMMIT_ROWS = 65536
TASK_ROWS = 16384  # rows per unit of work handed to a worker, at most
# ... and at least, when several workers share a job: a smaller job stays one unit (in this
# process), since starting workers and warming their caches cost more than the second core
# gives back below ~2,000 real documents (bench/score.py's real-document run: 1,748 documents
# in 6.1 CPU-s as one unit, 7.9 cut for 2 workers)
MIN_TASK_ROWS = 2048
UNITS_PER_WORKER = 4  # units a job is cut into per worker, where TASK_ROWS allows
DEVICE = re.compile(r"(cpu|mps|cuda(:\d+(,\d+)*)?|xpu(:\d+)?)")
CORE_COLUMNS = frozenset(schema.DOCS.names)  # the documents' own columns: never a metric

__all__ = ["ScoreResult", "ScoreError", "ScoreUsageError", "outputs_table", "score"]


@display.shown
@dataclass
class ScoreResult:
    scorer: str
    version: str
    columns: list[str]
    scored: int = 0  # rows computed by this run
    rows: int = 0  # rows holding a value after it
    seconds: float = 0.0
    lake_version: int = 0
    note: str = ""
    nan: dict[str, int] = field(default_factory=dict)  # rows given NaN by this run, by reason
    staged: int = 0  # rows an earlier, interrupted run computed and staged, committed by this one
    engine: str = "local"
    warning: str = ""  # what the run did not do as asked (a --device the scorer does not use)

    def _summary(self) -> str:
        return (f"{self.scorer} v{self.version}: {len(self.columns)} column(s), {self.scored:,} rows scored, "
                f"{self.rows:,} with values, lake version {self.lake_version}")

    def _view(self) -> display.View:
        v = display.View(f"score {self.scorer} v{self.version}", [
            ("columns", self.columns if len(self.columns) <= 6 else f"{', '.join(self.columns[:6])}, … "
                                                                      f"({len(self.columns)} columns)"),
            ("rows scored", self.scored), ("rows with values", self.rows),
            ("seconds", round(self.seconds, 2)),
            ("rows/s", round(self.scored / self.seconds) if self.seconds and self.scored else None),
            ("engine", self.engine), ("lake version", self.lake_version)])
        if self.staged:
            v.fields.append(("staged before", self.staged))
        if self.nan:
            v.fields.append(("NaN by reason", self.nan))
        v.fields += [(k, x) for k, x in (("note", self.note), ("warning", self.warning)) if x]
        return v


@dataclass(frozen=True)
class _Job:
    """What a worker needs to score tasks on its own (picklable)."""

    lake_uri: str
    storage_options: dict
    version: int
    spec: str
    params: dict
    device: str | None  # None: each worker takes the next of the devices dealt
    columns: tuple[str, ...]
    filter: str
    batch_rows: int


def score(
    lake: Lake,
    spec: str,
    *,
    params: dict[str, Any] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    device: str = "cpu",
    where: str | None = None,
    replace: bool = False,
    commit_rows: int = DEFAULT_COMMIT_ROWS,
    progress: Progress | None = None,
    query: Callable[[str, int], pa.Table] | None = None,
    engine: Engine | None = None,
) -> ScoreResult:
    """Score the rows of `docs` that lack the scorer's columns (all rows with `replace`).

    `engine`: where the units run (lake/engine.py; default: a local engine with a worker per
    core); its `workers`: processes or actors. A `ScoreUsageError` (nothing written) for a bad
    option, parameter, tokenizer, model, column or `where` filter, or an engine that cannot
    reach the lake; a `ScoreError` for a job that failed once it had begun writing (recorded
    as `failed` in the catalog). `query(sql, version)` runs read-only SQL over the lake for
    the `where` filter and for scorers that fit on it (the API layer passes it)."""
    t0 = time.perf_counter()
    positive(batch_rows, "batch_rows (--batch-rows)")
    positive(commit_rows, "commit_rows (--commit-rows)")
    engine = engine if engine is not None else LocalEngine()
    workers = engine.workers
    positive(workers, "workers (--workers)")
    check(isinstance(device, str) and DEVICE.fullmatch(device) is not None,
          f"device {device!r}: use cpu, cuda, cuda:N, cuda:N,M,..., mps or xpu")
    cls = resolve(spec)
    if cls.extra:
        need(cls.extra, f"the {cls.name} scorer", cls.needs or None)
    if cls.uses_model:
        _check_gpus(device, engine)
    params = cls.check_params(params)
    docs = lake.docs()
    scorer, fields, identity, params = _prepare(cls, params, lake, docs.version, query, engine)
    names = [f.name for f in fields]
    report = ScoreResult(scorer=cls.name, version=cls.version, columns=names)
    if not cls.uses_model and device != "cpu":
        report.warning = f"scorer {cls.name} runs no model: --device {device} is not used (it runs on the CPU)"
    params_json = json.dumps(identity, sort_keys=True, default=str)
    _check_columns(docs, cls, names)
    _check_ownership(lake, cls, params_json, names, replace)
    # Files an interrupted run of this job staged, still valid: committed first, not scored.
    staging = Staging(lake, _job_key(cls, params_json, names))
    staged = [] if replace else staging.usable(docs, names)
    # Plan over the rows to score before anything is written: this also tries the filter.
    resuming = names[0] in docs.schema.names and not replace
    skip = {s.fragment_id for s in staged}
    # A model scorer's units stay whole: its batches (and their padding) are cut within a unit.
    sharing = 1 if cls.uses_model else workers
    tasks = _plan(docs, names[0] if resuming else None, where, query,
                  [f for f in docs.get_fragments() if f.fragment_id not in skip], sharing)
    total = sum(t[2] for t in tasks)
    runner = engine
    reach(runner, lake.uri, ScoreUsageError)  # before anything is written
    report.engine = runner.name
    devices = _devices(device, runner) if cls.uses_model else [device]
    if runner.places_gpus and devices[0] == "cuda":
        runner = _size_gpu_pool(runner, workers)
    if total:
        _call(cls, "cannot be set up", scorer.setup, _check_device(devices[0], runner))

    # From here on the lake changes.
    now = datetime.now(timezone.utc)
    version = docs.version
    committed = 0
    started = False
    writer = None
    try:
        if replace:
            staging.clear()
            drop_columns(lake, names)
            step("score:dropped")
        # The claim comes before the columns: a column this job added is never without its
        # owner's row, so a run after a kill finds it its own and resumes.
        catalog.record_metrics(lake, [_metric_row(cls, n, params_json, "running", now) for n in names])
        step("score:claimed")
        add_columns(lake, fields)
        step("score:columns")
        version = lake.docs().version
        if staged:  # committed as they are; what they lack (another `where`) is planned now
            version, report.staged = commit_staged(lake, staging, staged, version, names)
            step("score:staged-committed")
            docs = lake.docs(version)
            tasks += _plan(docs, names[0], where, query, [docs.get_fragment(f) for f in sorted(skip)
                                                          if docs.get_fragment(f) is not None], sharing)
            total = sum(t[2] for t in tasks)
        job = _Job(lake.uri, lake.storage_options, version, spec, params, device,
                   ("id", *cls.inputs), f"{names[0]} IS NULL", batch_rows)
        rows: Counter = Counter()
        for fragment_id, _, n, _ in tasks:
            rows[fragment_id] += n
        writer = ColumnWriter(lake, fields, version, rows, staging)
        if progress and total:  # none when an interrupted run's staged files held every row
            progress.start(f"{cls.name} v{cls.version}", total, "rows")
            started = True
        nan: Counter = Counter()
        for result, counts in _results(lake, job, scorer, tasks, workers, devices if cls.uses_model else None, runner):
            nan.update(counts)
            report.nan = dict(nan)
            writer.add(result)
            report.scored += result.num_rows
            if progress:
                progress.advance(result.num_rows)
            if writer.pending >= commit_rows:
                pending = writer.pending
                version = writer.commit()
                committed += pending
        pending = writer.pending
        version = writer.commit()
        committed += pending
        staging.clear()
        step("score:written")
    except BaseException as e:
        message = _failure(e)
        _record_failure(lake, cls, names, params_json, now, version, t0, message)
        if not isinstance(e, Exception):  # KeyboardInterrupt, SystemExit: recorded, then let through
            raise
        kept = writer.staged_rows() if writer is not None else 0
        kept = f" and staging {kept:,} more" if kept else ""
        raise ScoreError(
            f"scorer {cls.name} failed after committing {committed:,}{kept} of {total:,} rows ({message}); "
            f"recorded as failed in the catalog; run it again to resume"
        ) from e
    finally:
        if started:
            progress.stop()
    report.rows = lake.docs().count_rows(filter=f"{names[0]} IS NOT NULL")
    report.seconds = time.perf_counter() - t0
    report.lake_version = version
    if not total and not staged:
        report.note = "up to date: no row lacks these columns"
    catalog.record_metrics(
        lake,
        [_metric_row(cls, n, params_json, "done", now, report.rows, report.seconds, version) for n in names],
    )
    return report


def _job_key(cls: type[Scorer], params_json: str, names: list[str]) -> str:
    """What names one job's staged files: the scorer, its version, parameters and columns."""
    text = json.dumps([cls.name, cls.version, params_json, names])
    return f"score-{re.sub(r'[^A-Za-z0-9_.-]', '_', cls.name)}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _size_gpu_pool(runner: Engine, workers: int | None) -> Engine:
    """The engine sized to one worker per GPU it can place (at most `workers`); a
    `ScoreUsageError` when it has none."""
    gpus = runner.gpus()
    if gpus < 1:
        raise ScoreUsageError(f"--device cuda: the {runner.title} cluster has no GPU (start its nodes with "
                              "GPUs, or use --device cpu)")
    return runner.with_workers(min(workers or gpus, gpus))


def _check_gpus(device: str, runner: Engine) -> None:
    """Refuse a CUDA device this machine lacks, before any model is loaded: no GPU for
    `cuda`, or an index past the last GPU for `cuda:N`. An engine that places GPUs on its
    workers (Ray) is checked when its pool is sized."""
    kind, _, ids = device.partition(":")
    if kind != "cuda" or runner.places_gpus:
        return
    for one in [f"cuda:{i}" for i in ids.split(",")] if ids else ["cuda"]:
        check_device(one)


def _check_device(device: str, runner: Engine) -> str:
    """Where this process sets the scorer up to check it: the device, except a GPU this
    process lacks when the engine places GPUs on its workers (then the CPU)."""
    if runner.places_gpus and device.startswith("cuda"):
        import torch

        return device if torch.cuda.is_available() else "cpu"
    return device


def _call(cls: type[Scorer], doing: str, fn, *args, **kwargs):
    """fn(...); an error the scorer raises becomes one line naming the scorer (nothing is written yet)."""
    try:
        return fn(*args, **kwargs)
    except WinnowError:
        raise
    except Exception as e:
        text = " ".join(str(e).split())
        text = text[len(cls.name) + 2:] if text.startswith(f"{cls.name}: ") else text
        if isinstance(e, (ValueError, TypeError, LookupError, OSError, ImportError)):
            detail = text if isinstance(e, ValueError) else f"{type(e).__name__}: {text}"
            raise ScoreUsageError(f"scorer {cls.name} {doing}: {detail}") from e
        raise ScoreError(f"scorer {cls.name} {doing}: {type(e).__name__}: {text}") from e


def _devices(device: str, runner: Engine | None = None) -> list[str]:
    """The devices a model scorer runs on, one worker each: `cuda:0,1` -> cuda:0 and cuda:1;
    `cuda` -> every visible GPU (the current one when torch sees none: setup says so). On an
    engine that places GPUs (Ray), `cuda` (any form): each worker holds one GPU, its `cuda`."""
    kind, _, ids = device.partition(":")
    if runner is not None and runner.places_gpus:
        return [kind]
    if ids:
        return [f"{kind}:{i}" for i in ids.split(",")]
    if kind == "cuda":
        import torch

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [f"cuda:{i}" for i in range(n)] if n > 1 else ["cuda"]
    return [device]


def _prepare(cls: type[Scorer], params: dict, lake: Lake, version: int, query,
             engine: Engine | None = None) -> tuple:
    """The scorer (fitted on the lake when it fits; handed the engine when its `fit` takes
    one), its output fields, what its columns depend on (the parameters, and the identity of
    the files behind them where the scorer can tell it), and the parameters a worker's copy
    is made with."""
    scorer = _call(cls, "cannot be made", cls, **params)
    if hasattr(scorer, "fit"):
        pinned = (lambda sql: query(sql, version)) if query else None
        extra = {"engine": engine} if "engine" in inspect.signature(scorer.fit).parameters else {}
        _call(cls, "cannot be fitted", scorer.fit, lake, version, pinned, **extra)
        if hasattr(scorer, "fitted_params"):
            params = {**params, **cls.check_params(scorer.fitted_params())}
    fields = _call(cls, "cannot declare its columns", lambda: list(scorer.outputs()))
    if not fields or not all(isinstance(f, pa.Field) for f in fields):
        raise ScoreError(f"scorer {cls.name}: outputs() must return a list of pyarrow fields, got {fields!r}")
    identity = params
    if hasattr(scorer, "fingerprint"):
        identity = {**identity, "fingerprint": _call(cls, "cannot load what it reads", scorer.fingerprint)}
    return scorer, fields, identity, params


def _check_columns(docs, cls: type[Scorer], names: list[str]) -> None:
    present = docs.schema.names
    missing = [n for n in cls.inputs if n not in present]
    if missing:
        raise ScoreUsageError(f"scorer {cls.name} reads column(s) {', '.join(missing)} that docs lacks")
    core = [n for n in names if n in CORE_COLUMNS]
    if core:
        raise ScoreUsageError(f"scorer {cls.name} would write column(s) {', '.join(core)}, which hold the documents "
                              f"themselves ({', '.join(schema.DOCS.names)}); choose another column name")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ScoreUsageError(f"scorer {cls.name} declares column(s) {', '.join(repeated)} more than once")


def _check_ownership(lake: Lake, cls: type[Scorer], params_json: str, names: list[str], replace: bool) -> None:
    present = set(lake.docs().schema.names)
    mine = [name for name in names if name in present and not replace]
    owners = {row["metric"]: row for row in catalog.metrics(lake).to_pylist()} if mine else {}  # read once
    for name in mine:
        owner = owners.get(name)
        if owner is None:
            raise ScoreUsageError(f"column {name!r} exists but no scorer wrote it; pass --replace to overwrite it")
        same = (owner["scorer"], owner["scorer_version"], owner["params"]) == (cls.name, cls.version, params_json)
        if not same:
            raise ScoreUsageError(
                f"column {name!r} holds {owner['scorer']} v{owner['scorer_version']} with params {owner['params']}; "
                f"{cls.name} v{cls.version} with params {params_json} differs: pass --replace to overwrite it"
            )


def _failure(e: BaseException) -> str:
    if isinstance(e, KeyboardInterrupt):
        return "interrupted"
    text = clean_message(e) or type(e).__name__
    return text if isinstance(e, WinnowError) else f"{type(e).__name__}: {text}"


def _record_failure(lake, cls, names, params_json, now, version, t0, message: str) -> None:
    """The catalog says `failed`, with why, for each column of a job that stopped (best effort:
    the job's own error is the one reported)."""
    try:
        rows = lake.docs().count_rows(filter=f"{names[0]} IS NOT NULL")
        catalog.record_metrics(lake, [
            _metric_row(cls, n, params_json, "failed", now, rows, time.perf_counter() - t0, version, message)
            for n in names
        ])
    except Exception:  # the store itself may be what failed
        pass


def _metric_row(cls, name, params_json, status, at, rows=None, seconds=None, version=None, error=None) -> dict:
    return {
        "metric": name, "scorer": cls.name, "scorer_version": cls.version, "params": params_json,
        "status": status, "rows": rows, "seconds": seconds, "lake_version": version,
        "at": at if status == "running" else datetime.now(timezone.utc), "winnow_version": WINNOW_VERSION,
        "error": error,
    }


def _plan(docs, unscored: str | None, where: str | None, query=None, fragments=None,
          workers: int | None = 1) -> list[tuple]:
    """Units of work over the rows to score, in `fragments` (default: all): those where column
    `unscored` is null (every row when None) and, with `where`, those the DuckDB filter keeps
    (`query(sql, version)` runs it over docs at this version, as `winnow sql` would). A unit
    is (fragment id, offset, rows, positions): without `where`, rows `offset` onwards of the
    fragment's unscored rows (positions None); with it, the row addresses `positions`. Units
    hold `_unit_rows(rows, workers)` rows (a fragment's last one fewer). A `ScoreUsageError`
    for a `where` that DuckDB cannot parse, bind or evaluate over docs."""
    fragments = docs.get_fragments() if fragments is None else fragments
    tasks = []
    if not where:
        counts = [(f.fragment_id, f.count_rows(f"{unscored} IS NULL" if unscored else None)) for f in fragments]
        size = _unit_rows(sum(n for _, n in counts), workers)
        for fragment_id, n in counts:
            for offset in range(0, n, size):
                tasks.append((fragment_id, offset, min(size, n - offset), None))
        return tasks
    addresses = _where_addresses(docs, unscored, where, query)
    fragment_of = addresses >> np.uint64(32)
    mine_of = [(f.fragment_id, addresses[fragment_of == f.fragment_id]) for f in fragments]
    size = _unit_rows(sum(len(mine) for _, mine in mine_of), workers)
    for fragment_id, mine in mine_of:
        for offset in range(0, len(mine), size):
            part = mine[offset:offset + size]
            tasks.append((fragment_id, offset, len(part), part))
    return tasks


def _unit_rows(rows: int, workers: int | None) -> int:
    """Rows per unit for a job of `rows` rows on `workers` workers (None: one per core): about
    rows / (UNITS_PER_WORKER x workers), within [MIN_TASK_ROWS, TASK_ROWS]; TASK_ROWS for one
    worker. Which rows go together never changes a value, only how evenly the workers share."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1:
        return TASK_ROWS
    return max(MIN_TASK_ROWS, min(TASK_ROWS, -(-rows // (UNITS_PER_WORKER * workers))))


def _where_addresses(docs, unscored: str | None, where: str, query) -> np.ndarray:
    """The sorted row addresses (uint64) of the rows of `docs` that DuckDB's `where` keeps,
    and whose `unscored` column is null."""
    check(query is not None, "--where needs the lake's SQL: call winnow.score, which passes it")
    condition = f"({where})" + (f" AND {unscored} IS NULL" if unscored else "")
    try:
        kept = query(f"SELECT id FROM docs WHERE {condition}", docs.version).column("id")
    except Exception as e:  # noqa: BLE001 - DuckDB's parser, binder or executor: the user's filter
        text = " ".join(str(e).split())
        text = text if len(text) <= 300 else text[:300] + "…"
        raise ScoreUsageError(f"--where {where!r} is not a filter over docs: {text}") from e
    ids = docs.to_table(columns=["id"], with_row_address=True)
    chosen = ids.column("_rowaddr").filter(pc.is_in(ids.column("id"), value_set=kept.combine_chunks()))
    return np.sort(chosen.to_numpy().astype(np.uint64))


def _results(lake, job: _Job, scorer: Scorer, tasks, workers, devices: list[str] | None,
             runner: Engine | None = None):
    """(table of `id`, `_rowaddr` and the output columns, rows given NaN by reason), in any
    order. On the local engine a job with one worker (a model scorer: one device) runs here,
    with the scorer set up already, and so does a scorer that is `in_process` on any engine
    (what it computed in its fit or setup stays in this process); otherwise each worker (one
    per device for a local model scorer) sets up its own copy."""
    runner = runner or LocalEngine()
    n = len(devices) if devices else (workers or runner.size(0))
    local = runner.runs_in_process and (n <= 1 or len(tasks) <= 1 or lake.uri.startswith("memory://"))
    if local or scorer.in_process:
        docs = lake.docs(job.version)  # the scorer was set up before the first write
        for task in tasks:
            yield from _score_task(docs, scorer, job, task)
        return
    deal = None
    num_gpus = 0
    if devices:
        if hasattr(scorer, "release"):
            scorer.release()  # the workers load their own copies
        if runner.places_gpus:  # one GPU per worker, which the engine makes its `cuda`
            num_gpus = 1 if devices[0] == "cuda" else 0
            job = dataclasses.replace(job, device=devices[0])
        else:  # worker k of each pool (a new one after a death) takes device k
            deal = (devices, context().Value("i", 0))
            job = dataclasses.replace(job, device=None)
    if not runner.places_gpus and runner.workers != n:  # a worker per device dealt, else per core
        runner = runner.with_workers(n)  # (the same engine when sized already: its kept workers stay)
    if devices:  # each worker sets up its model once, on its device
        results = runner.map(_score_unit, tasks, init=_open_worker, args=(job, deal), num_gpus=num_gpus,
                             describe=_describe)
    else:  # each unit names its job: the workers of one pass serve the next (Engine.reusing)
        results = runner.map(_score_job_unit, [(job, task) for task in tasks], init=_new_state, describe=_describe)
    for _, result in results:
        if result is not None:
            yield result


def _describe(task) -> str:
    fragment_id, offset, rows, _ = task[1] if isinstance(task[0], _Job) else task
    return f"fragment {fragment_id} (its rows {offset:,} to {offset + rows:,} to score)"


def _score_task(docs, scorer: Scorer, job: _Job, task):
    """(table, NaN counts) for each batch of one task."""
    fields = scorer.outputs()
    batches: list[pa.RecordBatch] = []

    def read():
        for batch in _task_batches(docs, job, task):
            if batch.num_rows:
                batches.append(batch)
                yield batch.select(list(job.columns))

    counts = getattr(scorer, "counts", None)
    for out in scorer.score_stream(read()):
        taken = Counter(counts) if counts else Counter()
        if counts:
            counts.clear()
        batch = batches.pop(0)
        table = outputs_table(scorer, fields, batch.select(list(job.columns)), out)
        yield table.append_column("_rowaddr", batch.column("_rowaddr")), taken


def _task_batches(docs, job: _Job, task):
    """A unit's rows in batches of `job.batch_rows`: its input columns and `_rowaddr`."""
    fragment_id, offset, rows, positions = task
    if positions is None:
        yield from docs.scanner(
            columns=list(job.columns), filter=job.filter, fragments=[docs.get_fragment(fragment_id)],
            offset=offset, limit=rows, batch_size=job.batch_rows, with_row_address=True,
        ).to_batches()
        return
    for start in range(0, len(positions), job.batch_rows):
        part = pa.array(positions[start:start + job.batch_rows], pa.uint64())
        table = docs._take_rows(part, columns=list(job.columns)).append_column("_rowaddr", part)
        yield from table.combine_chunks().to_batches()


def outputs_table(scorer: Scorer, fields: list[pa.Field], batch: pa.RecordBatch, out=None) -> pa.Table:
    """`id` and the scorer's columns for one batch (`out`: what it returned; computed here when
    None), checked against what it declared."""
    out = scorer.score(batch) if out is None else out
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


def _open_worker(job: _Job, deal=None) -> tuple:
    """A worker's state, built once: the pinned docs and its own scorer, set up on its device
    (`job.device`, or the next of `deal`: (devices, a shared counter))."""
    lake = Lake(job.lake_uri, job.storage_options)
    scorer = resolve(job.spec)(**job.params)
    device = job.device
    if device is None:
        devices, counter = deal
        with counter.get_lock():
            device = devices[counter.value % len(devices)]
            counter.value += 1
    scorer.setup(device)
    return lake.docs(job.version), scorer, job


def _new_state() -> dict:
    """A worker's state when its units name their job: the job it has open (none yet)."""
    return {}


def _score_job_unit(state: dict, unit) -> tuple[pa.Table, Counter] | None:
    """`_score_unit` for a unit (job, task): the worker opens the job (its pinned docs and
    scorer) at the job's first unit and keeps it for the next ones; a new job replaces it."""
    job, task = unit
    if state.get("job") != job:
        state.clear()
        state["job"], state["opened"] = job, _open_worker(job)
    return _score_unit(state["opened"], task)


def _score_unit(state: tuple, task) -> tuple[pa.Table, Counter] | None:
    """One unit's results: (table of its rows, NaN counts); None when it read no row."""
    docs, scorer, job = state
    tables, counts = [], Counter()
    for table, taken in _score_task(docs, scorer, job, task):
        tables.append(table)
        counts.update(taken)
    return (pa.concat_tables(tables), counts) if tables else None
