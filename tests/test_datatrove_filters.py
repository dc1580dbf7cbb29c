"""sql/examples/datatrove-filters.sql gives datatrove's own keep/drop decisions.

A lake of the real documents in ../shared/data (OpenWebText, C4, GitHub files and the
pages extracted from the WARC files) is scored with gopher, c4 and fineweb; the example's
four keep columns are compared, document by document, with the decisions of datatrove
0.10.1's GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter and
FineWebQualityFilter (default thresholds) on the same texts: every WARC page and every
sixteenth other document, the only ones scored (datatrove's filters run at about 25
documents/s).
"""

from __future__ import annotations

import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

import winnow

from .helpers import C4, DATA, GITHUB, OWT, ROOT

EXAMPLE = ROOT / "sql" / "examples" / "datatrove-filters.sql"
FILTERS = {"gopher_quality_keep": GopherQualityFilter, "gopher_repetition_keep": GopherRepetitionFilter,
           "c4_quality_keep": C4QualityFilter, "fineweb_quality_keep": FineWebQualityFilter}
REQUIRED = 0.995
EVERY = 16


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> list[dict]:
    """Per compared document: id, source, winnow's four keep flags and datatrove's."""
    lake = winnow.init(tmp_path_factory.mktemp("datatrove") / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4), str(GITHUB), str(DATA / "warc")])
    docs = sorted(lake.docs().to_table(columns=["id", "source", "text"]).to_pylist(), key=lambda r: r["id"])
    docs = [d for i, d in enumerate(docs) if d["source"] == "warc" or i % EVERY == 0]
    sample = "id IN ({})".format(", ".join(f"'{d['id']}'" for d in docs))
    for scorer in ("gopher", "c4", "fineweb"):
        winnow.score(lake, scorer, workers=1, where=sample)  # the compared documents only
    ours = {r["id"]: r for r in winnow.query(lake, EXAMPLE.read_text()).to_pylist()}
    assert sum(r["c4_quality_keep"] is None for r in ours.values()) == len(ours) - len(docs)  # not scored: NULL
    filters = {name: cls() for name, cls in FILTERS.items()}
    rows = []
    for d in docs:
        row = {"id": d["id"], "source": d["source"], "ours": ours[d["id"]], "theirs": {}, "why": {}}
        for name, f in filters.items():
            result = f.filter(Document(text=d["text"], id=d["id"]))
            row["theirs"][name] = result[0] if isinstance(result, tuple) else result
            row["why"][name] = result[1] if isinstance(result, tuple) else "kept"
        rows.append(row)
    return rows


@pytest.mark.parametrize("keep", list(FILTERS))
def test_keep_columns_agree_with_datatrove(compared, keep):
    assert {r["source"] for r in compared} == {"openwebtext-1000", "c4-sample-449", "github-sample-50", "warc"}
    assert all(set(r["ours"]) == {"id", *FILTERS} and isinstance(r["ours"][keep], bool) for r in compared)
    differ = [(r["id"], r["source"], f"winnow {'keeps' if r['ours'][keep] else 'drops'}, datatrove: {r['why'][keep]}")
              for r in compared if r["ours"][keep] != r["theirs"][keep]]
    agree = 1 - len(differ) / len(compared)
    assert agree >= REQUIRED, f"{keep}: {agree:.2%} of {len(compared)} documents agree; differences: {differ}"
    # both decisions occur, so agreement is not trivial
    assert len({r["theirs"][keep] for r in compared}) == 2
