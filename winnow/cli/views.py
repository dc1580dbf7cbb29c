"""Views of the lake: `report` (one HTML file) and `serve` (a local web app)."""

from pathlib import Path
from typing import Optional

import typer

import winnow

from winnow.cli.options import StorageOption, open_lake, storage_options
from winnow.cli.output import out


def report(
    uri: str,
    out_file: Path = typer.Option(..., "--out", help="The HTML file to write (its folder must exist; outside the lake)."),
    selection: Optional[list[str]] = typer.Option(None, "--selection", metavar="NAME",
                                                  help="A selection to compare with the whole lake (repeatable)."),
    columns: Optional[list[str]] = typer.Option(None, "--columns", metavar="PATTERN...",
                                                help="Score columns to show, glob patterns (one or more, or --columns "
                                                     "repeated; default all)."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Write one self-contained HTML report of the lake, offline (every script inlined): the
    lake, each score column's histograms (overall, by source, selected against the lake),
    null and NaN shares, quantiles and example documents, the correlations, the selections'
    shares and overlaps, and the loss curves of recorded runs. Each column is read once."""
    r = winnow.report(open_lake(uri, storage_option), out_file, selections=selection, columns=columns)
    out.print(f"wrote {r.path} ({r.size}: {r.columns} score column(s), {r.selections} selection(s) "
              f"compared) in {r.seconds:.1f} s", markup=False, highlight=False)


def serve(
    uri: str,
    port: int = typer.Option(8000, "--port", help="The port to listen on (0: any free port; the line printed names it)."),
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on; 0.0.0.0 opens it to the network. A request naming another host than an address, localhost or this one is refused."),
    max_rows: int = typer.Option(1000, "--max-rows", help="Rows a query shows at most (> 0)."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds a query may run before it is interrupted."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """A local web app over the lake, read-only: a SQL box (the tables and macros of `winnow
    sql`, results as a table and a chart), each document with its scores and lineage, the
    selections (preview, diff) and the live report. Listens on 127.0.0.1:8000 until Ctrl-C."""
    winnow.serve(uri, host=host, port=port, max_rows=max_rows, timeout=timeout,
                 storage_options=storage_options(storage_option))
