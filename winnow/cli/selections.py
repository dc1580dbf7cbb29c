"""`winnow select ...`: named selections, SQL pinned to a lake version (create, list, show,
preview, diff)."""

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

import winnow

from winnow.cli.options import StorageOption, open_lake
from winnow.cli.output import out, warn

select_app = typer.Typer(no_args_is_help=True, help="Named selections: SQL pinned to a lake version.")


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
        raise winnow.UsageError(f"--sql {sql_file}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise winnow.UsageError(f"--sql {sql_file}: not UTF-8 text") from None
    sel = winnow.select(open_lake(uri, storage_option), name, text, seed=seed, replace=replace, exclude=exclude or ())
    out.print(f"selection {sel.name}: {sel.documents:,} documents, pinned to lake version {sel.lake_version}, seed {sel.seed}"
              + (f", without the documents of {', '.join(sel.exclude)}" if sel.exclude else ""), markup=False)
    if sel.documents == 0:
        warn(f"selection {sel.name} has 0 documents (materialize and train refuse it): check its WHERE and budget")


@select_app.command("list")
def select_list(uri: str, storage_option: Optional[list[str]] = StorageOption) -> None:
    """Every named selection."""
    t = Table("name", "documents", "lake version", "seed", "created")
    for s in winnow.select_list(open_lake(uri, storage_option)):
        t.add_row(s.name, f"{s.documents:,}", str(s.lake_version), str(s.seed), f"{s.created_at:%Y-%m-%d %H:%M}")
    out.print(t)


@select_app.command("show")
def select_show(uri: str, name: str, storage_option: Optional[list[str]] = StorageOption) -> None:
    """A selection's SQL, seed and pinned version."""
    s = winnow.select_show(open_lake(uri, storage_option), name)
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
    p = winnow.select_preview(open_lake(uri, storage_option), name, samples=samples)
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
    d = winnow.select_diff(open_lake(uri, storage_option), a, b)

    def tok(n):
        return f" ({n:,} tokens)" if n is not None else ""

    out.print(f"only {a}: {d.only_a:,}{tok(d.tokens_only_a)} · both: {d.both:,}{tok(d.tokens_both)} · "
              f"only {b}: {d.only_b:,}{tok(d.tokens_only_b)}", markup=False)
