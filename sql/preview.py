"""Looking at a selection before training on it: sizes, shares, score histogram, samples;
and comparing two selections."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake

from .selections import Selection, documents, evaluate, get


@dataclass
class Preview:
    selection: Selection
    documents: int
    tokens: int | None  # None where neither the selection nor docs has n_tokens
    text_bytes: int
    lake_documents: int
    sources: list[dict]  # source, documents, share of documents, tokens share
    histogram: list[tuple[float, float, int]] = field(default_factory=list)  # (low, high, count) of `score`
    samples: dict[str, list[dict]] = field(default_factory=dict)  # top / middle / bottom -> id, score, text


def _tokens_column(lake: Lake, sel: Selection, rows: pa.Table) -> str | None:
    if "n_tokens" in rows.column_names:
        return "selection"
    return "docs" if "n_tokens" in lake.docs(sel.lake_version).schema.names else None


def preview(lake: Lake, name: str, samples: int = 2, bins: int = 10, text_chars: int = 240) -> Preview:
    sel = get(lake, name)
    rows = evaluate(lake, sel)
    where = _tokens_column(lake, sel, rows)
    cols = ["source", "n_bytes"] + (["n_tokens"] if where == "docs" else [])
    info = documents(lake, sel, cols)
    tokens = rows["n_tokens"] if where == "selection" else info["n_tokens"] if where == "docs" else None
    table = info.append_column("_tokens", tokens.cast(pa.int64())) if tokens is not None else info
    by_source = table.group_by("source").aggregate(
        [("source", "count")] + ([("_tokens", "sum")] if tokens is not None else [])
    ).to_pylist()
    total_tokens = int(pc.sum(tokens).as_py() or 0) if tokens is not None else None
    sources = sorted(
        (
            {
                "source": r["source"],
                "documents": r["source_count"],
                "share": r["source_count"] / max(rows.num_rows, 1),
                "token_share": (r["_tokens_sum"] / total_tokens) if total_tokens else None,
            }
            for r in by_source
        ),
        key=lambda r: -r["documents"],
    )
    p = Preview(
        selection=sel,
        documents=rows.num_rows,
        tokens=total_tokens,
        text_bytes=int(pc.sum(info["n_bytes"]).as_py() or 0),
        lake_documents=lake.docs(sel.lake_version).count_rows(),
        sources=sources,
    )
    if "score" in rows.column_names and rows.num_rows:
        scores = rows["score"].to_numpy(zero_copy_only=False).astype(float)
        finite = scores[np.isfinite(scores)]
        if finite.size:
            counts, edges = np.histogram(finite, bins=bins)
            p.histogram = [(float(edges[i]), float(edges[i + 1]), int(c)) for i, c in enumerate(counts)]
    p.samples = _samples(lake, sel, rows, samples, text_chars)
    return p


def _samples(lake: Lake, sel: Selection, rows: pa.Table, k: int, text_chars: int) -> dict[str, list[dict]]:
    if not rows.num_rows:
        return {}
    ordered = rows.sort_by([("score", "descending"), ("id", "ascending")]) if "score" in rows.column_names else rows
    n = ordered.num_rows
    mid = max(n // 2 - k // 2, 0)
    picks = {"top": range(0, min(k, n)), "middle": range(mid, min(mid + k, n)), "bottom": range(max(n - k, 0), n)}
    wanted = sorted({i for r in picks.values() for i in r})
    ids = ordered["id"].take(pa.array(wanted))
    docs = lake.docs(sel.lake_version).to_table(columns=["id", "text"], filter=pc.field("id").isin(ids))
    text = dict(zip(docs["id"].to_pylist(), docs["text"].to_pylist()))
    out = {}
    for where, idx in picks.items():
        out[where] = []
        for i in idx:
            row = {c: ordered[c][i].as_py() for c in ordered.column_names if c in ("id", "score")}
            row["text"] = (text.get(row["id"]) or "")[:text_chars]
            out[where].append(row)
    return out


@dataclass
class Diff:
    a: str
    b: str
    only_a: int
    only_b: int
    both: int
    tokens_only_a: int | None
    tokens_only_b: int | None
    tokens_both: int | None


def diff(lake: Lake, a: str, b: str) -> Diff:
    """Overlap of two selections, in documents and tokens."""
    ta, tb = (_ids_tokens(lake, get(lake, n)) for n in (a, b))
    in_b = pc.is_in(ta["id"], value_set=tb["id"])
    in_a = pc.is_in(tb["id"], value_set=ta["id"])

    def tokens(t, mask):
        return int(pc.sum(t.filter(mask)["tokens"]).as_py() or 0) if "tokens" in t.column_names else None

    return Diff(
        a, b,
        only_a=int(pc.sum(pc.invert(in_b)).as_py() or 0),
        only_b=int(pc.sum(pc.invert(in_a)).as_py() or 0),
        both=int(pc.sum(in_b).as_py() or 0),
        tokens_only_a=tokens(ta, pc.invert(in_b)),
        tokens_only_b=tokens(tb, pc.invert(in_a)),
        tokens_both=tokens(ta, in_b),
    )


def _ids_tokens(lake: Lake, sel: Selection) -> pa.Table:
    rows = evaluate(lake, sel)
    where = _tokens_column(lake, sel, rows)
    if where == "selection":
        return pa.table({"id": rows["id"], "tokens": rows["n_tokens"].cast(pa.int64())})
    if where == "docs":
        info = documents(lake, sel, ["n_tokens"])
        return pa.table({"id": info["id"], "tokens": info["n_tokens"].cast(pa.int64())})
    return pa.table({"id": rows["id"]})
