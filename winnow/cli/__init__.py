"""The `winnow` command: a thin layer over the public API (`import winnow`), one module per
group of verbs, registered here in the order `winnow --help` lists them.

    lake.py        init, info, compact      sql.py      sql (a query, or the shell)
    ingest.py      ingest                   scoring.py  score, import-scores, dedup, index, similar
    selections.py  select ...               train.py    materialize, train, compare
    raters.py      eval, rater train        weights.py  weights fit, weights sample
    views.py       report, serve            output.py   consoles, progress, cells, the error line
    options.py     options verbs share, KEY=VALUE pairs, flags that take several values

`winnow --help` imports no Lance, DuckDB or pyarrow (tests/test_startup.py): a command
imports what it runs inside its function. These modules do without `from __future__ import
annotations`: typer reads the annotations of every command to build the help, and would
compile each string (~20 ms of `winnow --help`); an annotation naming an API type is quoted.
"""

import os
import sys
from typing import Optional

import typer

import winnow
from winnow.cli import ingest, lake, raters, scoring, selections, sql, train, views, weights
from winnow.cli.options import ManyValues
from winnow.cli.output import error_line, err, out

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="winnow: a pretraining-data lake with SQL selection. Errors are one line (exit 2: usage, 1: a failed "
         "job); --debug anywhere shows the traceback.",
)
app.command()(lake.init)
app.command()(ingest.ingest)
app.command()(lake.info)
app.command()(lake.compact)
app.command(cls=scoring.ScoreCommand)(scoring.score)
app.command("import-scores")(scoring.import_scores)
app.command()(scoring.dedup)
app.command()(scoring.index)
app.command()(scoring.similar)
app.add_typer(selections.select_app, name="select")
app.add_typer(raters.rater_app, name="rater")
app.add_typer(weights.weights_app, name="weights")
app.command()(train.materialize)
app.command(context_settings=train.PASS_THROUGH)(train.train)
app.command(context_settings=train.PASS_THROUGH)(train.compare)
app.command()(sql.sql)
app.command(cls=ManyValues)(views.report)
app.command()(views.serve)
app.command("eval")(raters.eval_command)

DEBUG_ENV = "WINNOW_DEBUG"


def main(argv: Optional[list[str]] = None) -> None:
    """The `winnow` command. Every failure is one line on stderr, `error: ...`, and an exit
    status: 2 for a usage error (a bad option, argument, file, name or query), 1 for a job
    that failed. `--debug` (anywhere before a `--`) or WINNOW_DEBUG=1 shows the traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    cut = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:cut] or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    args = [a for i, a in enumerate(args) if not (a == "--debug" and i < cut)]
    winnow.guard()  # whatever the command starts ends with it, even after kill -9 (lake/processes.py)
    try:
        code = app(args, prog_name="winnow", standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into Exit(130) and, out of standalone mode, returns it
            raise KeyboardInterrupt
        if isinstance(code, int) and code:  # a typer.Exit(code) from a command, also returned
            sys.exit(code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("error: interrupted", markup=False)
        sys.exit(130)
    except Exception as e:
        if asks_for_help(e):  # `winnow` or `winnow select` alone: the help
            out.print(e.ctx.get_help(), markup=False)
            sys.exit(0)
        if debug:
            raise
        line, code = error_line(e)
        err.print(f"error: {line}", markup=False)
        sys.exit(code)


def asks_for_help(e: Exception) -> bool:
    """Whether `e` is click's NoArgsIsHelpError: a group or command given no argument at all."""
    return type(e).__name__ == "NoArgsIsHelpError" and getattr(e, "ctx", None) is not None


__all__ = ["app", "main"]
