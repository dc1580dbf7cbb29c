"""`winnow report`: one self-contained HTML page of a real lake, checked in a real Chromium.

The lake: C4, OpenWebText and GitHub samples (three sources) scored with gopher, then the
WARC samples ingested after it (their gopher columns are NULL), the `tokens` scorer over
all, imported columns (one with NaN and infinite values), a small JSON-lines file with a
malformed line (a reject) and a document of HTML and script (the XSS probe, which the
second imported column, known for it alone, makes every example of that column), two selections and one recorded run
(written through the catalog API: `winnow compare` trains, too slow here).

Checked: the numbers the page holds (counts per source, tokens, a quantile, null and NaN
shares, a correlation, the selections' sizes and overlap) against DuckDB over the same
lake; in Chromium, every chart drawn with the marks expected (histogram bars = bins, one
line per source, n x n heatmap cells), no console error, no request but the file itself,
the document's text shown as text; bad input refused in one line with nothing written.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow
from .browser import watched
from .helpers import C4, GITHUB, OWT, ROOT, SHARED, WARCS, cli, fails
from winnow.lake import UsageError, catalog
from winnow.lake.version import WINNOW_VERSION
from winnow.views.report import gather


SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")
ARTIFACTS = ROOT / "tests" / "artifacts"
XSS_ID = "!xss"
XSS_TEXT = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\"> a page about </td> tables"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The lake, the report written by the command line, and the selections' ids."""
    root = tmp_path_factory.mktemp("report")
    lake = winnow.init(root / "lake")
    for path, source in ((C4, "c4"), (OWT, "owt"), (GITHUB, "github")):
        winnow.ingest_files(lake, [str(path)], source=source, workers=1)
    probe = root / "probe.jsonl"
    probe.write_text(json.dumps({"id": XSS_ID, "text": XSS_TEXT}) + "\n{not json\n")
    winnow.ingest_files(lake, [str(probe)], source="probe", workers=1)
    winnow.score(lake, "gopher", workers=1)
    winnow.ingest_files(lake, [str(w) for w in WARCS], source="warc", workers=1)
    winnow.score(lake, "tokens", params={"tokenizer": SP}, workers=1)
    ids = winnow.query(lake, "SELECT id, source FROM docs ORDER BY id")
    values = []
    for i, source in enumerate(ids["source"].to_pylist()):
        # 0.0 for C4, +inf for one other document, NaN for every 50th, else a spread of values
        values.append(0.0 if source == "c4" else math.inf if math.inf not in values
                      else math.nan if i % 50 == 7 else float(i % 97) / 7)
    probe_only = [1.0 if doc == XSS_ID else None for doc in ids["id"].to_pylist()]  # every example is the probe
    pq.write_table(pa.table({"id": ids["id"], "ext_quality": pa.array(values, pa.float64()),
                             "probe_score": pa.array(probe_only, pa.float64())}), root / "ext.parquet")
    winnow.import_scores(lake, str(root / "ext.parquet"), on="id")
    winnow.select(lake, "top", "WITH c AS (SELECT id, n_tokens, gopher_word_count AS score FROM docs) "
                               "SELECT * FROM top_k(c, 400000)")
    winnow.select(lake, "half", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.5", seed=3)
    curve = [{"tokens": 1024 * k, "loss": 6.0 - k / 2} for k in range(1, 5)]
    catalog.record_run(lake, {
        "run_id": "r" * 16, "selection": "top", "lake_version": lake.docs().version, "flavor": "tiny",
        "config_hash": "0" * 64, "tokens": 4096, "seed": 0, "validation": "half", "validation_version": 1,
        "steps": 4, "tokens_per_step": 1024, "train_loss": curve, "validation_loss": curve[1::2],
        "tokens_per_second": 1000.0, "created_at": lake.docs().versions()[-1]["timestamp"],
        "run_folder": str(root / "runs"), "winnow_version": WINNOW_VERSION,
    })
    out = root / "report.html"
    proc = cli("report", lake.uri, "--selection", "top", "--selection", "half", "--out", out)
    selected = {n: set(winnow.select_rows(lake, n)["id"].to_pylist()) for n in ("top", "half")}
    return lake, out, proc, selected


def score_columns(lake) -> list[str]:
    """docs' numeric columns but the ingest's own: what the report shows."""
    return [f.name for f in lake.docs().schema if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
            and f.name not in ("n_chars", "n_bytes", "input_row")]


@pytest.fixture(scope="module")
def page(made, browser):
    """The report opened in Chromium, once every chart is drawn."""
    _, out, _, _ = made
    p = watched(browser)
    p.set_viewport_size({"width": 1400, "height": 1000})
    p.goto(out.as_uri())
    p.wait_for_selector("body[data-charts]", timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / "report.png"))
    return p


def one(lake, sql):
    return winnow.query(lake, sql).to_pylist()[0]


def specs(page) -> dict:
    return json.loads(page.evaluate("document.getElementById('winnow-charts').textContent"))


def test_the_command_says_what_it_wrote(made):
    lake, out, proc, _ = made
    n = len(score_columns(lake))
    assert n == 24  # gopher's 21, n_tokens, ext_quality, probe_score
    assert re.search(rf"wrote .*report\.html \([\d.,]+ [kM]B: {n} score column\(s\), 2 selection\(s\) compared\) in "
                     r"[\d.]+ s", proc.stdout), proc.stdout
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "vegaEmbed" in text
    # offline: no address of another host anywhere a browser would load one from
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)


def test_lake_numbers_equal_duckdb(made, page):
    lake, _, _, _ = made
    per_source = {r["source"]: r["n"] for r in winnow.query(lake, "SELECT source, count(*) AS n FROM docs GROUP BY 1").to_pylist()}
    shown = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#sources tr[data-source]')]
        .map(tr => [tr.dataset.source, Number(tr.children[1].dataset.value)]))""")
    assert shown == per_source and set(shown) == {"c4", "owt", "github", "probe", "warc"}
    assert int(page.get_attribute("#lake-documents", "data-value")) == sum(per_source.values())
    assert int(page.get_attribute("#lake-tokens", "data-value")) == one(lake, "SELECT sum(n_tokens)::BIGINT AS t FROM docs")["t"]
    assert int(page.get_attribute("#lake-versions", "data-value")) == len(lake.docs().versions())
    rejects = page.evaluate("""() => [...document.querySelectorAll('#rejects tr[data-reason]')]
        .map(tr => [tr.dataset.reason, Number(tr.lastElementChild.dataset.value)])""")
    assert rejects == [["malformed_json", 1]]
    # the ingest's own columns are not score columns; every other numeric one is
    columns = page.evaluate("[...document.querySelectorAll('#column-stats tr[data-column]')].map(tr => tr.dataset.column)")
    assert "n_tokens" in columns and "ext_quality" in columns and "gopher_word_count" in columns
    assert columns == score_columns(lake)


def stat(page, column: str, name: str) -> float:
    return float(page.get_attribute(f'#column-stats tr[data-column="{column}"] td[data-stat="{name}"]', "data-value"))


def test_column_numbers_equal_duckdb(made, page):
    lake, _, _, _ = made
    wc = one(lake, "SELECT count(*) - count(gopher_word_count) AS nulls, count(*) FILTER (WHERE source = 'warc') AS warc, "
                   "quantile_disc(gopher_word_count::DOUBLE, 0.5) AS median, "
                   "quantile_disc(gopher_word_count::DOUBLE, 0.9) AS p90 FROM docs")
    assert wc["nulls"] == wc["warc"] > 0 and stat(page, "gopher_word_count", "null") == wc["nulls"]  # the WARC documents
    assert stat(page, "gopher_word_count", "q0.5") == wc["median"] and stat(page, "gopher_word_count", "q0.9") == wc["p90"]
    ext = one(lake, "SELECT count(*) FILTER (WHERE isnan(ext_quality)) AS nan, count(*) FILTER (WHERE isinf(ext_quality)) "
                    "AS inf, avg(ext_quality) FILTER (WHERE isfinite(ext_quality)) AS mean FROM docs")
    assert ext["nan"] > 0 and stat(page, "ext_quality", "nan") == ext["nan"]
    assert stat(page, "ext_quality", "infinite") == ext["inf"] == 1
    assert stat(page, "ext_quality", "mean") == pytest.approx(ext["mean"], rel=1e-12)
    # the shown share is the count over the rows
    cell = page.inner_text('#column-stats tr[data-column="gopher_word_count"] td[data-stat="null"]')
    assert cell == f"{wc['nulls'] / one(lake, 'SELECT count(*) AS n FROM docs')['n']:.2%}"
    # a correlation of the heatmap
    heat = next(s for s in specs(page).values() if "correlation" in json.dumps(s.get("encoding", {})))
    r = next(v["correlation"] for v in heat["data"]["values"] if v["a"] == "gopher_word_count" and v["b"] == "n_tokens")
    expected = one(lake, "SELECT corr(gopher_word_count::DOUBLE, n_tokens::DOUBLE) AS r FROM docs")["r"]
    assert r == pytest.approx(expected, abs=1e-12) and r > 0.5


def test_histograms_count_the_known_values_alone(made, page):
    """NULL, NaN and infinite values are in no bin: each histogram's bars add up to the column's
    finite values, overall and in each selection (gopher's columns are NULL for the WARC
    documents, ext_quality has NaN and one infinite value)."""
    lake, _, _, selected = made
    charts = specs(page)
    for column in ("gopher_word_count", "ext_quality", "n_tokens"):
        known = one(lake, f"SELECT count(*) FILTER (WHERE isfinite({column}::DOUBLE)) AS n, "
                          f"count(*) AS rows FROM docs")
        bars = next(s for s in charts.values() if s.get("title", "").startswith(f"{column}: documents per bin"))
        assert sum(v["documents"] for v in bars["data"]["values"]) == known["n"]
        if column != "n_tokens":
            assert known["n"] < known["rows"]
        (shown,) = gather(lake, selections=["top"], columns=[column]).columns
        top = one(lake, f"SELECT count(*) FILTER (WHERE isfinite({column}::DOUBLE)) AS n FROM docs "
                        f"WHERE id IN ({', '.join(repr(i) for i in sorted(selected['top']))})")["n"]
        assert sum(shown.overall) == known["n"] and sum(shown.selected["top"]) == top


def test_examples_sit_at_their_quantiles_with_all_scores(made, page):
    lake, _, _, _ = made
    rows = page.evaluate("""() => [...document.querySelectorAll('section.column[data-column="gopher_word_count"] table.examples > tbody > tr')]
        .map(tr => ({q: Number(tr.dataset.quantile), id: tr.dataset.id, value: Number(tr.children[1].dataset.value),
                     scores: tr.querySelectorAll('table.scores tr').length}))""")
    assert [r["q"] for r in rows] == [0.01, 0.25, 0.5, 0.75, 0.99]
    for r in rows:  # a lake this small is its own sample: the document at the quantile's rank
        want = one(lake, f"SELECT quantile_disc({{'value': gopher_word_count::DOUBLE, 'id': id}}, {r['q']}) AS e "
                         "FROM docs WHERE gopher_word_count IS NOT NULL")["e"]
        assert (r["value"], r["id"]) == (want["value"], want["id"]) == (stat(page, "gopher_word_count", f"q{r['q']}"), r["id"])
        assert r["value"] == one(lake, f"SELECT gopher_word_count AS v FROM docs WHERE id = '{r['id']}'")["v"]
        assert r["scores"] == len(score_columns(lake))


def test_the_document_text_is_text_not_markup(made, page):
    _, out, _, _ = made
    probe = page.locator(f'section.column[data-column="probe_score"] tr[data-id="{XSS_ID}"] .snippet').first
    assert probe.inner_text() == XSS_TEXT
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("document.querySelectorAll('script').length") == 3
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert "<script>window.pwned" not in out.read_text()


def test_selections_equal_their_rows(made, page):
    lake, _, _, selected = made
    sizes = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#selection-summary tr[data-selection]')]
        .map(tr => [tr.dataset.selection, Number(tr.children[1].dataset.value)]))""")
    assert sizes == {n: len(ids) for n, ids in selected.items()}
    both = page.evaluate("[...document.querySelectorAll('#overlap tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(td => Number(td.dataset.value)))")
    assert both == [[len(selected["top"]), len(selected["top"] & selected["half"])],
                    [len(selected["top"] & selected["half"]), len(selected["half"])]]
    by_source = page.evaluate("""() => [...document.querySelectorAll('#selection-sources tr[data-selection="top"]')]
        .map(tr => [tr.dataset.source, Number(tr.children[2].dataset.value)])""")
    top = winnow.query(lake, "SELECT source, id FROM docs").to_pylist()
    expected = {}
    for r in top:
        if r["id"] in selected["top"]:
            expected[r["source"]] = expected.get(r["source"], 0) + 1
    assert dict(by_source) == expected


def test_every_chart_is_drawn_offline_with_its_marks(made, page):
    lake, out, _, _ = made
    n = len(score_columns(lake))
    assert page.errors == []
    assert page.outside == [] and page.requests == [out.as_uri()]
    charts = page.evaluate("""() => [...document.querySelectorAll('.chart')].map(d => ({kind: d.dataset.kind,
        marks: d.dataset.marks === 'None' ? null : Number(d.dataset.marks), svg: d.querySelectorAll('svg').length,
        column: d.closest('section.column')?.dataset.column, bins: Number(d.closest('section.column')?.dataset.bins),
        bars: d.querySelectorAll('g.mark-rect.role-mark > path').length,
        lines: d.querySelectorAll('g.mark-line.role-mark > path').length}))""")
    assert int(page.get_attribute("body", "data-charts")) == len(charts) == len(specs(page))
    assert all(c["svg"] >= 1 for c in charts)
    kinds = [c["kind"] for c in charts]
    assert kinds.count("histogram") == kinds.count("by-source") == kinds.count("selected") == n
    for c in charts:
        if c["kind"] == "histogram":
            assert c["bars"] == c["marks"] == c["bins"] == (1 if c["column"] == "probe_score" else 40)  # constant: 1
        elif c["kind"] in ("by-source", "selected"):
            assert c["lines"] == c["marks"] >= 1
        elif c["kind"] == "overlap":
            assert c["bars"] == c["marks"] == 4
        elif c["kind"] == "heatmap":  # a cell per pair with a correlation (a constant column has none)
            heat = next(s for s in specs(page).values() if "correlation" in json.dumps(s.get("encoding", {})))
            assert c["marks"] == n * n and c["bars"] == sum(v["correlation"] is not None for v in heat["data"]["values"])
            assert c["bars"] >= n * n - 2 * n
    assert {"sources", "heatmap", "selection-sources", "overlap", "runs"} <= set(kinds)
    runs = next(c for c in charts if c["kind"] == "runs")
    assert runs["lines"] == 2  # the run's train and validation curves
    top, half = made[3]["top"], made[3]["half"]
    texts = page.evaluate("[...document.querySelectorAll('.chart[data-kind=overlap] g.mark-text.role-mark > text')].map(t => t.textContent)")
    assert sorted(texts) == sorted(f"{x:,}" for x in (len(top), len(top & half), len(top & half), len(half)))


def test_api_render_is_the_page(made, tmp_path):
    lake, _, _, _ = made
    from winnow.views.report import render

    html = render(lake, columns=["gopher_word_count", "n_*"])
    assert html.startswith("<!DOCTYPE html>") and 'data-column="n_tokens"' in html
    assert 'data-column="gopher_mean_word_length"' not in html
    r = winnow.report(lake, tmp_path / "r.html", columns="ext_*")
    assert r.columns == 1 and r.selections == 0 and r.path.stat().st_size == r.bytes


@pytest.mark.parametrize("args, says", [
    (["--selection", "top", "--selection", "nope"], "no selection named 'nope' (selections: half, top)"),
    (["--columns", "gopher_*", "--columns", "zzz_*"], "--columns 'zzz_*' matches no numeric column of docs"),
])
def test_bad_input_is_one_line(made, tmp_path, args, says):
    lake, _, _, _ = made
    out = tmp_path / "r.html"
    fails("report", lake.uri, "--out", out, *args, contains=says)
    assert not out.exists()


def test_bad_places_are_one_line(made, tmp_path):
    lake, _, _, _ = made
    fails("report", lake.uri, "--out", tmp_path / "missing" / "r.html", contains="the folder")
    fails("report", tmp_path, "--out", tmp_path / "r.html", contains="no winnow lake at")
    for out, says in ((tmp_path, "is a folder"), (Path(lake.uri) / "r.html", "inside the lake")):
        with pytest.raises(UsageError, match=says):
            winnow.report(lake, out)
    with pytest.raises(UsageError, match="only non-numeric: text"):
        winnow.report(lake, tmp_path / "r.html", columns=["text"])
    assert not list(tmp_path.iterdir()) and not (Path(lake.uri) / "r.html").exists()
