"""How objects show themselves (lake/display.py), query results as data frames (sql/frames.py)
and progress outside a notebook (lake/progress.py), on a real lake of the GitHub sample.
docs/tour.ipynb, run by test_notebooks.py, shows them in a real Jupyter kernel. ~10 s.
"""

from __future__ import annotations

import io
import pickle
import re
import sys

import numpy as np
import pyarrow as pa
import pytest

import winnow
from winnow.lake import display
from winnow.lake.info import lake_view
from winnow.lake.progress import LineBar, auto, in_notebook

from .helpers import GITHUB


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    lake = winnow.init(tmp_path_factory.mktemp("display") / "lake")
    winnow.ingest_files(lake, [str(GITHUB)], workers=1)
    winnow.score(lake, "gopher", workers=1)
    return lake


def _part(view, caption):
    return next(p for p in view.parts if p.caption.startswith(caption))


def test_a_lake_shows_each_score_column_distribution(scored):
    words = winnow.query(scored, "SELECT gopher_word_count AS w FROM docs")["w"].to_numpy()
    table = _part(lake_view(scored), "score columns (all 50 rows)")
    row = next(r for r in table.rows if r[0] == "gopher_word_count")
    h = row[-1]
    assert row[1].startswith("gopher v") and row[2] == 50 and (row[3], row[5]) == (words.min(), words.max())
    assert h.counts == np.histogram(words.astype(float), bins=16)[0].tolist() and sum(h.counts) == 50
    sampled = _part(lake_view(scored, sample_rows=10), "score columns (10 rows spread evenly over 50)")
    assert all(sum(r[-1].counts) == 10 for r in sampled.rows if r[-1])

    page = scored._repr_html_()
    assert "<script" not in page and page.count('aria-label="histogram"') == len(table.rows) >= 20
    assert "github-sample-50" in page and "<td" in page
    shown = str(winnow.info(scored))
    assert "<" not in shown and re.search(r"documents\s+50\n", shown) and repr(scored) == f"Lake({scored.uri!r})"


def test_a_selection_shows_its_tokens_by_source_and_pickles_without_its_lake(scored):
    sel = winnow.select(scored, "long", "SELECT id, n_bytes AS n_tokens FROM docs WHERE gopher_word_count > 100",
                        replace=True)
    expected = winnow.query(scored, "SELECT count(*) AS n, sum(n_bytes) AS t FROM docs WHERE gopher_word_count > 100")
    n = expected["n"][0].as_py()
    assert repr(sel) == f"Selection('long': {n:,} documents, lake version {sel.lake_version}, seed 0)"
    bars = _part(sel._view(), "tokens by source")
    assert bars.labels == ["github-sample-50"] and sum(bars.values) == expected["t"][0].as_py()
    assert "WHERE gopher_word_count &gt; 100" in sel._repr_html_() and 'aria-label="bars"' in sel._repr_html_()
    again = pickle.loads(pickle.dumps(sel))
    assert again == sel and again.lake is None and "tokens by source" not in str(again)
    result = winnow.ingest_files(scored, [str(GITHUB)], workers=1)  # nothing new: counted as passed over
    assert repr(result).startswith("IngestResult(1 input(s): read ")


def test_query_results_convert_without_copying(scored, monkeypatch):
    import pandas as pd

    sql = "SELECT id, gopher_word_count, gopher_alpha_words_frac FROM docs ORDER BY id"
    table = winnow.query(scored, sql)

    def address(array):
        chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
        return chunks[0].buffers()[-1].address

    frame = winnow.query(scored, sql, to="pandas")
    assert all(isinstance(t, pd.ArrowDtype) for t in frame.dtypes)
    assert frame["id"].tolist() == table["id"].to_pylist()
    # the frame's columns are Arrow arrays over buffers: converting the table again shares them
    again = table.to_pandas(types_mapper=pd.ArrowDtype)
    assert all(address(again[c].array.__arrow_array__()) == address(table[c]) for c in table.column_names)
    polars = pytest.importorskip("polars")
    pf = polars.from_arrow(table, rechunk=False)
    assert address(pf["gopher_word_count"].to_arrow()) == address(table["gopher_word_count"])  # numbers: shared
    assert winnow.query(scored, sql, to="polars")["id"].to_list() == table["id"].to_pylist()
    monkeypatch.setitem(sys.modules, "polars", None)  # as if it were not installed
    with pytest.raises(winnow.UsageError, match=r"^to='polars' needs polars, which is not installed: pip install "
                                                 r"polars$"):
        winnow.query(scored, sql, to="polars")
    with pytest.raises(winnow.UsageError, match="use one of arrow, pandas, polars"):
        winnow.query(scored, sql, to="numpy")


def test_progress_outside_a_notebook_is_a_few_lines():
    assert not in_notebook() and isinstance(auto(), LineBar)
    log = io.StringIO()  # not a terminal: a line every log_interval seconds, and the last
    bar = LineBar(log, log_interval=3600)
    bar.start("score", 100_000, "rows")
    for _ in range(100_000):
        bar.advance(1, tokens=2)
    bar.stop()
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("score: 100,000 rows of 100,000 rows")
    assert "200,000 tokens" in lines[-1]


def test_views_render_every_part_as_html_and_text():
    view = display.View("t <x>", [("n", 1234567), ("f", 0.123456), ("none", None)], [
        display.Bars(["a", "b"], [3, 1], "bars"), display.Histogram([1, 0, 2], [0.0, 1.0, 2.0, 3.0], "h"),
        display.Table("rows", ["k", "d"], [["x", display.Histogram([1, 2], [0, 1, 2], small=True)]], more=5),
        display.Code("SQL", "SELECT 1 < 2")])
    page, text = display.html(view), display.text(view)
    assert "t &lt;x&gt;" in page and "SELECT 1 &lt; 2" in page and page.count("<svg") == 3 and "… 5 more" in page
    assert "1,234,567" in text and "0.1235" in text and f"a {'█' * 30} 3 (75.0%)" in text
    assert "x  ▅█" in text and "SELECT 1 < 2" in text and "none" not in text and "none" not in page
