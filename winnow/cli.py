"""The `winnow` command: a thin layer over the Python API, one verb per command."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Optional

import duckdb
import orjson
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer

try:  # typer >= 0.22 carries its own click
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import winnow
from winnow.ingest import DEFAULT_COMMIT_BYTES, DEFAULT_MAX_DOC_BYTES, FieldNames, IngestReport
from winnow.lake import Lake, UsageError, WinnowError
from winnow.sql import selections as wsel
from winnow.sql.preview import diff as diff_selections
from winnow.sql.preview import preview as preview_selection
from winnow.train.materialize.job import materialize as materialize_selection

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="winnow: a pretraining-data lake with SQL selection. Errors are one line (exit 2: usage, 1: a failed "
         "job); --debug anywhere shows the traceback.",
)
# Wide enough for query results when the output is not a terminal (pipes, CI logs).
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)

StorageOption = typer.Option(None, "--storage-option", "-o", help="KEY=VALUE passed to the object store (repeatable).")
EngineOption = typer.Option(None, "--engine", help="Where the work runs: local (default) or ray; default "
                                                   "$WINNOW_ENGINE.")
RayAddressOption = typer.Option(None, "--ray-address", help="The Ray cluster (HOST:PORT of its head; default "
                                                            "$WINNOW_RAY_ADDRESS; none: a local one is started).")


def _pairs(pairs: Optional[list[str]], what: str = "option") -> dict[str, str]:
    """KEY=VALUE strings as a dict."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{what} {pair!r} is not KEY=VALUE")
        options[key] = value
    return options


def _options(pairs: Optional[list[str]]) -> dict[str, str]:
    return _pairs(pairs, "storage option")


def _open(uri: str, pairs) -> Lake:
    return Lake.open(uri, _options(pairs))


@app.command()
def init(
    uri: str,
    compress_text: bool = typer.Option(
        False, "--compress-text", help="Compress the text (about 1.6x less disk; ingest ~10x and scans ~3x slower)."
    ),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Create an empty lake at a path or URI (s3://, gs://, az://, memory://)."""
    lake = Lake.create(uri, _options(storage_option), compress_text)
    out.print(f"created lake at {lake.uri}")


class _Bar:
    """The command line's view of `winnow.lake.progress.Progress`: a bar, the units done of
    the total, side counts (documents, tokens) and rates."""

    def __init__(self, console: Console):
        self.console = console
        self.counts: dict[str, int] = {}

    def start(self, label: str, total: Optional[int], unit: str) -> None:
        self.unit, self.t0 = unit, time.perf_counter()
        done = DownloadColumn() if unit == "bytes" else TextColumn("{task.completed:,}/{task.total:,} " + unit)
        self.bar = Progress(TextColumn(label), BarColumn(), done, TextColumn("{task.fields[counts]}"),
                            TimeElapsedColumn(), console=self.console)
        self.task = self.bar.add_task(label, total=total or None, counts="")
        self.bar.start()

    def advance(self, done: int, **counts: int) -> None:
        for k, v in counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        self.bar.advance(self.task, done)
        dt = max(time.perf_counter() - self.t0, 1e-9)
        rate = self.bar.tasks[0].completed / dt
        shown = [f"{rate / 1e6:,.1f} MB/s" if self.unit == "bytes" else f"{rate:,.0f} {self.unit}/s"]
        shown += [f"{v:,} {k} · {v / dt:,.0f} {k}/s" for k, v in self.counts.items()]
        self.bar.update(self.task, counts=" · ".join(shown))

    def stop(self) -> None:
        self.bar.stop()


def _balance(r) -> str:
    return f"read {r.read:,} = written {r.written:,} + duplicates {r.duplicates:,} + rejected {r.rejected:,}"


def print_summary(report: IngestReport, uri: str) -> None:
    for line in report.first_rejects:
        err.print(f"reject: {line}", markup=False)
    shown = len(report.first_rejects)
    total = report.total()
    if total.rejected > shown:
        err.print(
            f"... {total.rejected - shown:,} more rejects: winnow sql {uri} \"SELECT * FROM rejects\"", markup=False
        )
    for f in report.files:
        note = f"  [{f.status}: {f.note}]" if f.note else ""
        out.print(f"{f.input}: {_balance(f)}{note}", markup=False)
    if report.passed_over:
        out.print(f"passed over {len(report.passed_over)} file(s) of unknown format: {', '.join(report.passed_over)}", markup=False)
    rate = total.read / report.seconds if report.seconds else 0.0
    out.print(
        f"total: {_balance(total)} · {len(report.files)} input(s) · {report.seconds:.1f} s · "
        f"{rate:,.0f} docs/s · {report.bytes_read / max(report.seconds, 1e-9) / 1e6:,.1f} MB/s · "
        f"lake version {report.lake_version}",
        markup=False,
    )


@app.command()
def ingest(
    uri: str,
    inputs: list[str] = typer.Argument(..., help="Files, directories, globs or fsspec URIs."),
    source: Optional[str] = typer.Option(None, help="Source name of these documents (default: file or folder name)."),
    text_field: str = typer.Option("text", help="Field holding the text."),
    id_field: str = typer.Option("id", help="Field holding the input's document id."),
    url_field: str = typer.Option("url", help="Field holding the URL."),
    workers: Optional[int] = typer.Option(None, help="Parsing processes or Ray actors (default: all cores, or the "
                                                     "Ray cluster's CPUs)."),
    max_doc_bytes: int = typer.Option(DEFAULT_MAX_DOC_BYTES, help="Reject documents whose text is larger."),
    commit_mb: float = typer.Option(
        DEFAULT_COMMIT_BYTES / 2**20,
        help="Commit after this many MB of text (a killed ingest resumes after the last commit; small values "
             "mean more, smaller commits).",
    ),
    reingest: bool = typer.Option(
        False, "--reingest", help="Read inputs again that were ingested before with the same options "
                                  "(their documents dedup against the lake)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit non-zero when any record is rejected."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    storage_option: Optional[list[str]] = StorageOption,
    engine: Optional[str] = EngineOption,
    ray_address: Optional[str] = RayAddressOption,
) -> None:
    """Ingest documents; each input's counts balance: read = written + duplicates + rejected.

    An input is skipped when it was ingested before with the same options (the same bytes
    under any name); other field or size options read it again. An input whose every
    record is rejected is an error (exit 1) and is not recorded as ingested. On either
    engine the first of two equal documents (input order, then row) is the one kept."""
    if not math.isfinite(commit_mb):
        raise UsageError(f"--commit-mb must be a number of MB > 0, got {commit_mb}")
    lake = _open(uri, storage_option)
    report = winnow.ingest_files(
        lake,
        inputs,
        source=source,
        fields=FieldNames(text=text_field, id=id_field, url=url_field),
        workers=workers,
        max_doc_bytes=max_doc_bytes,
        commit_bytes=math.ceil(commit_mb * 2**20),
        reingest=reingest,
        progress=_Bar(err) if progress else None,
        engine=engine,
        ray_address=ray_address,
    )
    print_summary(report, lake.uri)
    if report.failed:  # one error line, naming each failed input and why
        notes = "; ".join(f.note for f in report.failed)
        raise WinnowError(notes if len(report.failed) == 1 else f"{len(report.failed)} inputs failed: {notes}")
    if strict and report.total().rejected:
        raise WinnowError(f"{report.total().rejected:,} record(s) rejected and --strict was given")


@app.command()
def info(uri: str, storage_option: Optional[list[str]] = StorageOption) -> None:
    """What a lake holds: documents, sources, bytes, columns, versions, size on disk."""
    i = winnow.info(_open(uri, storage_option))
    size = f"{i.size_on_disk / 1e6:,.1f} MB" if i.size_on_disk is not None else "n/a (store not listable)"
    out.print(f"lake {i.uri}", markup=False)
    out.print(f"documents {i.documents:,} · text {i.text_bytes / 1e6:,.1f} MB · size on disk {size}")
    out.print(f"lake version {i.version} ({i.versions} versions) · ingests {i.ingests or {}} · rejects {i.rejects:,}")
    sources = Table("source", "documents", "text MB", title="sources")
    for s in i.sources:
        sources.add_row(s["source"], f"{s['documents']:,}", f"{s['text_bytes'] / 1e6:,.2f}")
    out.print(sources)
    columns = Table("column", "type", title="docs columns")
    for name, typ in i.columns:
        columns.add_row(name, typ)
    out.print(columns)
    if i.metrics:
        metrics = Table("column", "scorer", "version", "rows", "seconds", "lake version", title="metrics")
        for m in i.metrics:
            metrics.add_row(m["metric"], m["scorer"], m["scorer_version"], f"{m['rows'] or 0:,}",
                            f"{m['seconds'] or 0:.1f}", str(m["lake_version"]))
        out.print(metrics)
    if i.reject_reasons:
        reasons = Table("reason", "rejects", title="rejects")
        for r in i.reject_reasons:
            reasons.add_row(r["reason"], f"{r['count']:,}")
        out.print(reasons)


def _params(pairs: Optional[list[str]]) -> dict:
    return _pairs(pairs, "parameter")


class _ScoreCommand(typer.core.TyperCommand):
    """`winnow score --help SCORER...`: those scorers' parameters (name, type, default, help)."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        at = next((i for i, a in enumerate(args) if a in ctx.help_option_names), None)
        named = [a for a in args[at + 1:] if not a.startswith("-")] if at is not None else []
        if named:
            from winnow.scoring import resolve

            out.print("\n\n".join(resolve(spec).describe() for spec in named), markup=False)
            ctx.exit(0)
        return super().parse_args(ctx, args)


@app.command(cls=_ScoreCommand)
def score(
    uri: str,
    scorers: list[str] = typer.Argument(..., help="Scorer names, entry points, or path/to/file.py:ClassName."),
    param: Optional[list[str]] = typer.Option(None, "--param", "-p", help="KEY=VALUE passed to the scorer(s)."),
    tokenizer: Optional[str] = typer.Option(None, help="Tokenizer for `tokens`: tokenizer.json, SentencePiece .model, or HF id/path."),
    model: Optional[str] = typer.Option(None, help="Model for model scorers: a local path or hub id."),
    workers: Optional[int] = typer.Option(None, help="Processes (local) or actors (ray) for CPU scorers (default: all "
                                                     "cores, or the Ray cluster's CPUs)."),
    batch_size: int = typer.Option(1024, help="Rows per batch handed to the scorer."),
    device: str = typer.Option("cpu", help="cpu | cuda | cuda:N | cuda:0,1 (one worker per GPU), for model scorers; "
                                           "with --engine ray, cuda is one GPU per actor."),
    where: Optional[str] = typer.Option(None, help="Score only rows matching this filter (Lance SQL expression)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite existing columns (a new scorer version or params)."),
    commit_rows: int = typer.Option(65536, help="Commit results every this many rows (the unit of resume)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    storage_option: Optional[list[str]] = StorageOption,
    engine: Optional[str] = EngineOption,
    ray_address: Optional[str] = RayAddressOption,
) -> None:
    """Add one column per metric: only rows that lack it are scored; the text is never rewritten.

    `winnow score --help SCORER` lists a scorer's parameters (-p NAME=VALUE). Built-in scorers:
    rps, gopher, c4, fineweb, tokens, lang, embed, hf-classifier."""
    from winnow.scoring import params_for

    params = _params(param)
    if tokenizer:
        params["tokenizer"] = tokenizer
    if model:
        params["model"] = model
    checked = params_for(scorers, params)  # every scorer's parameters, before the first one runs
    lake = _open(uri, storage_option)
    for spec, (_, scorer_params) in zip(scorers, checked):
        r = winnow.score(
            lake, spec, params=scorer_params, workers=workers, batch_rows=batch_size, device=device, where=where,
            replace=replace, commit_rows=commit_rows, progress=_Bar(err) if progress else None, engine=engine,
            ray_address=ray_address,
        )
        rate = r.scored / r.seconds if r.seconds else 0.0
        note = f" ({r.note})" if r.note else ""
        if r.staged:
            note += f" (and committed {r.staged:,} rows an interrupted run had staged)"
        if r.nan:
            note += " (NaN, not scorable: " + ", ".join(f"{n:,} {why}" for why, n in sorted(r.nan.items())) + ")"
        out.print(
            f"{r.scorer} v{r.version}: scored {r.scored:,} rows in {r.seconds:.1f} s ({rate:,.0f} rows/s); "
            f"{len(r.columns)} column(s) {', '.join(r.columns)} now hold {r.rows:,} rows; lake version {r.lake_version}{note}",
            markup=False,
        )


@app.command("import-scores")
def import_scores(
    uri: str,
    file: str = typer.Argument(..., help="Parquet or JSON lines with an id column."),
    on: str = typer.Option("id", help="The file's column holding the lake's document ids."),
    columns: Optional[list[str]] = typer.Option(None, "--column", "-c", help="Columns to import (default: all)."),
    split: Optional[list[str]] = typer.Option(None, help="LIST_COLUMN=name1,name2,...: split a list column."),
    replace: bool = typer.Option(False, "--replace"),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Import scores computed elsewhere as columns; ids not in the lake are counted."""
    splits = {k: [name.strip() for name in v.split(",")] for k, v in _params(split).items()}
    r = winnow.import_scores(_open(uri, storage_option), file, on=on, columns=columns, split=splits, replace=replace)
    out.print(
        f"{file}: read {r.read:,} rows = matched {r.matched:,} + ids not in the lake {r.unknown_ids:,}; "
        f"columns {', '.join(r.columns)}; lake version {r.lake_version}",
        markup=False,
    )


@app.command()
def dedup(
    uri: str,
    method: str = typer.Option(..., "--method", help="minhash (signatures of `winnow score LAKE minhash`) or "
                                                     "semantic (an embedding column)."),
    threshold: Optional[float] = typer.Option(
        None, "--threshold", help="minhash: the least estimated Jaccard of a pair (default 0.8; 0: every LSH "
                                  "candidate, as datatrove); semantic: the least cosine similarity (default 0.95)."),
    keep_by: Optional[str] = typer.Option(
        None, "--keep-by", metavar="SQL_EXPR", help="Keep the member with the highest value of this SQL "
                                                    "expression over docs (NULL lowest); ties, and none, by "
                                                    "the smallest id."),
    column: Optional[str] = typer.Option(None, "--column", help="The signature or embedding column (default "
                                                                "minhash / embedding)."),
    clusters: Optional[int] = typer.Option(None, "--clusters", help="semantic: k-means clusters."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    storage_option: Optional[list[str]] = StorageOption,
    engine: Optional[str] = EngineOption,
    ray_address: Optional[str] = RayAddressOption,
    workers: Optional[int] = typer.Option(None, help="Processes (local) or actors (ray) (default: all cores, or "
                                                     "the Ray cluster's CPUs)."),
) -> None:
    """Mark near-duplicates as columns, deleting nothing: minhash writes dup_cluster (the
    cluster's smallest row, NULL when unique) and dup_keep; semantic writes semdup_cluster and
    semdup_keep. Select `WHERE dup_keep` for the deduplicated lake. Only changed rows are written."""
    options = {"column": column, "threshold": threshold, "keep_by": keep_by, "clusters": clusters,
               "engine": engine, "ray_address": ray_address, "workers": workers}
    r = winnow.dedup(_open(uri, storage_option), method, progress=_Bar(err) if progress else None, **options)
    out.print(
        f"dedup {r.method}: {r.rows:,} rows, {r.clusters:,} clusters, {r.duplicates:,} duplicates not kept; "
        f"{', '.join(r.columns)} written for {r.changed:,} changed rows in {r.seconds:.1f} s; "
        f"lake version {r.lake_version}",
        markup=False,
    )


@app.command()
def index(
    uri: str,
    column: str = typer.Argument("embedding", help="The vector column (what `winnow score LAKE embed` writes)."),
    partitions: Optional[int] = typer.Option(None, "--partitions", help="IVF partitions (default: sqrt(rows), at "
                                                                        "most rows / 256)."),
    sub_vectors: Optional[int] = typer.Option(None, "--sub-vectors", help="PQ sub-vectors (default: dimension / "
                                                                          "16, else / 8); must divide the dimension."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Build an IVF-PQ vector index (cosine) on a vector column through lancedb, for `winnow similar`.

    Rows added or embedded again later are searched exactly until the index is built again."""
    r = winnow.index(_open(uri, storage_option), column, partitions=partitions, sub_vectors=sub_vectors)
    out.print(f"index {r.name}: IVF-PQ cosine on {r.column}, {r.rows:,} vectors, {r.partitions:,} partitions, "
              f"{r.sub_vectors} sub-vectors, in {r.seconds:.1f} s; lake version {r.lake_version}", markup=False)


@app.command()
def similar(
    uri: str,
    doc_id: Optional[str] = typer.Option(None, "--id", help="The nearest documents to this document."),
    text: Optional[str] = typer.Option(None, "--text", help="The nearest documents to this text, embedded with the "
                                                            "model and parameters that wrote --column."),
    k: int = typer.Option(10, "-k", help="How many documents."),
    where: Optional[str] = typer.Option(None, "--where", help="Only documents matching this filter (Lance SQL "
                                                              "expression over docs), applied before the search."),
    column: str = typer.Option("embedding", "--column", help="The vector column searched."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """The nearest documents by cosine distance: rank, id, distance, source, the start of the
    text and the lake's numeric score columns. With --id, that document comes first.

    Uses the column's index when there is one (`winnow index`), an exact search otherwise."""
    r = winnow.similar(_open(uri, storage_option), id=doc_id, text=text, k=k, where=where, column=column)
    to = f"document {doc_id}" if doc_id is not None else f"text {_cell(text, 60)!r}"
    how = "index" if r.indexed else "exact search"
    out.print(f"{r.documents.num_rows} nearest to {to} by cosine distance of {column} ({how}, {r.seconds:.3f} s); "
              f"lake version {r.lake_version}", markup=False)
    fixed = {"rank", "id", "distance", "source", "text"}
    for row in r.documents.to_pylist():
        scores = " ".join(f"{name}={_number(v)}" for name, v in row.items() if name not in fixed and v is not None)
        out.print(f"{row['rank']:>3}. {row['id']}  distance {row['distance']:.4f}  source {row['source']}"
                  + (f"  {scores}" if scores else ""), markup=False)
        out.print(f"     {_cell(row['text'], 150)}", markup=False)


def _number(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


select_app = typer.Typer(no_args_is_help=True, help="Named selections: SQL pinned to a lake version.")
app.add_typer(select_app, name="select")


@select_app.command("create")
def select_create(
    uri: str,
    name: str,
    sql_file: Optional[Path] = typer.Option(None, "--sql", help="A file holding the selection's SQL."),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="The selection's SQL."),
    seed: int = typer.Option(0, help="The seed, an integer from 0 to 2**63 - 1; the SQL reads it as seed()."),
    replace: bool = typer.Option(False, "--replace", help="Redefine an existing selection."),
    exclude: Optional[list[str]] = typer.Option(
        None, "--exclude", metavar="SELECTION",
        help="Leave out another selection's documents: the SQL sees docs without them, before any budget "
             "(repeatable; e.g. a validation set)."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Store a selection: its SQL (one SELECT over the lake's tables returning an `id` column),
    seed, and the lake version it reads from now on. Nothing is written unless the SQL runs
    and its rows check out."""
    if (sql_file is None) == (query is None):
        raise typer.BadParameter("give exactly one of --sql FILE or --query SQL")
    try:
        text = sql_file.read_text(encoding="utf-8") if sql_file else query
    except OSError as e:
        raise UsageError(f"--sql {sql_file}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--sql {sql_file}: not UTF-8 text") from None
    sel = wsel.create(_open(uri, storage_option), name, text, seed=seed, replace=replace, exclude=exclude or ())
    out.print(f"selection {sel.name}: {sel.documents:,} documents, pinned to lake version {sel.lake_version}, seed {sel.seed}"
              + (f", without the documents of {', '.join(sel.exclude)}" if sel.exclude else ""), markup=False)


@select_app.command("list")
def select_list(uri: str, storage_option: Optional[list[str]] = StorageOption) -> None:
    """Every named selection."""
    t = Table("name", "documents", "lake version", "seed", "created")
    for s in wsel.all_selections(_open(uri, storage_option)):
        t.add_row(s.name, f"{s.documents:,}", str(s.lake_version), str(s.seed), f"{s.created_at:%Y-%m-%d %H:%M}")
    out.print(t)


@select_app.command("show")
def select_show(uri: str, name: str, storage_option: Optional[list[str]] = StorageOption) -> None:
    """A selection's SQL, seed and pinned version."""
    s = wsel.get(_open(uri, storage_option), name)
    out.print(f"selection {s.name} · lake version {s.lake_version} · seed {s.seed} · {s.documents:,} documents"
              + (f" · excludes {', '.join(s.exclude)}" if s.exclude else ""), markup=False)
    out.print(s.sql, markup=False)


@select_app.command("preview")
def select_preview(
    uri: str,
    name: str,
    samples: int = typer.Option(2, help="Documents shown from the top, middle and bottom."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Documents, tokens, share per source, score histogram, sample documents."""
    p = preview_selection(_open(uri, storage_option), name, samples=samples)
    tokens = f"{p.tokens:,} tokens" if p.tokens is not None else "tokens n/a (score `tokens` first)"
    out.print(f"selection {name}: {p.documents:,} of {p.lake_documents:,} documents "
              f"({p.documents / max(p.lake_documents, 1):.1%}) · {tokens} · {p.text_bytes / 1e6:,.1f} MB of text "
              f"· lake version {p.selection.lake_version}")
    t = Table("source", "documents", "share of docs", "share of tokens", title="sources")
    for r in p.sources:
        t.add_row(r["source"], f"{r['documents']:,}", f"{r['share']:.1%}",
                  f"{r['token_share']:.1%}" if r["token_share"] is not None else "n/a")
    if p.sources:
        out.print(t)
    if p.histogram:
        peak = max(c for _, _, c in p.histogram) or 1
        out.print("score histogram")
        for low, high, count in p.histogram:
            out.print(f"  {low:>10.4g} .. {high:<10.4g} {'█' * round(30 * count / peak):<30} {count:,}", markup=False)
    for where, docs in p.samples.items():
        for d in docs:
            score = f" score {d['score']:.4g}" if d.get("score") is not None else ""
            out.print(f"[{where}] {d['id']}{score}: {' '.join(d['text'].split())}", markup=False)


@select_app.command("diff")
def select_diff(uri: str, a: str, b: str, storage_option: Optional[list[str]] = StorageOption) -> None:
    """Overlap of two selections in documents and tokens."""
    d = diff_selections(_open(uri, storage_option), a, b)

    def tok(n):
        return f" ({n:,} tokens)" if n is not None else ""

    out.print(f"only {a}: {d.only_a:,}{tok(d.tokens_only_a)} · both: {d.both:,}{tok(d.tokens_both)} · "
              f"only {b}: {d.only_b:,}{tok(d.tokens_only_b)}", markup=False)


rater_app = typer.Typer(no_args_is_help=True, help="Raters you train yourself: a folder that `winnow score` reads.")
app.add_typer(rater_app, name="rater")


@rater_app.command("train")
def rater_train(
    uri: str,
    name: str = typer.Argument(..., help="The rater's name: the column `winnow score` writes."),
    kind: str = typer.Option(..., "--kind", help="fasttext | embedding-head"),
    label: Optional[str] = typer.Option(None, help="SQL expression over docs giving each row's label, e.g. "
                                                   "\"(meta->>'label')::INT\" (NULL: left out)."),
    where: Optional[str] = typer.Option(None, help="With --label: only rows matching this SQL filter."),
    positive: Optional[str] = typer.Option(None, help="DCLM's recipe: SQL returning the positive rows' `text`."),
    negative: Optional[str] = typer.Option(None, help="DCLM's recipe: SQL returning the negative rows' `text`."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="The rater folder (default: LAKE/raters/NAME)."),
    seed: int = typer.Option(0, help="Seed of the validation split (and of fastText's training)."),
    validation: float = typer.Option(0.2, help="Fraction of each class held out for validation."),
    param: Optional[list[str]] = typer.Option(None, "--param", "-p", help="KEY=VALUE training parameter "
                                              "(fasttext: lr, epoch, wordNgrams, ...; embedding-head: "
                                              "embed_model, C, ...)."),
    device: str = typer.Option("cpu", help="Device for the embedding model (embedding-head)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing rater folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Train a rater on labels from the lake (--label) or on DCLM's positive and negative sets, with a
    stratified validation split; prints AUC and accuracy, writes the model and its card.json."""
    from winnow.train.raters import train_rater

    r = train_rater(
        _open(uri, storage_option), name, kind, label=label, where=where, positive=positive, negative=negative,
        out=out_dir, seed=seed, fraction=validation, params=_params(param), device=device, replace=replace,
        progress=_Bar(err) if progress else None,
    )
    rows = " · ".join(f"class {c!r}: {n:,} ({v:,} held out)"
                      for c, n, v in zip(r.classes, r.class_rows, r.validation_class_rows))
    dropped = f" · left out: {', '.join(f'{n:,} {why}' for why, n in sorted(r.dropped.items()))}" if r.dropped else ""
    out.print(f"rater {r.name} ({r.kind}): trained on {r.train_rows:,} rows, validated on {r.validation_rows:,} · "
              f"{rows}{dropped} · lake version {r.lake_version} · {r.seconds:.1f} s", markup=False)
    out.print(f"validation: AUC {r.auc:.4f} · accuracy {r.accuracy:.4f} "
              f"(P(class {r.positive_class!r}); train AUC {r.card['metrics']['train_auc']:.4f})", markup=False)
    out.print(f"wrote {r.out}; score with: winnow score {uri} {r.kind} -p model={r.out}", markup=False)


weights_app = typer.Typer(no_args_is_help=True, help="Weights of score columns learned from labels or from proxy "
                                                    "runs: a plain SQL selection anyone can read and edit.")
app.add_typer(weights_app, name="weights")


@weights_app.command("fit")
def weights_fit(
    uri: str,
    name: str = typer.Argument(..., help="The selection's name."),
    columns: Optional[list[str]] = typer.Option(None, "--columns", metavar="PATTERN", help="Glob pattern of docs' "
                                                "numeric columns, e.g. 'gopher_*' (repeatable; with --runs: the "
                                                "sample's)."),
    label: Optional[str] = typer.Option(None, "--label", help="SQL expression over docs giving each row's label "
                                        "(NULL: not labelled), e.g. \"(meta->>'label')::INT\"."),
    runs: Optional[str] = typer.Option(None, "--runs", metavar="COMPARE", help="Instead of --label: a `winnow "
                                       "compare` of a `winnow weights sample` (its name, or its compare.json)."),
    model: Optional[str] = typer.Option(None, "--model", help="With --runs: quadratic (default; ridge on the weights "
                                        "and their pairwise products) | gbt (gradient-boosted trees)."),
    budget: Optional[int] = typer.Option(None, "--budget", metavar="TOKENS", help="The selection's token budget "
                                         "(default: half the lake's tokens; with --runs: the sample's)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="Also write DIR/NAME.sql and "
                                           "DIR/NAME.score.sql (the learned score alone)."),
    seed: int = typer.Option(0, help="Seed of the cross-validation folds (--runs: of the search's draws), and the "
                                     "selection's seed."),
    replace: bool = typer.Option(False, "--replace", help="Redefine an existing selection."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Fit weights of score columns to labels (--label: logistic for 0/1 labels, ridge for numeric ones, the
    regularization chosen by cross-validated AUC) or to proxy runs (--runs: Meta-rater's method, a regression of
    validation loss on sampled weights, minimized over the simplex); store the top documents by the weighted
    z-scores as a selection whose SQL holds the weights as literals."""
    r = winnow.fit_weights(_open(uri, storage_option), name, columns, label, runs=runs, model=model, budget=budget,
                           out=out_dir, seed=seed, replace=replace)
    if r.dropped:
        err.print(f"dropped (constant over the lake): {', '.join(r.dropped)}", markup=False)
    if runs is not None:
        _print_runs_fit(r)
        return
    rows = f"{r.labelled:,} labelled rows" + (f" ({r.positives:,} positive)" if r.positives is not None else "")
    out.print(f"weights {r.name}: {r.model} on {len(r.terms)} column(s), {rows} · chosen C {r.regularization:g} · "
              f"CV {r.cv_metric} {r.cv_score:.4f} · lake version {r.lake_version}", markup=False)
    width = max(len(t.column) for t in r.terms)
    for t in sorted(r.terms, key=lambda t: -abs(t.weight)):
        out.print(f"  {t.column:<{width}}  {t.weight:+.4f}" + ("  (log1p)" if t.count else ""), markup=False)
    out.print(f"selection {r.name}: {r.documents:,} documents, budget {r.budget:,} tokens"
              + (f"; wrote {', '.join(r.files)}" if r.files else ""), markup=False)


def _print_runs_fit(r) -> None:
    """`weights fit --runs`: the regression, its points, the minimizing weights, the selection."""
    from winnow.train.weights.runs import model_description

    left = f" · left out (not sampled): {', '.join(r.left_out)}" if r.left_out else ""
    out.print(f"weights {r.name}: from {len(r.points)} runs of sample {r.sample} ({r.compare}){left}", markup=False)
    out.print(f"model {model_description(r)} · leave-one-out spearman {r.loo_spearman:.4f}, rmse {r.loo_rmse:.4f}",
              markup=False)
    width = max(len(p.selection) for p in r.points)
    for p in r.points:
        out.print(f"  {p.selection:<{width}}  loss {p.loss:.4f}  predicted (leave-one-out) {p.loo_predicted:.4f}  "
                  f"weights {' '.join(f'{w:.3f}' for w in p.weights)}", markup=False)
    out.print(f"minimum of the predicted loss over {r.candidates:,} candidates on the simplex: {r.predicted_loss:.4f} "
              f"({r.best_from})", markup=False)
    width = max(len(t.column) for t in r.terms)
    for t in sorted(r.terms, key=lambda t: -t.weight):
        out.print(f"  {t.column:<{width}}  {t.weight:.4f}" + ("  (log1p)" if t.count else ""), markup=False)
    why = "the sample's budget, where the regression was measured" if r.budget_from_sample else "--budget"
    out.print(f"selection {r.name}: {r.documents:,} documents, budget {r.budget:,} tokens ({why})"
              + (f"; wrote {', '.join(r.files)}" if r.files else ""), markup=False)


@weights_app.command("sample")
def weights_sample(
    uri: str,
    name: str = typer.Argument(..., help="The sample's name: its selections are NAME-1 .. NAME-K."),
    columns: list[str] = typer.Option(..., "--columns", metavar="PATTERN", help="Glob pattern of docs' numeric "
                                      "columns, read as higher is better, e.g. 'gopher_*' (repeatable)."),
    k: int = typer.Option(..., "--k", help="How many weight vectors (selections, proxy runs) to draw; 2 or more."),
    budget: Optional[int] = typer.Option(None, "--budget", metavar="TOKENS", help="Every selection's token budget "
                                         "(default: half the lake's tokens)."),
    seed: int = typer.Option(0, help="Seed of the Dirichlet draws (and the selections' seed)."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", metavar="SELECTION", help="Leave out this "
                                                "selection's documents, e.g. the common validation set "
                                                "(repeatable)."),
    alpha: float = typer.Option(1.0, "--alpha", help="Dirichlet concentration (1: uniform on the simplex)."),
    replace: bool = typer.Option(False, "--replace", help="Redefine existing selections NAME-i."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Draw K weight vectors ~ Dirichlet(alpha) over score columns (Meta-rater's method) and store one selection
    per vector: the top documents by the weighted z-scores; then compare them and `weights fit --runs`."""
    r = winnow.sample_weights(_open(uri, storage_option), name, columns, k, budget=budget, seed=seed,
                              exclude=exclude or (), alpha=alpha, replace=replace)
    if r.dropped:
        err.print(f"dropped (constant over the lake): {', '.join(r.dropped)}", markup=False)
    out.print(f"sample {r.name}: {r.k} weight vectors ~ Dirichlet({r.alpha:g}) over {len(r.terms)} column(s): "
              f"{', '.join(t.column for t in r.terms)} · budget {r.budget:,} tokens · seed {r.seed} · lake version "
              f"{r.lake_version}" + (f" · leaving out {', '.join(r.exclude)}" if r.exclude else ""), markup=False)
    width = max(len(s.name) for s in r.selections)
    for s in r.selections:
        out.print(f"  {s.name:<{width}}  {s.documents:,} documents  {s.tokens:,} tokens  weights "
                  f"{' '.join(f'{w:.3f}' for w in s.weights)}", markup=False)
    fewest = min(s.tokens for s in r.selections)
    out.print("next: " + r.compare_command(uri) + f"  (TOKENS below {fewest:,}, the smallest selection's tokens)",
              markup=False)
    out.print(f"then: winnow weights fit {uri} NAME --runs {r.name}", markup=False)


@app.command()
def materialize(
    uri: str,
    name: str,
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the shards into."),
    tokenizer: Optional[str] = typer.Option(None, help="tokenizer.json, SentencePiece .model, or HF id/path (format tokens)."),
    format: str = typer.Option("tokens", "--format", help="tokens | parquet | jsonl"),
    seq_len: int = typer.Option(2048, help="Training sequence length recorded for the loader."),
    shuffle: Optional[int] = typer.Option(None, help="Shuffle with this seed (default: the selection's seed)."),
    order: Optional[str] = typer.Option(None, help="Order by this column instead (a curriculum)."),
    desc: bool = typer.Option(False, "--desc", help="With --order: descending."),
    column: Optional[list[str]] = typer.Option(None, "--column", "-c", help="Columns kept beside the text (parquet/jsonl)."),
    shard_tokens: int = typer.Option(1 << 28, help="Tokens per shard (format tokens)."),
    shard_docs: int = typer.Option(100_000, help="Documents per file (parquet/jsonl)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over, replacing the materialization --out holds "
                                   "(finished or not); without it an unfinished run of the same plan resumes."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    workers: Optional[int] = typer.Option(None, help="Tokenizing processes (local) or actors (ray) (default: local, "
                                          "one per 64 MB of text up to all cores; ray, the cluster's CPUs)."),
    engine: Optional[str] = EngineOption,
    ray_address: Optional[str] = RayAddressOption,
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Write a selection's documents as token shards (or parquet / JSON lines); resumable, byte-identical.

    Run again, it keeps a finished folder and resumes an unfinished one; a failed run removes its temp files.
    The shards are the same bytes whatever the engine and the number of workers."""
    r = materialize_selection(
        _open(uri, storage_option), name, out_dir, tokenizer=tokenizer, format=format, seq_len=seq_len,
        shuffle=shuffle, order=order, desc=desc, columns=column, shard_tokens=shard_tokens, shard_docs=shard_docs,
        overwrite=overwrite, progress=_Bar(err) if progress else None, engine=engine, ray_address=ray_address,
        workers=workers,
    )
    resumed = f" (resumed after {r.resumed_from_shard} finished shard(s))" if r.resumed_from_shard else ""
    if r.already:
        resumed = " (already materialized there: nothing written)"
    rate = r.tokens / r.seconds if r.seconds else 0
    where = f" · {r.engine}, {r.workers} worker(s)" if r.format == "tokens" and not r.already else ""
    out.print(f"materialized {name}: {r.documents:,} documents, {r.tokens:,} tokens in {r.shards} shard(s) "
              f"under {r.out} · {r.seconds:.1f} s · {rate:,.0f} tokens/s{where}{resumed}", markup=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    uri: str,
    source: str = typer.Argument(..., metavar="SELECTION_OR_SHARD_DIR", help="A selection in the lake, or a shard folder."),
    flavor: str = typer.Option("tiny", help="tiny | proxy-20m | proxy-60m | proxy-150m | metarater-1.3b"),
    steps: Optional[int] = typer.Option(None, help="Training steps (default: the flavor's)."),
    ngpu: Optional[int] = typer.Option(None, help="GPUs per node (default: all visible; 0: the CPU smoke path)."),
    nnodes: int = typer.Option(1, help="Nodes (with --rdzv-endpoint; run the same command on every node)."),
    rdzv_endpoint: Optional[str] = typer.Option(None, help="HOST:PORT of the first node, for --nnodes > 1."),
    tokenizer: Optional[str] = typer.Option(None, help="Tokenizer (default: the one the shards were made with)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Run folder: checkpoints, logs (default runs/NAME-FLAVOR)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the torchrun command and stop."),
    validation: Optional[str] = typer.Option(
        None, "--validation", metavar="SELECTION_OR_SHARD_DIR",
        help="Validate on this set (a selection, materialized with the run's tokenizer, or a shard folder) instead "
             "of the held-out last shard, and train on every shard; refused if it shares a document with the "
             "training data."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Pretrain with torchtitan on a selection or shard folder; extra --section.key args go to torchtitan.

    Running the same command again resumes from the run folder's last checkpoint.

    A resumed run keeps its LR schedule's length (OUT/run.json), even with a larger --steps; --lr_scheduler.total_steps N sets it."""
    from winnow.train.llm import launch

    launch.check_options(flavor, steps, ngpu, nnodes, rdzv_endpoint)
    run_dir = out_dir or Path("runs") / f"{Path(source).name}-{flavor}"
    if ngpu is None:
        import torch

        ngpu = torch.cuda.device_count()
    if validation is not None:  # before anything is materialized
        launch.check_disjoint(uri, source, validation, _options(storage_option))
    shards, tok = launch.prepare_shards(uri, source, run_dir, tokenizer, launch.FLAVORS[flavor][2],
                                        _options(storage_option))
    val_shards = None if validation is None else launch.prepare_validation(
        uri, validation, run_dir, tok, launch.FLAVORS[flavor][2], max(ngpu, 1) * nnodes, _options(storage_option))
    cmd = launch.command(flavor, shards, tok, run_dir, steps, ngpu, nnodes, rdzv_endpoint, ctx.args,
                         validation=val_shards)
    err.print("$ " + " ".join(cmd), markup=False)
    if dry_run:
        return
    report = launch.run(cmd, run_dir, shards, echo=lambda line: err.print(line, markup=False, highlight=False))
    if report.returncode != 0:
        raise WinnowError(f"training exited with status {report.returncode}; the log is {run_dir / 'train.log'}")
    if not report.losses:
        out.print(f"trained: no step ran (already at the last step? see {run_dir / 'train.log'})")
        return
    first, last = min(report.losses), max(report.losses)
    val = max(report.validation) if report.validation else None
    out.print(f"trained {flavor} on {shards}: steps {first}-{last}, loss {report.losses[first]:.4f} -> "
              f"{report.losses[last]:.4f}" + (f", validation loss {report.validation[val]:.4f} (step {val}"
                                       + (f", on {validation}" if validation else "") + ")" if val else "")
              + (f", {sum(report.tps) / len(report.tps):,.0f} tokens/s per rank" if report.tps else "")
              + f"; checkpoints in {run_dir / 'checkpoint'}", markup=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def compare(
    ctx: typer.Context,
    uri: str,
    selections: list[str] = typer.Argument(..., metavar="SELECTION...", help="Two selections or more; the first is "
                                           "the baseline."),
    flavor: str = typer.Option("tiny", help="tiny | proxy-20m | proxy-60m | proxy-150m | metarater-1.3b"),
    tokens: int = typer.Option(..., help="Token budget: every run trains on the first N tokens of its selection."),
    validation: str = typer.Option(..., "--validation", metavar="SELECTION",
                                   help="The one validation selection, sharing no document with any selection."),
    tokenizer: str = typer.Option(..., help="Tokenizer every selection is materialized with."),
    seed: int = typer.Option(0, help="Training seed (torchtitan --debug.seed), the same for every run."),
    ngpu: Optional[int] = typer.Option(None, help="GPUs (default: all visible; 0: the CPU smoke path)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder of compare.json, curves.png, curves.html "
                                           "(default LAKE/compare/NAME)."),
    runs: Optional[Path] = typer.Option(None, "--runs", help="Folder of the run folders (default LAKE/runs)."),
    name: Optional[str] = typer.Option(None, help="Name of the comparison (default SEL_A-SEL_B-...-FLAVOR-TOKENS)."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Train a proxy run per selection (same budget, config, seed, validation set) and compare them.

    Runs already in the lake's `runs` table are reused. Extra --section.key args go to torchtitan."""
    if ngpu is None:
        import torch

        ngpu = torch.cuda.device_count()
    report = winnow.compare(_open(uri, storage_option), selections, flavor=flavor, tokens=tokens,
                            validation=validation, tokenizer=tokenizer, seed=seed, ngpu=ngpu, out=out_dir, runs=runs,
                            name=name, extra=ctx.args, echo=lambda line: err.print(line, markup=False, highlight=False))
    for line in report.table():
        out.print(line, markup=False, highlight=False)
    out.print(f"curves: {', '.join(report.files)}", markup=False, highlight=False)


SQL_OUTPUT_FORMATS = ("table", "csv", "json", "parquet")
_SQL_TABLES = ", ".join(winnow.sql.TABLES)


@app.command()
def sql(
    uri: str,
    query: Optional[str] = typer.Argument(
        None, help=f"SQL over the tables {_SQL_TABLES}; none: an interactive shell."),
    format: str = typer.Option("table", "--format", "-f", help=" | ".join(SQL_OUTPUT_FORMATS)),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write the result to this file (outside the lake)."),
    version: Optional[int] = typer.Option(None, help="Read docs as of this lake version."),
    max_rows: int = typer.Option(40, help="Rows shown in table format (>= 0)."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Query the lake with DuckDB SQL over the tables docs, rejects, ingests, metrics, selections,
    runs and column_stats; with no query, an interactive shell. zscore(x) over docs uses the
    lake version's mean and deviation of x (cached in column_stats).

    The SQL reads and writes only the files its statement names as string literals (COPY ...
    TO 'top.parquet', read_parquet('scores.parquet')), never inside the lake: DuckDB's
    sandbox, locked, so that SET cannot change it."""
    from winnow.lake.errors import positive
    from winnow.sql.connection import check_sql, run
    from winnow.sql.sandbox import inside_lake

    if format not in SQL_OUTPUT_FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(SQL_OUTPUT_FORMATS)}")
    if format == "parquet" and out_file is None:
        raise typer.BadParameter("--format parquet needs --out FILE")
    positive(max_rows, "--max-rows", allow_zero=True)
    if query is not None:
        check_sql(query)
    if out_file is not None:
        target = out_file.expanduser().resolve()
        if target.is_dir():
            raise UsageError(f"--out {out_file} is a folder: give a file name")
        if not target.parent.is_dir():
            raise UsageError(f"--out {out_file}: the folder {target.parent} does not exist")
    lake = _open(uri, storage_option)
    if out_file is not None and inside_lake(target, lake):
        raise UsageError(f"--out {out_file} is inside the lake {lake.uri}: write results outside it")
    if query is None:
        with winnow.sql.Session(lake, version) as session:
            _shell(session, max_rows)
        return
    from winnow.sql import stats

    number = winnow.sql.connection._docs(lake, version).version
    con = winnow.sql.connect(lake, number, files=winnow.sql.named_paths(query))
    try:
        prepared = stats.prepare(con, lake, number, query)
        _emit(run(con, lake, prepared.sql), format, out_file, max_rows)
    finally:
        con.close()
    stats.record(lake, prepared)


@app.command()
def report(
    uri: str,
    out_file: Path = typer.Option(..., "--out", help="The HTML file to write (its folder must exist; outside the lake)."),
    selection: Optional[list[str]] = typer.Option(None, "--selection", metavar="NAME",
                                                  help="A selection to compare with the whole lake (repeatable)."),
    columns: Optional[list[str]] = typer.Option(None, "--columns", metavar="PATTERN",
                                                help="Score columns to show, glob patterns (repeatable; default all)."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Write one self-contained HTML report of the lake, offline (every script inlined): the
    lake, each score column's histograms (overall, by source, selected against the lake),
    null and NaN shares, quantiles and example documents, the correlations, the selections'
    shares and overlaps, and the loss curves of recorded runs. DuckDB aggregates compute it."""
    from winnow.views.report.page import size

    r = winnow.report(_open(uri, storage_option), out_file, selections=selection, columns=columns)
    out.print(f"wrote {r.path} ({size(r.bytes)}: {r.columns} score column(s), {r.selections} selection(s) "
              f"compared) in {r.seconds:.1f} s", markup=False, highlight=False)


@app.command()
def serve(
    uri: str,
    port: int = typer.Option(8000, "--port", help="The port to listen on (0: any free port; the line printed names it)."),
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on; 0.0.0.0 opens it to the network."),
    max_rows: int = typer.Option(1000, "--max-rows", help="Rows a query shows at most (> 0)."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds a query may run before it is interrupted."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """A local web app over the lake, read-only: a SQL box (the tables and macros of `winnow
    sql`, results as a table and a chart), each document with its scores and lineage, the
    selections (preview, diff) and the live report. Listens on 127.0.0.1:8000 until Ctrl-C."""
    from winnow.views.serve import serve as serve_lake

    serve_lake(uri, host=host, port=port, max_rows=max_rows, timeout=timeout,
               storage_options=_options(storage_option))


@app.command("eval")
def eval_command(
    uri: str,
    expressions: list[str] = typer.Argument(..., metavar="EXPR...", help="Columns or SQL expressions over docs; "
                                            "larger values should mean the positive label (negate: \"(-x)\", or put EXPRs after --)."),
    label: str = typer.Option(..., "--label", help="SQL expression over docs giving each row's label: 0/1, a "
                                                   "boolean, or a number, e.g. \"(meta->>'label')::INT\"."),
    where: Optional[str] = typer.Option(None, "--where", help="Only rows matching this SQL filter over docs."),
    version: Optional[str] = typer.Option(None, "--version", help="Read docs as of this lake version (or tag)."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """How well columns or SQL expressions agree with labels: one line per expression with
    the AUC, the accuracy at the best threshold (positive when value >= threshold), Spearman,
    n (rows used) and skipped (rows whose label or value is NULL or NaN).

    A label with more than two values has no AUC or accuracy (nan): Spearman only."""
    at = int(version) if version is not None and version.isdigit() else version
    r = winnow.eval_expressions(_open(uri, storage_option), label, expressions, where=where, version=at)
    kind = "binary" if r.binary else "numeric, more than two values: auc and acc are nan"
    err.print(f"label {label}: {r.labelled:,} labelled of {r.rows:,} rows ({kind}) · lake version {r.lake_version}",
              markup=False)
    width = max(len(a.expression) for a in r.agreements)
    for a in r.agreements:
        cut = f" (threshold {a.threshold:.4g})" if r.binary else ""
        out.print(f"{a.expression:<{width}}  auc={a.auc:.3f}  acc={a.accuracy:.3f}{cut}  spearman={a.spearman:.3f}  "
                  f"n={a.n}  skipped={a.skipped}", markup=False)


def _emit(result, format: str, out_file: Optional[Path], max_rows: int) -> None:
    if result is None:  # a statement with no result set
        return
    table = result.to_arrow_table()
    try:
        sink = out_file.open("w" if format == "table" else "wb") if out_file else None
    except OSError as e:
        raise UsageError(f"--out {out_file}: {e.strerror or e}") from None
    if format == "table":
        shown = Table(*table.column_names)
        width = max(12, (out.width - 3 * max(table.num_columns, 1)) // max(table.num_columns, 1))
        for row in table.slice(0, max_rows).to_pylist():
            shown.add_row(*(_cell(v, width) for v in row.values()))
        target = Console(file=sink, width=200) if sink else out
        try:
            target.print(shown)
            if table.num_rows > max_rows:
                target.print(f"({table.num_rows:,} rows, {max_rows} shown)")
        finally:
            if sink:
                sink.close()
        return
    sink = sink or sys.stdout.buffer
    try:
        if format == "csv":
            pacsv.write_csv(table, sink)
        elif format == "parquet":
            pq.write_table(table, sink)
        else:  # json: one object per line
            for row in table.to_pylist():
                sink.write(orjson.dumps(row, default=str) + b"\n")
    finally:
        if out_file:
            sink.close()


def _cell(v, width: int) -> str:
    s = "" if v is None else " ".join(str(v).split())  # one line per row: newlines folded
    return s if len(s) <= width else s[: width - 1] + "…"


def _shell(session, max_rows: int) -> None:
    out.print(f"winnow sql shell: tables {_SQL_TABLES}. Files: those a statement names, outside the lake. "
              "End statements with ';', quit with .quit", markup=False)
    buffer = ""
    while True:
        try:
            line = input("winnow> " if not buffer else "   ...> ")
        except EOFError:
            break
        if not buffer and line.strip() in (".quit", ".exit"):
            break
        buffer += line + "\n"
        if buffer.rstrip().endswith(";"):
            try:
                _emit(session.sql(buffer), "table", None, max_rows)
            except Exception as e:  # a bad statement must not end the shell
                err.print(f"error: {_one_line(e)}", markup=False)
            buffer = ""


DEBUG_ENV = "WINNOW_DEBUG"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: Optional[list[str]] = None) -> None:
    """The `winnow` command. Every failure is one line on stderr, `error: ...`, and an exit
    status: 2 for a usage error (a bad option, argument, file, name or query), 1 for a job
    that failed. `--debug` (anywhere before a `--`) or WINNOW_DEBUG=1 shows the traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    cut = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:cut] or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    args = [a for i, a in enumerate(args) if not (a == "--debug" and i < cut)]
    try:
        code = app(args, prog_name="winnow", standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into Exit(130) and, out of standalone mode, returns it
            raise KeyboardInterrupt
        if isinstance(code, int) and code:  # a typer.Exit(code) from a command, also returned
            sys.exit(code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.NoArgsIsHelpError as e:  # `winnow` or `winnow select` alone: the help
        out.print(e.ctx.get_help(), markup=False)
        sys.exit(0)
    except (typer.Abort, KeyboardInterrupt):
        err.print("error: interrupted", markup=False)
        sys.exit(130)
    except Exception as e:
        if debug:
            raise
        line, code = _error_line(e)
        err.print(f"error: {line}", markup=False)
        sys.exit(code)


def _error_line(e: Exception) -> tuple[str, int]:
    """What a failure says on its one line, and the exit status."""
    if isinstance(e, click.ClickException):  # usage: a missing argument, a bad option value
        ctx = getattr(e, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        return _one_line(e.format_message()) + hint, e.exit_code
    if isinstance(e, WinnowError):
        return _one_line(e), e.exit_code
    if isinstance(e, duckdb.Error):  # the user's SQL
        return _one_line(e), UsageError.exit_code
    # a defect or an unforeseen failure: still one line
    return f"{type(e).__name__}: {_one_line(e)} (run with --debug for the traceback)", WinnowError.exit_code
