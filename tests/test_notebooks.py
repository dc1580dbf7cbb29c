"""The example notebook cannot rot: docs/tour.ipynb (ingest, score, explore, select, compare
on a slice of ../shared/data) runs here headlessly in a real Jupyter kernel (nbclient and
ipykernel, this test's Python), and what its cells show is checked: the counts balance, the
lake's view holds a histogram per score column, the query gives a pandas frame whose totals
are the lake's, the two selections' overlap adds up, and each long job's progress left one
output in its cell, updated in place, not a line per update. The notebook is stored without
outputs. ~25-40 s on the 2-core machine.
"""

from __future__ import annotations

import json
import re
import sys
import time

import pytest

from .helpers import C4, GITHUB, ROOT

nbclient = pytest.importorskip("nbclient", reason="the dev extra's nbclient runs the notebooks")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

TOUR = ROOT / "docs" / "tour.ipynb"


def _kernel(tmp_path, monkeypatch) -> str:
    """A kernel spec that starts this test's Python (the checkout's winnow), found through
    JUPYTER_PATH: not whatever `python3` kernel the machine has."""
    spec = tmp_path / "jupyter" / "kernels" / "winnow-tests"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "winnow tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "winnow-tests"


def _code_cells(nb) -> dict[str, list]:
    """Each code cell's outputs, by the cell's first line."""
    return {cell.source.splitlines()[0]: cell.outputs for cell in nb.cells if cell.cell_type == "code"}


def _plain(outputs) -> str:
    return "\n".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in outputs)


def _html(outputs) -> str:
    return "\n".join(o.get("data", {}).get("text/html", "") for o in outputs)


def test_the_tour_runs_and_shows_what_it_says(tmp_path, monkeypatch):
    stored = nbformat.read(TOUR, as_version=4)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in stored.cells if c.cell_type == "code"), \
        "docs/tour.ipynb is stored without outputs"
    client = nbclient.NotebookClient(stored, timeout=120, kernel_name=_kernel(tmp_path, monkeypatch),
                                     resources={"metadata": {"path": str(TOUR.parent)}})
    t0 = time.perf_counter()
    nb = client.execute()
    seconds = time.perf_counter() - t0
    print(f"docs/tour.ipynb ran in {seconds:.1f} s")
    assert seconds < 120
    cells = _code_cells(nb)
    assert not [o for outputs in cells.values() for o in outputs if o.output_type == "error"]

    # ingest: one progress output, updated in place; the counts balance on the two files' lines
    ingest = cells["ingested = winnow.ingest_files(lake, [str(DATA / \"c4-sample-449.jsonl\"), "
                   "str(DATA / \"github-sample-50.jsonl\")],"]
    bars = [o for o in ingest if o.output_type == "display_data" and "<progress" in o.data.get("text/html", "")]
    assert 1 <= len(bars) <= 3 and all(b.data["text/plain"].endswith("· done") for b in bars), ingest
    assert not [o for o in ingest if o.output_type == "stream"]
    m = re.search(r"read ([\d,]+) = written ([\d,]+) \+ duplicates ([\d,]+) \+ rejected ([\d,]+)", _plain(ingest))
    read, written, duplicates, rejected = (int(x.replace(",", "")) for x in m.groups())
    lines = sum(1 for p in (C4, GITHUB) for line in p.read_text().splitlines() if line.strip())
    assert read == lines == written + duplicates + rejected and written > 0
    assert "documents read" in _html(ingest) and "<svg" in _html(ingest)
    score = cells['winnow.score(lake, "gopher", workers=1, progress=True)']
    assert sum("<progress" in o.get("data", {}).get("text/html", "") for o in score) == 1
    assert "gopher v" in _plain(score) and f"{written:,} rows scored" in _plain(score)

    # the lake's view: its documents, sources, one histogram per numeric gopher column
    lake_html = _html(cells["lake"])
    assert f"<td style=\"padding: 1px 8px; text-align: left; vertical-align: top\">{written:,}</td>" in lake_html
    assert "c4-sample-449" in lake_html and "github-sample-50" in lake_html
    gopher = set(re.findall(r">(gopher_\w+)<", lake_html))
    assert len(gopher) >= 10 and lake_html.count('aria-label="histogram"') >= len(gopher)

    # the query as a pandas frame: documents per source add up to the documents written
    frame = _plain(cells["by_source = winnow.query(lake, \"\"\""])
    counts = {s: int(n) for s, n in re.findall(r"(c4-sample-449|github-sample-50)\s+(\d+)", frame)}
    assert set(counts) == {"c4-sample-449", "github-sample-50"} and sum(counts.values()) == written
    assert "<table" in _html(cells["by_source = winnow.query(lake, \"\"\""])  # pandas' own HTML

    # the selections: their tokens by source; the diff's parts add up to each selection
    documents = {}
    for name, first in (("quality", 'quality = winnow.select(lake, "quality", """'),
                        ("random", 'random = winnow.select(lake, "random", """')):
        shown = cells[first]
        documents[name] = int(re.search(rf"Selection\('{name}': ([\d,]+) documents", _plain(shown))[1].replace(",", ""))
        assert "tokens by source" in _html(shown) and 'aria-label="bars"' in _html(shown)
    diff = _plain(cells['winnow.select_diff(lake, "quality", "random")'])
    only_a, both, only_b = (int(x.replace(",", "")) for x in
                            re.search(r"only quality: ([\d,]+), both: ([\d,]+), only random: ([\d,]+)", diff).groups())
    assert only_a + both == documents["quality"] and only_b + both == documents["random"]
    printed = _plain(cells['print(winnow.select_diff(lake, "quality", "random"))'])
    assert printed.startswith("quality against random") and "<" not in printed  # text, not HTML
