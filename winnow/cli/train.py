"""From selections to models: `materialize` (token shards), `train` (torchtitan) and
`compare` (one proxy run per selection)."""

from pathlib import Path
from typing import Optional

import typer

import winnow

from winnow.cli.options import EngineOption, RayAddressOption, StorageOption, open_lake, storage_options
from winnow.cli.output import choices, err, out, progress_bar

MATERIALIZE_UNIT = "winnow.train.materialize.encode"  # what a materialize worker runs (by name: not imported here)
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}  # --section.key args for torchtitan


def materialize(
    uri: str,
    name: str,
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the shards into."),
    tokenizer: Optional[str] = typer.Option(None, help="tokenizer.json, SentencePiece .model, or HF id/path (formats "
                                            "tokens, megatron, datatrove)."),
    format: str = typer.Option("tokens", "--format", help=choices(winnow.MATERIALIZE_FORMATS)),
    seq_len: int = typer.Option(2048, help="Training sequence length recorded for the loader."),
    shuffle: Optional[int] = typer.Option(None, help="Shuffle with this seed (default: the selection's seed)."),
    order: Optional[str] = typer.Option(None, help="Order by this column instead (a curriculum)."),
    desc: bool = typer.Option(False, "--desc", help="With --order: descending."),
    column: Optional[list[str]] = typer.Option(None, "--column", "-c", help="Columns kept beside the text "
                                               "(parquet/jsonl/hf)."),
    shard_tokens: int = typer.Option(1 << 28, help="Tokens per shard (formats tokens, megatron, datatrove)."),
    shard_docs: int = typer.Option(100_000, help="Documents per file (parquet/jsonl/hf)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over, replacing the materialization --out holds "
                                   "(finished or not); without it an unfinished run of the same plan resumes."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    workers: Optional[int] = typer.Option(None, help="Tokenizing processes (local) or actors (ray) (default: local, "
                                          "one per 64 MB of text up to all cores; ray, the cluster's CPUs)."),
    engine: Optional[str] = EngineOption,
    ray_address: Optional[str] = RayAddressOption,
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Write a selection's documents as token shards (winnow's, Megatron-LM's, datatrove's) or text; resumable.

    megatron: a .bin + .idx per shard (Megatron's IndexedDataset); datatrove: .ds + .ds.index + .ds.metadata
    (datatrove's readers, nanotron); hf: a Hugging Face dataset (parquet under data/ and a README.md card of
    its provenance) that datasets.load_dataset(DIR) opens. Run again, it keeps a finished folder and resumes an
    unfinished one; a failed run removes its temp files. The shards are the same bytes whatever the engine and
    the number of workers."""
    with winnow.engine(engine, ray_address, workers) as eng:
        if format == "tokens" and not uri.startswith("memory://"):
            # local workers' fork server started now: its imports (Lance, ~0.7 CPU-s) overlap this
            # process's, which opening the lake starts (the job would start it after them)
            eng.warm(MATERIALIZE_UNIT)
        r = winnow.materialize(
            open_lake(uri, storage_option), name, out_dir, tokenizer=tokenizer, format=format, seq_len=seq_len,
            shuffle=shuffle, order=order, desc=desc, columns=column, shard_tokens=shard_tokens,
            shard_docs=shard_docs, overwrite=overwrite, progress=progress_bar(progress), engine=eng,
        )
    resumed = f" (resumed after {r.resumed_from_shard} finished shard(s))" if r.resumed_from_shard else ""
    if r.already:
        resumed = " (already materialized there: nothing written)"
    rate = r.tokens / r.seconds if r.seconds else 0
    where = f" · {r.engine}, {r.workers} worker(s)" if r.encoder and not r.already else ""
    out.print(f"materialized {name}: {r.documents:,} documents, {r.tokens:,} tokens in {r.shards} shard(s) "
              f"under {r.out} · {r.seconds:.1f} s · {rate:,.0f} tokens/s{where}{resumed}", markup=False)


def train(
    ctx: typer.Context,
    uri: str,
    source: str = typer.Argument(..., metavar="SELECTION_OR_SHARD_DIR", help="A selection in the lake, or a shard folder."),
    flavor: str = typer.Option("tiny", help=choices(winnow.FLAVORS)),
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
    report = winnow.pretrain(uri, source, flavor=flavor, steps=steps, ngpu=ngpu, nnodes=nnodes,
                             rdzv_endpoint=rdzv_endpoint, tokenizer=tokenizer, out=out_dir, validation=validation,
                             extra=ctx.args, dry_run=dry_run, storage_options=storage_options(storage_option),
                             echo=lambda line: err.print(line, markup=False, highlight=False))
    if dry_run:
        return
    log = Path(report.out) / "train.log"
    if report.returncode != 0:
        why = f": {report.error}" if report.error else ""
        raise winnow.WinnowError(f"training exited with status {report.returncode}{why}; the log is {log}")
    if not report.losses:
        out.print(f"trained: no step ran (already at the last step? see {log})")
        return
    first, last = min(report.losses), max(report.losses)
    val = max(report.validation) if report.validation else None
    out.print(f"trained {flavor} on {report.shards}: steps {first}-{last}, loss {report.losses[first]:.4f} -> "
              f"{report.losses[last]:.4f}" + (f", validation loss {report.validation[val]:.4f} (step {val}"
                                       + (f", on {validation}" if validation else "") + ")" if val else "")
              + (f", {sum(report.tps) / len(report.tps):,.0f} tokens/s per rank" if report.tps else "")
              + f"; checkpoints in {Path(report.out) / 'checkpoint'}", markup=False)


def compare(
    ctx: typer.Context,
    uri: str,
    selections: list[str] = typer.Argument(..., metavar="SELECTION...", help="Two selections or more; the first is "
                                           "the baseline."),
    flavor: str = typer.Option("tiny", help=choices(winnow.FLAVORS)),
    tokens: int = typer.Option(..., help="Token budget: every run trains on the first N tokens of its selection."),
    validation: str = typer.Option(..., "--validation", metavar="SELECTION",
                                   help="The one validation selection, sharing no document with any selection."),
    tokenizer: str = typer.Option(..., help="Tokenizer every selection is materialized with."),
    seed: int = typer.Option(0, help="Training seed (torchtitan --debug.seed), the same for every run."),
    ngpu: Optional[int] = typer.Option(None, help="GPUs, at most the visible ones (default: all visible; 0: the CPU smoke "
                                      "path)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder of compare.json, curves.png, curves.html "
                                           "(default LAKE/compare/NAME)."),
    runs: Optional[Path] = typer.Option(None, "--runs", help="Folder of the run folders (default LAKE/runs)."),
    name: Optional[str] = typer.Option(None, help="Name of the comparison (default SEL_A-SEL_B-...-FLAVOR-TOKENS)."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Train a proxy run per selection (same budget, config, seed, validation set) and compare them.

    Runs already in the lake's `runs` table are reused. Extra --section.key args go to torchtitan."""
    report = winnow.compare(open_lake(uri, storage_option), selections, flavor=flavor, tokens=tokens,
                            validation=validation, tokenizer=tokenizer, seed=seed, ngpu=ngpu, out=out_dir, runs=runs,
                            name=name, extra=ctx.args, echo=lambda line: err.print(line, markup=False, highlight=False))
    for line in report.table():
        out.print(line, markup=False, highlight=False)
    out.print(f"curves: {', '.join(report.files)}", markup=False, highlight=False)
