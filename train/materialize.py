"""Materializing a selection: its documents, tokenized and packed into shards for training
(format `tokens`, see train/shards.py), or as parquet / JSON lines for other trainers.

Ids are selected in SQL at the selection's pinned version; text is streamed from Lance by
row offset in bounded chunks (never through a DuckDB join that carries text) and
tokenized with the tokenizer library's native threads. The document order is fixed before
anything is written (`shuffle` by a portable hash of (id, seed), or `order` by a column,
a curriculum), so the same selection, tokenizer and seed give byte-identical output, and
an interrupted run resumes after its last finished shard.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.lake import Lake
from winnow.lake.tokenizer import load_tokenizer
from winnow.lake.progress import Progress
from winnow.lake.version import WINNOW_VERSION
from winnow.sql.connection import load_macros
from winnow.sql.selections import Selection, SelectionError, evaluate, get

from .shards import FORMAT, FORMAT_VERSION, ShardWriter, dtype_for, file_sha256

FORMATS = ("tokens", "parquet", "jsonl")
DEFAULT_SHARD_TOKENS = 1 << 28
DEFAULT_SHARD_DOCS = 100_000  # parquet / jsonl
CHUNK_DOCS = 1024


@dataclass
class MaterializeReport:
    out: str
    format: str
    documents: int
    tokens: int
    shards: int
    seconds: float
    resumed_from_shard: int = 0
    already: bool = False  # the folder already held this materialization: nothing was written


def ordered_ids(lake: Lake, sel: Selection, shuffle: int | None, order: str | None, desc: bool) -> pa.Array:
    """The selected ids in training order."""
    rows = evaluate(lake, sel)
    if order is not None:
        if order not in rows.column_names:
            docs = lake.docs(sel.lake_version)
            if order not in docs.schema.names:
                raise SelectionError(f"cannot order by {order!r}: neither the selection nor docs has it")
            extra = docs.to_table(columns=["id", order], filter=pc.field("id").isin(rows["id"]))
            rows = pa.table({"id": extra["id"], order: extra[order]})
        keys = [(order, "descending" if desc else "ascending"), ("id", "ascending")]
        return rows.select(["id", order]).sort_by(keys)["id"].combine_chunks()
    seed = sel.seed if shuffle is None else shuffle
    con = duckdb.connect()
    load_macros(con)
    con.register("ids", rows.select(["id"]))
    result = con.sql(f"SELECT id FROM ids ORDER BY uniform(id, {int(seed)}), id").to_arrow_table()
    return result["id"].combine_chunks()


def _offsets(lake: Lake, sel: Selection, ids: pa.Array) -> np.ndarray:
    """Row offsets of `ids` in docs at the pinned version (docs rows are never deleted)."""
    all_ids = lake.docs(sel.lake_version).to_table(columns=["id"])["id"]
    pos = pc.index_in(ids, value_set=all_ids)
    if pos.null_count:
        raise SelectionError("a selected id is missing from docs at the selection's version")
    return pos.to_numpy()


def materialize(
    lake: Lake,
    name: str,
    out: str | os.PathLike,
    *,
    tokenizer: str | None = None,
    format: str = "tokens",
    seq_len: int = 2048,
    shuffle: int | None = None,
    order: str | None = None,
    desc: bool = False,
    columns: list[str] | None = None,
    bos: bool = True,
    eos: bool = True,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    shard_docs: int = DEFAULT_SHARD_DOCS,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> MaterializeReport:
    t0 = time.perf_counter()
    if format not in FORMATS:
        raise SelectionError(f"format {format!r}: use one of {', '.join(FORMATS)}")
    if format == "tokens" and tokenizer is None:
        raise SelectionError("format tokens needs a tokenizer")
    if shuffle is not None and order is not None:
        raise SelectionError("give --shuffle or --order, not both")
    sel = get(lake, name)
    out = Path(out)
    tok = load_tokenizer(tokenizer) if format == "tokens" else None
    ids = ordered_ids(lake, sel, shuffle, order, desc)
    plan = {
        "selection": {"name": sel.name, "sql": sel.sql, "lake_version": sel.lake_version, "seed": sel.seed,
                      "lake": lake.uri},
        "order": {"by": order, "descending": desc} if order else {"shuffle_seed": sel.seed if shuffle is None else shuffle},
        "output": format, "columns": columns or [], "bos": bos, "eos": eos, "seq_len": seq_len,
        "shard_tokens": shard_tokens, "shard_docs": shard_docs,
        "tokenizer": None if tok is None else {"name": tok.name, "sha256": tok.sha256, "vocab_size": tok.vocab_size,
                                               "bos_id": tok.bos_id, "eos_id": tok.eos_id},
        "ids_sha256": hashlib.sha256("\n".join(ids.to_pylist()).encode()).hexdigest(),
    }
    finished = _finished(out, plan)
    if finished and not overwrite:
        return MaterializeReport(str(out), format, finished["documents"], finished["tokens"],
                                 len(finished["shards"]), time.perf_counter() - t0, already=True)
    done = _prepare(out, plan, overwrite)
    offsets = _offsets(lake, sel, ids)
    start_doc = sum(s["documents"] for s in done)
    if progress:
        progress.start(f"materialize {sel.name}", len(ids), "docs")
        progress.advance(start_doc, tokens=sum(s.get("tokens", 0) for s in done))
    docs = lake.docs(sel.lake_version)
    try:
        if format == "tokens":
            shards = _write_tokens(docs, tok, ids, offsets, out, plan, done, start_doc, progress)
        else:
            shards = _write_documents(docs, ids, offsets, out, plan, done, start_doc, progress)
    finally:
        if progress:
            progress.stop()
    manifest = {
        "format": FORMAT if format == "tokens" else f"winnow-{format}",
        "format_version": FORMAT_VERSION,
        **plan,
        "dtype": dtype_for(tok.vocab_size).name if tok else None,
        # where the tokenizer was read from (not part of the plan: the sha256 is its identity)
        "tokenizer_path": None if tok is None else (os.path.abspath(tok.spec) if os.path.exists(tok.spec) else tok.spec),
        "documents": sum(s["documents"] for s in shards),
        "tokens": sum(s.get("tokens", 0) for s in shards),
        "shards": shards,
        "winnow_version": WINNOW_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(),
    }
    _write_json(out / "manifest.json", manifest)
    (out / "progress.json").unlink(missing_ok=True)
    return MaterializeReport(str(out), format, manifest["documents"], manifest["tokens"], len(shards),
                             time.perf_counter() - t0, resumed_from_shard=len(done))


def _finished(out: Path, plan: dict) -> dict | None:
    """The manifest of a finished materialization of the same plan in `out`, if any."""
    path = out / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    return manifest if all(manifest.get(k) == v for k, v in plan.items()) else None


def _prepare(out: Path, plan: dict, overwrite: bool) -> list[dict]:
    """Shards finished by an earlier run of the same plan; a fresh folder otherwise."""
    progress = out / "progress.json"
    if progress.is_file():
        state = json.loads(progress.read_text())
        if state["plan"] == plan:
            for tmp in out.glob("*.tmp"):
                tmp.unlink()
            return state["shards"]
        if not overwrite:
            raise SelectionError(f"{out} holds an unfinished materialization of another plan (pass --overwrite)")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SelectionError(f"{out} is not empty (pass --overwrite to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(progress, {"plan": plan, "shards": []})
    return []


def _record(out: Path, plan: dict, shards: list[dict]) -> None:
    _write_json(out / "progress.json", {"plan": plan, "shards": shards})


def _write_json(path: Path, value) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(value, indent=1, default=str))
    os.replace(tmp, path)


def _chunks(n: int, start: int):
    for i in range(start, n, CHUNK_DOCS):
        yield i, min(i + CHUNK_DOCS, n)


def _write_tokens(docs, tok, ids, offsets, out, plan, done, start_doc, progress) -> list[dict]:
    shards = list(done)
    writer = ShardWriter(out, dtype_for(tok.vocab_size), plan["shard_tokens"], first_shard=len(done))
    prefix = [tok.bos_id] if plan["bos"] and tok.bos_id is not None else []
    suffix = [tok.eos_id] if plan["eos"] and tok.eos_id is not None else []
    id_list = ids.to_pylist()
    try:
        for a, b in _chunks(len(id_list), start_doc):
            texts = docs.take(offsets[a:b], columns=["text"])["text"].to_pylist()
            encoded = tok.encode_batch(texts)
            n_tokens = 0
            for doc_id, token_ids in zip(id_list[a:b], encoded):
                arr = np.asarray(prefix + list(token_ids) + suffix, dtype=np.int64)
                writer.add(doc_id, arr)
                n_tokens += len(arr)
                if writer.full:
                    shards.append(writer.close_shard())
                    _record(out, plan, shards)
            if progress:
                progress.advance(b - a, tokens=n_tokens)
        last = writer.close_shard()
        if last:
            shards.append(last)
    finally:
        writer.abandon()
    return shards


def _write_documents(docs, ids, offsets, out, plan, done, start_doc, progress) -> list[dict]:
    shards = list(done)
    columns = ["id", "text", *[c for c in plan["columns"] if c not in ("id", "text")]]
    per_shard = plan["shard_docs"]
    index = len(done)
    pos = start_doc
    while pos < len(ids):
        end = min(pos + per_shard, len(ids))
        name = f"part-{index:05d}.{'parquet' if plan['output'] == 'parquet' else 'jsonl'}"
        tmp = out / (name + ".tmp")
        parts = [docs.take(offsets[a:b], columns=columns) for a, b in _chunks(end, pos)]
        table = pa.concat_tables(parts) if parts else None
        if plan["output"] == "parquet":
            pq.write_table(table, tmp)
        else:
            with open(tmp, "wb") as f:
                for row in table.to_pylist():
                    f.write(orjson.dumps(row, default=str) + b"\n")
        os.replace(tmp, out / name)
        shards.append({"file": name, "documents": end - pos, "sha256": file_sha256(out / name)})
        _record(out, plan, shards)
        if progress:
            progress.advance(end - pos)
        pos, index = end, index + 1
    return shards

