"""`winnow serve` in a real browser: the real server (the `winnow` command, in a subprocess) on a
real lake (ingested from ../shared/data, scored with gopher and tokens, two selections), driven
by Debian's Chromium. The SQL box returns winnow.query's rows, a document page shows the
scores the lake holds, a bad or writing query is one error line in the page, nothing leaves
127.0.0.1, and the lake is as it was after the whole session."""

from __future__ import annotations

import html
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode, urlparse

import pytest

import winnow
from winnow.sql.preview import diff
from winnow.lake import LakeNotFound, UsageError
from winnow.views.serve import ReadOnlyLake, bind, execute, open_read_only, serve

from .browser import watched
from .helpers import C4, GITHUB, OWT, WINNOW, fails, lake_state

SP = Path(__file__).resolve().parents[1] / ".." / "shared" / "tokenizers" / "llama-style-sp32k.model"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MAX_ROWS = 500
TIMEOUT = 2  # seconds: --timeout of the server under test
TOP = "WITH c AS (SELECT id, n_tokens, gopher_word_count AS score FROM docs) SELECT * FROM top_k(c, 100000)"
LONG = "SELECT id, n_tokens FROM docs WHERE n_tokens > 800"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(lake, base URL, the server's process, the lake's state before serving)."""
    folder = tmp_path_factory.mktemp("serve")
    lake = winnow.init(folder / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4), str(GITHUB)])
    winnow.score(lake, "gopher", workers=1)
    winnow.score(lake, "tokens", params={"tokenizer": str(SP)}, workers=1)
    winnow.select(lake, "top", TOP)
    winnow.select(lake, "long", LONG)
    before = lake_state(lake)
    proc = subprocess.Popen(
        [str(WINNOW), "serve", lake.uri, "--port", "0", "--max-rows", str(MAX_ROWS), "--timeout", str(TIMEOUT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=60)
    except queue.Empty:
        proc.kill()
        pytest.fail("winnow serve printed nothing in 60 s")
    if not line.startswith("serving "):
        proc.kill()
        pytest.fail(f"winnow serve did not start: {line!r} {proc.stderr.read()}")
    url = line.split(" at ", 1)[1].split()[0].rstrip("/")
    yield lake, url, proc, before
    if proc.poll() is None:
        proc.kill()


def get(url: str, headers: dict | None = None, data: bytes | None = None) -> tuple[int, str]:
    """(HTTP status, body with HTML entities decoded) of a request."""
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, html.unescape(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, html.unescape(e.read().decode())


def only_local(page, url: str) -> None:
    """No console error, no request outside the server, every http request to the server."""
    assert not page.errors, page.errors
    assert not page.outside, page.outside
    own = urlparse(url).netloc
    assert all(urlparse(r).netloc == own for r in page.requests if r.startswith("http")), page.requests


def run_in_box(page, url: str, sql: str) -> None:
    """Type `sql` into the SQL box and run it, as a person would."""
    page.goto(url + "/sql")
    page.fill("#sql", sql)
    with page.expect_navigation():
        page.click("#run")


def shown_rows(page) -> list[list[str]]:
    return page.eval_on_selector_all("#result tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def spec(page) -> dict:
    return json.loads(page.text_content("script.vega-spec"))


def test_the_sql_box_returns_the_rows_of_winnow_query(served, browser):
    lake, url, _, _ = served
    sql = "SELECT source, count(*) AS documents FROM docs GROUP BY source ORDER BY source"
    page = watched(browser)
    page.set_viewport_size({"width": 1100, "height": 900})
    run_in_box(page, url, sql)
    expected = winnow.query(lake, sql).to_pylist()
    assert shown_rows(page) == [[r["source"], str(r["documents"])] for r in expected]
    assert page.eval_on_selector_all("#result thead th", "h => h.map(c => c.textContent)") == ["source", "documents"]
    page.wait_for_selector("#chart svg g.mark-rect path")
    assert page.locator("#chart svg g.mark-rect path").count() == len(expected)  # one bar per source
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve.png"), full_page=True)
    only_local(page, url)


def test_more_rows_than_the_limit_and_the_histogram_counts_them_all(served, browser):
    lake, url, _, _ = served
    page = watched(browser)
    run_in_box(page, url, "SELECT gopher_word_count FROM docs ORDER BY id")
    documents = winnow.query(lake, "SELECT count(*) AS n FROM docs")["n"][0].as_py()
    assert documents > MAX_ROWS
    first = winnow.query(lake, f"SELECT gopher_word_count FROM docs ORDER BY id LIMIT {MAX_ROWS}")
    assert shown_rows(page) == [[str(v)] for v in first["gopher_word_count"].to_pylist()]
    assert "there are more" in page.text_content("#summary")
    bins = spec(page)["data"]["values"]
    assert len(bins) == 30 and sum(b["n"] for b in bins) == documents  # the whole result, counted by DuckDB
    lo, hi = winnow.query(lake, "SELECT min(gopher_word_count) AS lo, max(gopher_word_count) AS hi FROM docs").to_pylist()[0].values()
    assert (bins[0]["low"], bins[-1]["high"]) == (lo, hi)
    page.wait_for_selector("#chart svg g.mark-rect path")
    assert page.locator("#chart svg g.mark-rect path").count() == 30
    only_local(page, url)


def test_zscore_and_the_macros_of_winnow_sql(served, browser):
    lake, url, _, _ = served
    page = watched(browser)
    run_in_box(page, url, "SELECT id, zscore(n_tokens) AS z FROM docs ORDER BY id LIMIT 3")
    # the same numbers from plain SQL (winnow.query with zscore would cache statistics in the lake)
    want = winnow.query(lake, "SELECT id, (n_tokens - avg(n_tokens) OVER ()) / stddev_pop(n_tokens) OVER () AS z "
                              "FROM docs ORDER BY id LIMIT 3").to_pylist()
    got = shown_rows(page)
    assert [r[0] for r in got] == [w["id"] for w in want]
    assert [float(r[1]) for r in got] == pytest.approx([w["z"] for w in want], rel=1e-12)
    with page.expect_navigation():
        page.click("#result tbody tr a")  # an id links to its document
    assert page.text_content("#doc-id") == want[0]["id"]
    run_in_box(page, url, TOP.replace("SELECT *", "SELECT id") + " ORDER BY id")
    assert [r[0] for r in shown_rows(page)] == sorted(winnow.select_rows(lake, "top")["id"].to_pylist())
    only_local(page, url)


def test_a_document_page_shows_the_scores_the_lake_holds(served, browser):
    lake, url, _, _ = served
    # a document whose text holds markup: the page must show it as text
    doc = winnow.query(lake, "SELECT * FROM docs WHERE source = 'github-sample-50' AND text LIKE '%</%' "
                             "ORDER BY id LIMIT 1").to_pylist()[0]
    scores = [c for c in lake.docs().schema.names if c.startswith("gopher_") or c == "n_tokens"]
    assert len(scores) > 20
    page = watched(browser)
    page.goto(url + "/doc/" + quote(doc["id"], safe=""))
    assert page.text_content("#doc-id") == doc["id"]
    assert page.text_content("#text") == doc["text"]  # escaped, shown as written
    for column in scores:
        shown = page.text_content(f'#scores tr[data-column="{column}"] td.value')
        assert float(shown) == doc[column], column
    metrics = {m["metric"]: m for m in winnow.query(lake, "SELECT * FROM metrics").to_pylist()}
    rows = page.eval_on_selector_all("#scores tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    for column, _, scorer, version, params, status in rows:
        m = metrics[column]
        assert (scorer, version, params, status) == (m["scorer"], m["scorer_version"], m["params"], "done")
    ingest = winnow.query(lake, f"SELECT input FROM ingests WHERE ingest_id = '{doc['ingest_id']}'").to_pylist()
    assert page.text_content("#input") == ingest[0]["input"] == str(GITHUB)
    assert page.text_content("#input-row") == str(doc["input_row"])
    only_local(page, url)
    status, body = get(url + "/doc/no-such-id")
    assert status == 404 and "no document with id 'no-such-id'" in body


BAD = {
    "SELEC 1": "syntax error",
    "SELECT no_such_column FROM docs": "no_such_column",
    "COPY (SELECT id FROM docs) TO '{out}'": "not COPY",
    "ATTACH '{db}' AS other": "not ATTACH",
    "CREATE TABLE t AS SELECT 1": "not CREATE",
    "INSERT INTO docs SELECT * FROM docs": "not INSERT",
    "INSTALL httpfs": "read-only",
    "SELECT * FROM read_text('/etc/hostname')": "no file access",
    "SELECT * FROM read_csv('{lake}/docs.lance/x.csv')": "inside the lake",
    "SELECT 1; SELECT 2": "one statement at a time",
    "SELECT count(*) FROM range(1000000000000000)": f"time limit of {TIMEOUT} s",
}


def test_a_bad_or_writing_query_is_one_error_line_in_the_page(served, browser, tmp_path):
    lake, url, _, _ = served
    out, db = tmp_path / "ids.csv", tmp_path / "other.duckdb"
    page = watched(browser)
    for sql, says in BAD.items():
        sql = sql.format(out=out, db=db, lake=lake.uri)
        run_in_box(page, url, sql)
        error = page.text_content("#error")
        assert error.startswith("error: ") and says in error and "\n" not in error.strip(), (sql, error)
        body = page.content()
        assert "Traceback" not in body and 'File "' not in body, sql
        assert page.locator("#result").count() == 0
        assert page.input_value("#sql") == sql  # the query stays in the box, to fix it
    assert not out.exists() and not db.exists()
    status, body = get(url + "/sql?" + urlencode({"q": "ATTACH 'x.db'"}))
    assert status == 200 and "error: the lake is served read-only" in body and "Traceback" not in body
    assert not page.errors and not page.outside


def test_selections_preview_and_diff(served, browser):
    lake, url, _, _ = served
    page = watched(browser)
    page.goto(url + "/selections")
    assert page.eval_on_selector_all("#selections tbody tr td:first-child", "c => c.map(x => x.textContent)") == ["long", "top"]
    with page.expect_navigation():
        page.click('#selections a[href="/selections/top"]')
    top = winnow.select_rows(lake, "top")
    assert page.text_content("#summary td").startswith(f"{top.num_rows:,} of ")
    page.wait_for_selector("#chart svg g.mark-rect path")
    assert sum(b["n"] for b in spec(page)["data"]["values"]) == top.num_rows
    page.goto(url + "/diff?a=top&b=long")
    d = diff(lake, "top", "long")
    cells = page.eval_on_selector_all("#diff tbody tr:first-child td", "c => c.map(x => x.textContent)")
    assert cells == [f"{d.only_a:,}", f"{d.both:,}", f"{d.only_b:,}"]
    only_local(page, url)
    status, body = get(url + "/selections/nope")
    assert status == 400 and "no selection named 'nope'" in body
    status, body = get(url + "/selections/top?samples=x")
    assert status == 400 and "error: samples: " in body


def test_only_reading_requests_to_its_own_address(served):
    _, url, _, _ = served
    assert get(url + "/sql", data=b"q=SELECT 1")[0] == 405  # every route is a GET
    assert get(url + "/sql", headers={"Host": "attacker.example"})[0] == 400  # DNS rebinding
    assert urlparse(url).hostname == "127.0.0.1"


def test_the_lake_opened_read_only_refuses_every_write(served):
    lake, _, _, before = served
    ro = open_read_only(lake.uri)
    with pytest.raises(ReadOnlyLake.Refused, match="read-only"):
        winnow.select(ro, "new", LONG)  # a selection tags a version and appends to the catalog
    with pytest.raises(ReadOnlyLake.Refused):
        ro.append("metrics", lake.dataset("metrics").to_table())
    with pytest.raises(ReadOnlyLake.Refused):
        ro.cleanup()
    # zscore computes the statistics and cannot cache them: the query still answers
    z = execute(ro, "SELECT avg(zscore(n_tokens)) AS m, stddev_pop(zscore(n_tokens)) AS s FROM docs").table
    assert z["m"][0].as_py() == pytest.approx(0, abs=1e-9) and z["s"][0].as_py() == pytest.approx(1)
    assert lake_state(lake) == before


def test_a_port_in_use_is_one_line(served, tmp_path):
    lake = served[0]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        fails("serve", lake.uri, "--port", port, contains=f"port {port} on 127.0.0.1 is in use")
    with pytest.raises(LakeNotFound, match="no winnow lake"):
        serve(tmp_path / "nowhere", port=0)
    with pytest.raises(UsageError, match="65535"):
        bind("127.0.0.1", 70000)


def test_the_live_report(served, browser):
    lake, url, _, _ = served
    page = watched(browser)
    response = page.goto(url + "/report?" + urlencode({"selection": ["top", "long"], "columns": "gopher_word_count"},
                                                      doseq=True))
    assert response.status == 200
    page.wait_for_selector("body[data-charts]")
    charts = page.locator("div.chart").count()
    assert charts > 3 and page.get_attribute("body", "data-charts") == str(charts)  # every chart drawn
    assert page.locator("div.chart svg").count() == charts
    documents = winnow.query(lake, "SELECT count(*) AS n FROM docs")["n"][0].as_py()
    assert page.get_attribute("#lake-documents", "data-value") == str(documents)
    assert page.locator('section.column[data-column="gopher_word_count"]').count() == 1
    assert page.locator("section.column").count() == 1  # --columns is passed on
    only_local(page, url)
    status, body = get(url + "/report?selection=nope")
    assert status == 400 and "no selection named 'nope'" in body


def test_the_lake_is_unchanged_and_ctrl_c_stops_the_server(served):
    lake, _, proc, before = served
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in proc.stderr.read()
    assert lake_state(lake) == before


def _loopback_v6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _loopback_v6(), reason="this machine has no IPv6 loopback (::1)")
def test_the_host_check_holds_on_ipv6_and_every_address(tmp_path):
    """`--host ::1` (or 0.0.0.0) once answered any Host header, so DNS rebinding reached the
    lake there: a request naming another host is refused on every bind, one naming the
    address or localhost is answered. The app and uvicorn run in this process, as serve runs them."""
    import http.client
    import time

    import uvicorn

    from winnow.views.serve.app import create_app

    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(GITHUB)], workers=1)
    for host, connect in (("::1", "::1"), ("0.0.0.0", "127.0.0.1")):
        sock = bind(host, 0)
        sock.listen(16)
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(open_read_only(lake.uri), host=host), log_level="warning",
                                               lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()

        def status(host_header: str) -> int:
            conn = http.client.HTTPConnection(connect, port, timeout=30)
            conn.request("GET", "/sql", headers={"Host": host_header})
            code = conn.getresponse().status
            conn.close()
            return code

        try:
            deadline = time.time() + 30
            while not server.started and time.time() < deadline:
                time.sleep(0.05)
            for bad in ("evil.example", f"evil.example:{port}", "::1", f"[::1].evil.example:{port}"):
                assert status(bad) == 400, (host, bad)
            for good in (f"[::1]:{port}", "[::1]", f"localhost:{port}", f"127.0.0.1:{port}"):
                assert status(good) == 200, (host, good)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
