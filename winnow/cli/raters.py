"""Raters measured and trained against labels: `eval` (how well columns or expressions agree
with labels) and `rater train` (a model that `winnow score` then reads)."""

from pathlib import Path
from typing import Optional

import typer

import winnow

from winnow.cli.options import StorageOption, open_lake, params
from winnow.cli.output import choices, err, out, progress_bar

rater_app = typer.Typer(no_args_is_help=True, help="Raters you train yourself: a folder that `winnow score` reads.")


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
    r = winnow.eval_expressions(open_lake(uri, storage_option), label, expressions, where=where, version=at)
    kind = "binary" if r.binary else "numeric, more than two values: auc and acc are nan"
    err.print(f"label {label}: {r.labelled:,} labelled of {r.rows:,} rows ({kind}) · lake version {r.lake_version}",
              markup=False)
    width = max(len(a.expression) for a in r.agreements)
    for a in r.agreements:
        cut = f" (threshold {a.threshold:.4g})" if r.binary else ""
        out.print(f"{a.expression:<{width}}  auc={a.auc:.3f}  acc={a.accuracy:.3f}{cut}  spearman={a.spearman:.3f}  "
                  f"n={a.n}  skipped={a.skipped}", markup=False)


@rater_app.command("train")
def rater_train(
    uri: str,
    name: str = typer.Argument(..., help="The rater's name: the column `winnow score` writes."),
    kind: str = typer.Option(..., "--kind", help=choices(winnow.RATER_KINDS)),
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
    device: str = typer.Option("cpu", help="Device for the embedding model of embedding-head: cpu, cuda, cuda:N or mps, "
                                           "refused before any model loads when the machine lacks it (fasttext "
                                           "trains on the CPU)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing rater folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Train a rater on labels from the lake (--label) or on DCLM's positive and negative sets, with a
    stratified validation split; prints AUC and accuracy, writes the model and its card.json."""
    r = winnow.rater_train(
        open_lake(uri, storage_option), name, kind, label=label, where=where, positive=positive, negative=negative,
        out=out_dir, seed=seed, fraction=validation, params=params(param), device=device, replace=replace,
        progress=progress_bar(progress),
    )
    rows = " · ".join(f"class {c!r}: {n:,} ({v:,} held out)"
                      for c, n, v in zip(r.classes, r.class_rows, r.validation_class_rows))
    dropped = f" · left out: {', '.join(f'{n:,} {why}' for why, n in sorted(r.dropped.items()))}" if r.dropped else ""
    out.print(f"rater {r.name} ({r.kind}): trained on {r.train_rows:,} rows, validated on {r.validation_rows:,} · "
              f"{rows}{dropped} · lake version {r.lake_version} · {r.seconds:.1f} s", markup=False)
    out.print(f"validation: AUC {r.auc:.4f} · accuracy {r.accuracy:.4f} "
              f"(P(class {r.positive_class!r}); train AUC {r.card['metrics']['train_auc']:.4f})", markup=False)
    out.print(f"wrote {r.out}; score with: winnow score {uri} {r.kind} -p model={r.out}", markup=False)
