"""`winnow ingest`: documents into the lake, and the balance of each input's counts."""

import math
from typing import Optional

import typer

import winnow

from winnow.cli.options import EngineOption, RayAddressOption, StorageOption, open_lake
from winnow.cli.output import err, out, progress_bar


def ingest(
    uri: str,
    inputs: list[str] = typer.Argument(..., help="Files, directories, globs or fsspec URIs."),
    source: Optional[str] = typer.Option(None, help="Source name of these documents (default: file or folder name)."),
    text_field: str = typer.Option("text", help="Field holding the text."),
    id_field: str = typer.Option("id", help="Field holding the input's document id."),
    url_field: str = typer.Option("url", help="Field holding the URL."),
    workers: Optional[int] = typer.Option(None, help="Parsing processes or Ray actors (default: all cores, or the "
                                                     "Ray cluster's CPUs)."),
    max_doc_bytes: int = typer.Option(winnow.DEFAULT_MAX_DOC_BYTES, help="Reject documents whose text is larger."),
    commit_mb: float = typer.Option(
        winnow.DEFAULT_COMMIT_BYTES / 2**20,
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
        raise winnow.UsageError(f"--commit-mb must be a number of MB > 0, got {commit_mb}")
    lake = open_lake(uri, storage_option)
    report = winnow.ingest_files(
        lake,
        inputs,
        source=source,
        fields=winnow.FieldNames(text=text_field, id=id_field, url=url_field),
        workers=workers,
        max_doc_bytes=max_doc_bytes,
        commit_bytes=math.ceil(commit_mb * 2**20),
        reingest=reingest,
        progress=progress_bar(progress),
        engine=engine,
        ray_address=ray_address,
    )
    print_summary(report, lake.uri)
    if report.failed:  # one error line, naming each failed input and why
        notes = "; ".join(f.note for f in report.failed)
        raise winnow.WinnowError(notes if len(report.failed) == 1 else f"{len(report.failed)} inputs failed: {notes}")
    if strict and report.total().rejected:
        raise winnow.WinnowError(f"{report.total().rejected:,} record(s) rejected and --strict was given")


def balance(r) -> str:
    return f"read {r.read:,} = written {r.written:,} + duplicates {r.duplicates:,} + rejected {r.rejected:,}"


def print_summary(report: "winnow.IngestResult", uri: str) -> None:
    """The first rejects on stderr, then one line per input and the total."""
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
        out.print(f"{f.input}: {balance(f)}{note}", markup=False)
    if report.passed_over:
        out.print(f"passed over {len(report.passed_over)} file(s) of unknown format: {', '.join(report.passed_over)}",
                  markup=False)
    rate = total.read / report.seconds if report.seconds else 0.0
    out.print(
        f"total: {balance(total)} · {len(report.files)} input(s) · {report.seconds:.1f} s · "
        f"{rate:,.0f} docs/s · {report.bytes_read / max(report.seconds, 1e-9) / 1e6:,.1f} MB/s · "
        f"lake version {report.lake_version}",
        markup=False,
    )
