"""What the command line prints: the two consoles, the progress bar, cells and numbers in
tables, lists of choices in help texts, and the one line a failure says."""

import sys
import time
from typing import Optional

from rich.console import Console

import winnow

try:  # typer >= 0.22 carries its own click, whose exceptions derive from typer.TyperException
    from typer import TyperException as ClickException
except ImportError:  # pragma: no cover (an older typer, on click itself)
    from click import ClickException

# Wide enough for query results when the output is not a terminal (pipes, CI logs).
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Bar:
    """The command line's view of a job's progress (`winnow.lake.progress.Progress`): a bar,
    the units done of the total, side counts (documents, tokens) and rates."""

    def __init__(self, console: Console):
        self.console = console
        self.counts: dict[str, int] = {}

    def start(self, label: str, total: Optional[int], unit: str) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

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


def warn(line: str) -> None:
    """One line on stderr, `warning: LINE`: the command did what was asked, but likely not
    what was meant (an empty selection, an option that has no effect)."""
    err.print(f"warning: {line}", markup=False, highlight=False)


def progress_bar(show: bool) -> Optional[Bar]:
    """A bar on stderr for `--progress`, none for `--no-progress`."""
    return Bar(err) if show else None


def choices(names, notes: Optional[dict[str, str]] = None) -> str:
    """A help text's list of choices, from a registry: `a | b (note) | c`."""
    notes = notes or {}
    return " | ".join(f"{n} ({notes[n]})" if n in notes else n for n in names)


def cell(v, width: int) -> str:
    """A value on one line of at most `width` characters (newlines folded, the rest cut with …)."""
    s = "" if v is None else " ".join(str(v).split())
    return s if len(s) <= width else s[: width - 1] + "…"


def number(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def one_line(text) -> str:
    return " ".join(str(text).split())


def error_line(e: Exception) -> tuple[str, int]:
    """What a failure says on its one line, and the exit status."""
    if isinstance(e, ClickException):  # usage: a missing argument, a bad option value
        ctx = getattr(e, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        return one_line(e.format_message()) + hint, e.exit_code
    if isinstance(e, winnow.WinnowError):
        return one_line(e), e.exit_code
    duckdb = sys.modules.get("duckdb")  # not imported: not its error (the help imports no DuckDB)
    if duckdb is not None and isinstance(e, duckdb.Error):  # the user's SQL
        return one_line(e), winnow.UsageError.exit_code
    # a defect or an unforeseen failure: still one line
    return f"{type(e).__name__}: {one_line(e)} (run with --debug for the traceback)", winnow.WinnowError.exit_code
