"""Verbs that add columns to the documents or search them: `score`, `import-scores`,
`dedup`, `index`, `similar`."""

from typing import Optional

import typer

import winnow

from winnow.cli.options import EngineOption, RayAddressOption, StorageOption, open_lake, params
from winnow.cli.output import cell, choices, number, out, progress_bar, warn


class ScoreCommand(typer.core.TyperCommand):
    """`winnow score --help SCORER...`: those scorers' parameters (name, type, default, help)."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        at = next((i for i, a in enumerate(args) if a in ctx.help_option_names), None)
        named = [a for a in args[at + 1:] if not a.startswith("-")] if at is not None else []
        if named:
            out.print("\n\n".join(winnow.describe_scorer(spec) for spec in named), markup=False)
            ctx.exit(0)
        return super().parse_args(ctx, args)


def score(
    uri: str,
    scorers: list[str] = typer.Argument(..., help="Scorer names, entry points, or path/to/file.py:ClassName."),
    param: Optional[list[str]] = typer.Option(None, "--param", "-p", help="KEY=VALUE passed to the scorer(s)."),
    tokenizer: Optional[str] = typer.Option(None, help="Tokenizer for `tokens`: tokenizer.json, SentencePiece .model, or HF id/path."),
    model: Optional[str] = typer.Option(None, help="Model for model scorers: a local path or hub id."),
    workers: Optional[int] = typer.Option(None, help="Processes (local) or actors (ray) for CPU scorers (default: all "
                                                     "cores, or the Ray cluster's CPUs)."),
    batch_rows: int = typer.Option(1024, "--batch-rows", help="Rows per batch handed to the scorer (a model "
                                                               "scorer's forward pass is -p batch_size)."),
    old_batch_size: Optional[int] = typer.Option(None, "--batch-size", hidden=True),
    device: str = typer.Option("cpu", help="cpu | cuda | cuda:N | cuda:0,1 (one worker per GPU), for model scorers "
                                           "(refused when the machine has no such GPU); with --engine ray, cuda is "
                                           "one GPU per actor. Scorers that run no model run on the CPU: they say "
                                           "so in a warning line."),
    where: Optional[str] = typer.Option(None, help="Score only rows matching this filter (DuckDB SQL over docs, as in winnow sql)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite existing columns (a new scorer version or params)."),
    commit_rows: int = typer.Option(65536, help="Commit results every this many rows (the unit of resume)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    storage_option: Optional[list[str]] = StorageOption,
    engine: Optional[str] = EngineOption,
    ray_address: Optional[str] = RayAddressOption,
) -> None:
    """Add one column per metric: only rows that lack it are scored; the text is never rewritten.

    `winnow score --help SCORER` lists a scorer's parameters (-p NAME=VALUE). Built-in scorers:
    {scorers}."""
    if old_batch_size is not None:
        raise winnow.UsageError("--batch-size is now --batch-rows (rows per batch handed to the scorer); a model "
                                "scorer's forward-pass batch is -p batch_size")
    given = params(param)
    if tokenizer:
        given["tokenizer"] = tokenizer
    if model:
        given["model"] = model
    checked = winnow.scorer_params(scorers, given)  # every scorer's parameters, before the first one runs
    lake = open_lake(uri, storage_option)
    # One engine for every scorer named: a scorer's workers, once started, serve the next one.
    with winnow.engine(engine, ray_address, workers) as eng, eng.reusing():
        for spec, scorer_params in zip(scorers, checked):
            _score_one(lake, spec, scorer_params, eng, batch_rows=batch_rows, device=device, where=where,
                       replace=replace, commit_rows=commit_rows, progress=progress)


def _score_one(lake, spec: str, scorer_params: dict, eng, *, progress: bool, **options) -> None:
    """One scorer of `winnow score`, run and reported in one line."""
    r = winnow.score(lake, spec, params=scorer_params, engine=eng, progress=progress_bar(progress), **options)
    if r.warning:
        warn(r.warning)
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


if score.__doc__:  # the scorers from the registry (python -OO drops docstrings)
    score.__doc__ = score.__doc__.format(scorers=", ".join(winnow.SCORERS))


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
    splits = {k: [name.strip() for name in v.split(",")] for k, v in params(split).items()}
    r = winnow.import_scores(open_lake(uri, storage_option), file, on=on, columns=columns, split=splits,
                             replace=replace)
    out.print(
        f"{file}: read {r.read:,} rows = matched {r.matched:,} + ids not in the lake {r.unknown_ids:,}; "
        f"columns {', '.join(r.columns)}; lake version {r.lake_version}",
        markup=False,
    )


DEDUP_NOTES = {"minhash": "signatures of `winnow score LAKE minhash`", "semantic": "an embedding column"}


def dedup(
    uri: str,
    method: str = typer.Option(..., "--method", help=choices(winnow.DEDUP_METHODS, DEDUP_NOTES) + "."),
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
    cluster's smallest document id, NULL when unique) and dup_keep; semantic writes
    semdup_cluster and semdup_keep. Select `WHERE dup_keep` for the deduplicated lake. Only changed rows are written."""
    options = {"column": column, "threshold": threshold, "keep_by": keep_by, "clusters": clusters,
               "engine": engine, "ray_address": ray_address, "workers": workers}
    r = winnow.dedup(open_lake(uri, storage_option), method, progress=progress_bar(progress), **options)
    out.print(
        f"dedup {r.method}: {r.rows:,} rows, {r.clusters:,} clusters, {r.duplicates:,} duplicates not kept; "
        f"{', '.join(r.columns)} written for {r.changed:,} changed rows in {r.seconds:.1f} s; "
        f"lake version {r.lake_version}",
        markup=False,
    )


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
    r = winnow.index(open_lake(uri, storage_option), column, partitions=partitions, sub_vectors=sub_vectors)
    out.print(f"index {r.name}: IVF-PQ cosine on {r.column}, {r.rows:,} vectors, {r.partitions:,} partitions, "
              f"{r.sub_vectors} sub-vectors, in {r.seconds:.1f} s; lake version {r.lake_version}", markup=False)


def similar(
    uri: str,
    doc_id: Optional[str] = typer.Option(None, "--id", help="The nearest documents to this document."),
    text: Optional[str] = typer.Option(None, "--text", help="The nearest documents to this text, embedded with the "
                                                            "model and parameters that wrote --column."),
    k: int = typer.Option(10, "-k", help="How many documents."),
    where: Optional[str] = typer.Option(None, "--where", help="Only documents matching this filter (DuckDB SQL "
                                                              "over docs, as in winnow sql), applied before the search."),
    column: str = typer.Option("embedding", "--column", help="The vector column searched."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """The nearest documents by cosine distance: rank, id, distance, source, the start of the
    text and the lake's numeric score columns. With --id, that document comes first.

    Uses the column's index when there is one (`winnow index`), an exact search otherwise."""
    r = winnow.similar(open_lake(uri, storage_option), id=doc_id, text=text, k=k, where=where, column=column)
    to = f"document {doc_id}" if doc_id is not None else f"text {cell(text, 60)!r}"
    how = "index" if r.indexed else "exact search"
    out.print(f"{r.documents.num_rows} nearest to {to} by cosine distance of {column} ({how}, {r.seconds:.3f} s); "
              f"lake version {r.lake_version}", markup=False)
    fixed = {"rank", "id", "distance", "source", "text"}
    for row in r.documents.to_pylist():
        scores = " ".join(f"{name}={number(v)}" for name, v in row.items() if name not in fixed and v is not None)
        out.print(f"{row['rank']:>3}. {row['id']}  distance {row['distance']:.4f}  source {row['source']}"
                  + (f"  {scores}" if scores else ""), markup=False)
        out.print(f"     {cell(row['text'], 150)}", markup=False)
