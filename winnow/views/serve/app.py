"""The web app's pages: the SQL box, a document, the selections (list, preview, diff) and the
live report. Every route is a GET that reads the lake; nothing here writes.

Pages are Jinja2 templates beside this file (autoescaped: document text is web text), charts
are Vega-Lite specs (charts.py) drawn by /static/app.js. A failure is one line in the page
(`error: ...`, HTTP 400 for what the user asked, 500 for a defect): never a traceback, which
goes to the server's log only. Responses carry a Content-Security-Policy that lets a page load
only this app's own scripts and styles, so even a page showing hostile text asks nothing of
another host; a Host check (HostCheck) refuses requests addressed to another name, whatever
--host is (IPv6 and every-address binds included), so a web page that rebinds a DNS name to
127.0.0.1 or ::1 cannot read the lake.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from importlib import resources
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse

from winnow.lake import Lake, WinnowError
from winnow.lake.errors import UsageError
from winnow.sql.preview import diff, preview
from winnow.views.report import render, vega_script
from winnow.sql.selections import all_selections

from winnow.views.serve import charts
from winnow.views.serve.cells import cell
from winnow.views.serve.documents import DocumentNotFound, document
from winnow.views.serve.queries import MAX_ROWS, TIMEOUT, execute, one_line

log = logging.getLogger("winnow.serve")

# Pages: this app's own scripts only; Vega compiles its expressions with Function() ('unsafe-eval').
PAGE_POLICY = ("default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
               "frame-ancestors 'none'")
# The report is one self-contained page whose scripts are inline: nothing from another host either.
REPORT_POLICY = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
                 "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; frame-ancestors 'none'")

EXAMPLES = (
    "SELECT source, count(*) AS documents FROM docs GROUP BY source ORDER BY documents DESC",
    "SELECT metric, scorer, scorer_version, status, rows FROM metrics ORDER BY metric",
    "SELECT id, source, n_chars, left(text, 120) AS text FROM docs LIMIT 20",
    "DESCRIBE docs",
)


def _templates() -> jinja2.Environment:
    folder = resources.files("winnow.views.serve")
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: folder.joinpath(name).read_text()),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["cell"] = cell
    env.filters["doc_url"] = lambda doc_id: "/doc/" + quote(str(doc_id), safe="")
    env.filters["number"] = lambda n: "unknown" if n is None else f"{n:,}"
    env.filters["share"] = lambda x: "" if x is None else f"{x:.1%}"
    return env


def allowed_hosts(host: str) -> list[str]:
    """The host names the app answers besides IP addresses (lowercase, an IPv6 address in
    brackets, as a Host header carries it): localhost's, the `host` it serves on, and for a
    server bound to every address (0.0.0.0, ::) the machine's own names."""
    given = host.strip().lower().strip("[]")
    names = {"localhost", "127.0.0.1", "[::1]"}
    if given in ("", "0.0.0.0", "::"):
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    else:
        names.add(f"[{given}]" if ":" in given else given)
    return sorted(names)


def host_name(header: str | None) -> str | None:
    """The host of a Host header without its port (`[::1]:8000` -> `[::1]`), lowercase; None
    when there is none or it is malformed (`::1` unbracketed, an empty name)."""
    if not header:
        return None
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        rest = header[end + 1:]
        ok = end > 0 and (rest == "" or (rest.startswith(":") and rest[1:].isdigit()))
        return header[: end + 1] if ok else None
    name, _, port = header.partition(":")
    return name if name and (not port or port.isdigit()) else None


def is_address(name: str) -> bool:
    """Whether a Host header's host is an IP address (`127.0.0.1`, `[::1]`), not a name."""
    bracketed = name.startswith("[") and name.endswith("]")
    try:
        address = ipaddress.ip_address(name[1:-1] if bracketed else name)
    except ValueError:
        return False
    return bracketed == (address.version == 6)


class HostCheck:
    """ASGI middleware: a request whose Host header names neither an address nor one of
    `allowed_hosts(host)` gets 400. A page that rebinds its DNS name to this machine sends its
    own name in Host, never an address, so answering any address keeps rebinding out while
    `http://[::1]:PORT/` or the machine's LAN address still work."""

    def __init__(self, app, host: str):
        self.app = app
        self.names = set(allowed_hosts(host))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            name = host_name(Headers(scope=scope).get("host"))
            if name is None or not (name in self.names or is_address(name)):
                await PlainTextResponse("Invalid host header", status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(lake: Lake, *, max_rows: int = MAX_ROWS, timeout: float = TIMEOUT,
               host: str = "127.0.0.1") -> FastAPI:
    """The FastAPI app serving `lake` (opened read-only: readonly.open_read_only) on `host`.

        >>> uvicorn.run(create_app(open_read_only("lake")), host="127.0.0.1", port=8000)
    """
    app = FastAPI(title="winnow", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(HostCheck, host=host)
    env = _templates()

    def page(name: str, status: int = 200, **context) -> HTMLResponse:
        try:
            version = lake.docs().version
        except WinnowError:  # the lake went away while serving: the page still says what failed
            version = "unknown"
        html = env.get_template(name).render(lake_uri=lake.uri, lake_version=version, **context)
        return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": PAGE_POLICY})

    def failed(message: str, status: int, title: str = "error") -> HTMLResponse:
        return page("error.html", status=status, title=title, error=message)

    @app.exception_handler(WinnowError)
    async def winnow_error(request: Request, e: WinnowError):
        return failed(one_line(e), 404 if isinstance(e, DocumentNotFound) else 400 if isinstance(e, UsageError) else 500)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        return failed(f"{e.status_code}: {e.detail}", e.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, e: RequestValidationError):
        said = "; ".join(f"{'.'.join(map(str, err.get('loc', ())[1:]))}: {err.get('msg')}" for err in e.errors())
        return failed(said, 400)

    @app.exception_handler(Exception)
    async def defect(request: Request, e: Exception):
        log.exception("winnow serve: %s %s failed", request.method, request.url.path)
        return failed(f"{type(e).__name__}: {one_line(e)}", 500)

    @app.get("/")
    def home():
        return RedirectResponse("/sql")

    @app.get("/sql")
    def sql_box(q: str = ""):
        context = dict(title="SQL", sql=q, examples=EXAMPLES, result=None, error=None, chart=None,
                       max_rows=max_rows, timeout=timeout)
        if not q.strip():
            return page("sql.html", **context)
        try:
            result = execute(lake, q, max_rows=max_rows, timeout=timeout)
        except WinnowError as e:  # the query's answer, shown in the box's page (200: the page itself is fine)
            return page("sql.html", **{**context, "error": one_line(e)})
        rows = list(zip(*(column.to_pylist() for column in result.table.columns)))  # names may repeat
        return page("sql.html", **{**context, "result": result, "columns": result.table.column_names,
                                   "rows": rows, "chart": result.chart})

    @app.get("/doc/{doc_id:path}")
    def doc_page(doc_id: str):
        d = document(lake, doc_id)
        return page("doc.html", title=d.id, doc=d)

    @app.get("/selections")
    def selections_page():
        return page("selections.html", title="selections", selections=all_selections(lake))

    @app.get("/selections/{name}")
    def selection_page(name: str, samples: int = Query(3, ge=0, le=50)):
        p = preview(lake, name, samples=samples, bins=charts.BINS)
        chart = charts.histogram_chart(p.histogram, "score", "the selection's `score` column")
        return page("selection.html", title=name, p=p, chart=chart)

    @app.get("/diff")
    def diff_page(a: str = "", b: str = ""):
        names = [s.name for s in all_selections(lake)]
        d = diff(lake, a, b) if a and b else None
        return page("diff.html", title="diff", names=names, a=a, b=b, d=d)

    @app.get("/report")
    def report_page(selection: list[str] = Query(default=[]), columns: list[str] = Query(default=[])):
        html = render(lake, selections=selection or None, columns=columns or None)
        return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_POLICY})

    static = resources.files("winnow.views.serve")

    @app.get("/static/vega.js")
    def vega_js():
        return Response(vega_script(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/{name}")
    def static_file(name: str):
        kinds = {"app.js": "text/javascript", "style.css": "text/css"}
        if name not in kinds:
            raise HTTPException(404, f"no file {name!r}")
        return Response(static.joinpath(name).read_text(), media_type=kinds[name])

    return app
