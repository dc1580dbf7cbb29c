"""`winnow weights ...`: weights of score columns learned from labels or from proxy runs,
stored as a plain SQL selection (fit, sample)."""

from pathlib import Path
from typing import Optional

import typer

import winnow

from winnow.cli.options import ManyValues, StorageOption, open_lake
from winnow.cli.output import choices, err, out, progress_bar

weights_app = typer.Typer(no_args_is_help=True, help="Weights of score columns learned from labels or from proxy "
                                                    "runs: a plain SQL selection anyone can read and edit.")

MODEL_NOTES = {"quadratic": "default; ridge on the weights and their pairwise products",
               "gbt": "gradient-boosted trees"}


@weights_app.command("fit", cls=ManyValues)
def weights_fit(
    uri: str,
    name: str = typer.Argument(..., help="The selection's name."),
    columns: Optional[list[str]] = typer.Option(None, "--columns", metavar="PATTERN...", help="Glob patterns of "
                                                "docs' numeric columns, e.g. 'gopher_*' 'rps_*' (one or more, or "
                                                "--columns repeated; with --runs: the sample's)."),
    label: Optional[str] = typer.Option(None, "--label", help="SQL expression over docs giving each row's label "
                                        "(NULL: not labelled), e.g. \"(meta->>'label')::INT\"."),
    runs: Optional[str] = typer.Option(None, "--runs", metavar="COMPARE", help="Instead of --label: a `winnow "
                                       "compare` of a `winnow weights sample` (its name, or its compare.json)."),
    model: Optional[str] = typer.Option(None, "--model", help="With --runs: "
                                        + choices(winnow.WEIGHT_MODELS, MODEL_NOTES) + "."),
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
    r = winnow.weights_fit(open_lake(uri, storage_option), name, columns, label, runs=runs, model=model,
                           budget=budget, out=out_dir, seed=seed, replace=replace)
    if r.dropped:
        err.print(f"dropped (constant over the lake): {', '.join(r.dropped)}", markup=False)
    if runs is not None:
        print_runs_fit(r)
        return
    rows = f"{r.labelled:,} labelled rows" + (f" ({r.positives:,} positive)" if r.positives is not None else "")
    out.print(f"weights {r.name}: {r.model} on {len(r.terms)} column(s), {rows} · chosen C {r.regularization:g} · "
              f"CV {r.cv_metric} {r.cv_score:.4f} · lake version {r.lake_version}", markup=False)
    width = max(len(t.column) for t in r.terms)
    for t in sorted(r.terms, key=lambda t: -abs(t.weight)):
        out.print(f"  {t.column:<{width}}  {t.weight:+.4f}" + ("  (log1p)" if t.count else ""), markup=False)
    out.print(f"selection {r.name}: {r.documents:,} documents, budget {r.budget:,} tokens"
              + (f"; wrote {', '.join(r.files)}" if r.files else ""), markup=False)


def print_runs_fit(r: "winnow.RunsResult") -> None:
    """`weights fit --runs`: the regression, its points, the minimizing weights, the selection."""
    left = f" · left out (not sampled): {', '.join(r.left_out)}" if r.left_out else ""
    out.print(f"weights {r.name}: from {len(r.points)} runs of sample {r.sample} ({r.compare}){left}", markup=False)
    out.print(f"model {r.model_text} · leave-one-out spearman {r.loo_spearman:.4f}, rmse {r.loo_rmse:.4f}",
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


@weights_app.command("sample", cls=ManyValues)
def weights_sample(
    uri: str,
    name: str = typer.Argument(..., help="The sample's name: its selections are NAME-1 .. NAME-K."),
    columns: list[str] = typer.Option(..., "--columns", metavar="PATTERN...", help="Glob patterns of docs' numeric "
                                      "columns, read as higher is better, e.g. 'gopher_*' 'rps_*' (one or more, or "
                                      "--columns repeated)."),
    k: int = typer.Option(..., "--k", help="How many weight vectors (selections, proxy runs) to draw: 2 to 1,024 "
                                            "(Meta-rater drew 256; each takes about a second to store)."),
    budget: Optional[int] = typer.Option(None, "--budget", metavar="TOKENS", help="Every selection's token budget "
                                         "(default: half the lake's tokens)."),
    seed: int = typer.Option(0, help="Seed of the Dirichlet draws (and the selections' seed)."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", metavar="SELECTION", help="Leave out this "
                                                "selection's documents, e.g. the common validation set "
                                                "(repeatable)."),
    alpha: float = typer.Option(1.0, "--alpha", help="Dirichlet concentration (1: uniform on the simplex)."),
    replace: bool = typer.Option(False, "--replace", help="Redefine existing selections NAME-i."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Draw K weight vectors ~ Dirichlet(alpha) over score columns (Meta-rater's method) and store one selection
    per vector: the top documents by the weighted z-scores; then compare them and `weights fit --runs`."""
    r = winnow.weights_sample(open_lake(uri, storage_option), name, columns, k, budget=budget, seed=seed,
                              exclude=exclude or (), alpha=alpha, replace=replace, progress=progress_bar(progress))
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
