"""What a lake holds: documents, sources, bytes, columns, versions, size on disk."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from winnow.lake import catalog, display, schema
from winnow.lake.lake import Lake

SAMPLE_ROWS = 100_000  # rows a notebook's view of a lake reads for its score histograms
MAX_COLUMNS = 40  # score columns it shows


@display.shown
@dataclass
class LakeInfo:
    uri: str
    documents: int
    text_bytes: int
    sources: list[dict]  # source, documents, text_bytes
    columns: list[tuple[str, str]]  # name, Arrow type
    version: int
    versions: int
    ingests: dict[str, int]  # status -> count
    rejects: int
    reject_reasons: list[dict] = field(default_factory=list)  # reason, count
    size_on_disk: int | None = None  # bytes; None where the store cannot be listed
    metrics: list[dict] = field(default_factory=list)  # the catalog's state of each metric column

    def _summary(self) -> str:
        return f"{self.uri!r}: {self.documents:,} documents, {len(self.sources)} sources, version {self.version}"

    def _view(self) -> display.View:
        v = display.View(f"lake {self.uri}", [
            ("documents", self.documents), ("text", display.size(self.text_bytes)),
            ("version", f"{self.version} ({self.versions:,} versions)"),
            ("size on disk", display.size(self.size_on_disk)),
            ("ingests", self.ingests), ("rejects", self.rejects)])
        if self.sources:
            v.parts.append(display.Table("sources", ["source", "documents", "share", "text"], [
                [s["source"], s["documents"], display.share(s["documents"], self.documents),
                 display.size(s["text_bytes"])]
                for s in self.sources[:display.MAX_ROWS]], max(len(self.sources) - display.MAX_ROWS, 0)))
        scored = {m["metric"]: m for m in self.metrics}
        shown = [(n, t) for n, t in self.columns if n in scored]
        if shown:
            v.parts.append(display.Table("metric columns", ["column", "type", "scorer", "status", "rows"], [
                [n, t, f"{scored[n]['scorer']} v{scored[n]['scorer_version']}", scored[n]["status"], scored[n]["rows"]]
                for n, t in shown[:display.MAX_ROWS]], max(len(shown) - display.MAX_ROWS, 0)))
        if self.reject_reasons:
            v.parts.append(display.Table("rejects by reason", ["reason", "count"],
                                         [[r["reason"], r["count"]] for r in self.reject_reasons[:display.MAX_ROWS]]))
        return v


def describe(lake: Lake) -> LakeInfo:
    docs = lake.docs()
    cols = docs.to_table(columns=["source", "n_bytes"])
    by_source = (
        cols.group_by("source").aggregate([("source", "count"), ("n_bytes", "sum")]).to_pylist()
    )
    sources = sorted(
        ({"source": r["source"], "documents": r["source_count"], "text_bytes": r["n_bytes_sum"]} for r in by_source),
        key=lambda r: -r["documents"],
    )
    rejects = lake.dataset("rejects").to_table(columns=["reason"])
    reasons = rejects.group_by("reason").aggregate([("reason", "count")]).to_pylist()
    state = catalog.ingests(lake)
    statuses = {}
    for s in state.column("status").to_pylist() if state.num_rows else []:
        statuses[s] = statuses.get(s, 0) + 1
    return LakeInfo(
        uri=lake.uri,
        documents=cols.num_rows,
        text_bytes=int(pc.sum(cols["n_bytes"]).as_py() or 0),
        sources=sources,
        columns=[(f.name, str(f.type)) for f in docs.schema],
        version=docs.version,
        versions=len(docs.versions()),
        ingests=statuses,
        rejects=rejects.num_rows,
        reject_reasons=sorted(
            ({"reason": r["reason"], "count": r["reason_count"]} for r in reasons), key=lambda r: -r["count"]
        ),
        size_on_disk=size_on_disk(lake),
        metrics=catalog.metrics(lake).to_pylist(),
    )


def size_on_disk(lake: Lake) -> int | None:
    """Bytes of every file under the lake's URI (all versions), or None for stores that cannot
    be listed. Object stores are listed with the lake's own storage options."""
    if lake.uri.startswith("memory://"):
        return None
    try:
        fs, root = _filesystem(lake)
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    except (OSError, ValueError):  # pyarrow's errors derive from these
        return None
    return sum(i.size for i in infos if i.type == pafs.FileType.File)


def _option(options: dict[str, str], *names: str) -> str | None:
    for n in names:
        for key in (n, n.upper()):
            if options.get(key):
                return options[key]
    return None


def _filesystem(lake: Lake) -> tuple[pafs.FileSystem, str]:
    """An Arrow filesystem for the lake's URI; for s3:// built from Lance's storage option names."""
    if not lake.uri.startswith("s3://"):
        return pafs.FileSystem.from_uri(lake.uri)
    o = lake.storage_options
    endpoint = _option(o, "aws_endpoint", "endpoint", "aws_endpoint_url", "endpoint_url")
    kwargs = dict(
        access_key=_option(o, "aws_access_key_id", "access_key_id"),
        secret_key=_option(o, "aws_secret_access_key", "secret_access_key"),
        session_token=_option(o, "aws_session_token", "session_token"),
        region=_option(o, "aws_region", "region"),
        connect_timeout=5, request_timeout=10,
    )
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host or endpoint, scheme=scheme if host else "https")
    return pafs.S3FileSystem(**{k: v for k, v in kwargs.items() if v is not None}), lake.uri[len("s3://"):]


def lake_view(lake: Lake, sample_rows: int = SAMPLE_ROWS) -> display.View:
    """What a lake shows in a notebook: `describe`'s view with, per numeric score column,
    its values' count, min, median, max and histogram, read from every row or from
    `sample_rows` rows spread evenly over the lake (said in the caption)."""
    import numpy as np

    info = describe(lake)
    view = info._view()
    view.parts = [p for p in view.parts if p.caption != "metric columns"]  # the score columns below say more
    metrics = {m["metric"]: m for m in info.metrics}
    base = set(schema.DOCS.names)
    docs = lake.docs(info.version)
    numeric = [f.name for f in docs.schema if f.name not in base
               and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))]
    if not numeric or not info.documents:
        return view
    columns = numeric[:MAX_COLUMNS]
    if info.documents <= sample_rows:
        table, read = docs.to_table(columns=columns), f"all {info.documents:,} rows"
    else:
        at = np.linspace(0, info.documents - 1, sample_rows).astype(np.int64)
        table, read = docs.take(at, columns=columns), f"{sample_rows:,} rows spread evenly over {info.documents:,}"
    rows = []
    for name in columns:
        values = pc.cast(table[name], pa.float64())
        finite = values.filter(pc.is_finite(values))
        m = metrics.get(name)
        h = display.histogram(finite, bins=16, small=True)
        rows.append([name, f"{m['scorer']} v{m['scorer_version']}" if m else "", len(finite),
                     pc.min(finite).as_py(), pc.approximate_median(finite).as_py(), pc.max(finite).as_py(), h or ""])
    view.parts.append(display.Table(f"score columns ({read})", ["column", "scorer", "values", "min", "median", "max",
                                                                "distribution"], rows,
                                    max(len(numeric) - MAX_COLUMNS, 0)))
    return view
