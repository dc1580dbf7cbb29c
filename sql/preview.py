"""Looking at a selection before training on it: sizes, shares, score histogram, samples;
and comparing two selections.

Token counts come from the selection's `n_tokens` column, else from docs' `n_tokens` (the
`tokens` scorer) at the selection's lake version, else they are unknown (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake, display
from winnow.lake.errors import positive

from winnow.sql.selections import Selection, documents, evaluate, get


@display.shown
@dataclass
class Preview:
    selection: Selection
    documents: int
    tokens: int | None  # None where neither the selection nor docs has n_tokens
    text_bytes: int
    lake_documents: int  # documents in docs at the selection's lake version
    sources: list[dict]  # source, documents, share of documents, token_share (None without tokens)
    histogram: list[tuple[float, float, int]] = field(default_factory=list)  # (low, high, count) of `score`
    samples: dict[str, list[dict]] = field(default_factory=dict)  # top / middle / bottom -> id, score, text

    def _summary(self) -> str:
        tokens = "tokens n/a" if self.tokens is None else f"{self.tokens:,} tokens"
        return (f"{self.selection.name!r}: {self.documents:,} of {self.lake_documents:,} documents, {tokens}, "
                f"{len(self.sources)} source(s)")

    def _view(self) -> display.View:
        v = display.View(f"selection {self.selection.name}", [
            ("documents", f"{self.documents:,} of {self.lake_documents:,} "
                          f"({display.share(self.documents, self.lake_documents)})"),
            ("tokens", "n/a (score `tokens` first)" if self.tokens is None else self.tokens),
            ("text", display.size(self.text_bytes)), ("lake version", self.selection.lake_version)])
        if self.sources:
            if self.tokens:
                v.parts.append(display.Bars([s["source"] for s in self.sources],
                                            [round(s["token_share"] * self.tokens) for s in self.sources],
                                            "tokens by source", "tokens"))
            else:
                v.parts.append(display.Bars([s["source"] for s in self.sources], [s["documents"] for s in self.sources],
                                            "documents by source", "documents"))
        if self.histogram:
            v.parts.append(display.Histogram([c for _, _, c in self.histogram],
                                             [self.histogram[0][0]] + [high for _, high, _ in self.histogram], "score"))
        v.parts.append(display.Table("sources", ["source", "documents", "share of documents", "share of tokens"], [
            [s["source"], s["documents"], f"{s['share']:.1%}",
             "n/a" if s["token_share"] is None else f"{s['token_share']:.1%}"]
            for s in self.sources[:display.MAX_ROWS]],
            max(len(self.sources) - display.MAX_ROWS, 0)))
        samples = [[where, d["id"], d.get("score"), display.cut(d["text"], 100)]
                   for where, docs in self.samples.items() for d in docs]
        if samples:
            v.parts.append(display.Table("samples", ["where", "id", "score", "text"], samples))
        return v


def _as_int64(values) -> pa.ChunkedArray:
    return pc.cast(values, pa.int64(), safe=False)


def _with_tokens(lake: Lake, sel: Selection, rows: pa.Table, columns: list[str]) -> tuple[pa.Table, bool]:
    """docs' `columns` for the selected rows in their order, plus `_tokens` (int64) where the
    selection or docs has n_tokens; and whether it has."""
    in_docs = "n_tokens" in lake.docs(sel.lake_version).schema.names
    from_docs = "n_tokens" not in rows.column_names and in_docs
    info = documents(lake, sel, columns + (["n_tokens"] if from_docs else []), rows=rows)
    if "n_tokens" in rows.column_names:
        return info.append_column("_tokens", _as_int64(rows["n_tokens"])), True
    if from_docs:
        return info.append_column("_tokens", _as_int64(info["n_tokens"])), True
    return info, False


def _total(values) -> int:
    return int(pc.sum(values).as_py() or 0)


def preview(lake: Lake, name: str | Selection, samples: int = 2, bins: int = 10, text_chars: int = 240) -> Preview:
    """Documents, tokens, text bytes, shares per source, a histogram of `score` and
    `samples` documents from the top, middle and bottom (by score) of a selection (by name,
    or a `Selection` as read before: its definition then, even if redefined since).

        >>> p = preview(lake, "top")
        >>> p.documents, p.tokens, p.sources[0]
    """
    positive(samples, "samples", allow_zero=True)
    positive(bins, "bins")
    positive(text_chars, "text_chars", allow_zero=True)
    sel = name if isinstance(name, Selection) else get(lake, name)
    rows = evaluate(lake, sel)
    info, has_tokens = _with_tokens(lake, sel, rows, ["source", "n_bytes"])
    total_tokens = _total(info["_tokens"]) if has_tokens else None
    by_source = info.group_by("source").aggregate(
        [("source", "count")] + ([("_tokens", "sum")] if has_tokens else [])
    ).to_pylist()
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
        key=lambda r: (-r["documents"], r["source"]),
    )
    p = Preview(
        selection=sel,
        documents=rows.num_rows,
        tokens=total_tokens,
        text_bytes=_total(info["n_bytes"]),
        lake_documents=lake.docs(sel.lake_version).count_rows(),
        sources=sources,
    )
    if "score" in rows.column_names and rows.num_rows:
        scores = pc.cast(rows["score"], pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        finite = scores[np.isfinite(scores)]
        if finite.size:
            counts, edges = np.histogram(finite, bins=bins)
            p.histogram = [(float(edges[i]), float(edges[i + 1]), int(c)) for i, c in enumerate(counts)]
    p.samples = _samples(lake, sel, rows, samples, text_chars)
    return p


def _samples(lake: Lake, sel: Selection, rows: pa.Table, k: int, text_chars: int) -> dict[str, list[dict]]:
    if not rows.num_rows or not k:
        return {}
    if "score" in rows.column_names:
        rows = rows.append_column("_score", pc.cast(rows["score"], pa.float64(), safe=False))
        ordered = rows.sort_by([("_score", "descending"), ("id", "ascending")])
    else:
        ordered = rows
    n = ordered.num_rows
    mid = max(n // 2 - k // 2, 0)
    picks = {"top": range(0, min(k, n)), "middle": range(mid, min(mid + k, n)), "bottom": range(max(n - k, 0), n)}
    wanted = sorted({i for r in picks.values() for i in r})
    ids = ordered["id"].take(pa.array(wanted)).combine_chunks().cast(pa.string())
    docs = lake.docs(sel.lake_version).to_table(columns=["id", "text"], filter=pc.field("id").isin(ids))
    text = dict(zip(docs["id"].to_pylist(), docs["text"].to_pylist()))
    out = {}
    for where, idx in picks.items():
        out[where] = []
        for i in idx:
            row = {"id": ordered["id"][i].as_py()}
            if "score" in ordered.column_names:
                row["score"] = ordered["_score"][i].as_py()
            row["text"] = text[row["id"]][:text_chars]
            out[where].append(row)
    return out


@display.shown
@dataclass
class Diff:
    a: str
    b: str
    only_a: int
    only_b: int
    both: int
    tokens_only_a: int | None  # None where the selection's tokens are unknown
    tokens_only_b: int | None
    tokens_both: int | None  # counted in a's token numbers (the same documents)

    def _summary(self) -> str:
        return f"only {self.a}: {self.only_a:,}, both: {self.both:,}, only {self.b}: {self.only_b:,}"

    def _view(self) -> display.View:
        tokens = self.tokens_both is not None
        v = display.View(f"{self.a} against {self.b}", [
            (f"in {self.a}", self.only_a + self.both), (f"in {self.b}", self.only_b + self.both),
            ("in both", f"{self.both:,} (Jaccard {display.share(self.both, self.only_a + self.both + self.only_b)})")])
        v.parts.append(display.Bars([f"only {self.a}", "both", f"only {self.b}"],
                                    [self.tokens_only_a, self.tokens_both, self.tokens_only_b] if tokens
                                    else [self.only_a, self.both, self.only_b],
                                    "tokens" if tokens else "documents", "tokens" if tokens else "documents"))
        v.parts.append(display.Table("overlap", ["", "documents", "tokens"], [
            [f"only {self.a}", self.only_a, self.tokens_only_a], ["both", self.both, self.tokens_both],
            [f"only {self.b}", self.only_b, self.tokens_only_b]]))
        return v


def diff(lake: Lake, a: str, b: str) -> Diff:
    """Overlap of two selections, in documents and tokens.

        >>> d = diff(lake, "top", "sampled")
        >>> d.only_a, d.both, d.only_b
    """
    ta, tb = (_ids_tokens(lake, get(lake, n)) for n in (a, b))
    in_b = pc.is_in(ta["id"], value_set=tb["id"])
    in_a = pc.is_in(tb["id"], value_set=ta["id"])

    def tokens(t, mask):
        return _total(t.filter(mask)["tokens"]) if "tokens" in t.column_names else None

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
    """The selection's ids (as strings) and, where known, tokens."""
    rows = evaluate(lake, sel)
    info, has_tokens = _with_tokens(lake, sel, rows, [])
    ids = info["id"].combine_chunks().cast(pa.string())
    return pa.table({"id": ids, "tokens": info["_tokens"]}) if has_tokens else pa.table({"id": ids})
