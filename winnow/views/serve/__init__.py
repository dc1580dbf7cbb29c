"""`winnow serve`: a local, read-only web app over a lake.

Pages: the SQL box (`winnow sql`'s tables and macros, a table of the first rows and an
automatic chart), a document (its text, every score, its lineage), the selections (list,
preview, diff) and the live report (winnow.views.report.render).

Why FastAPI on uvicorn: a maintained, typed web framework whose plain `def` routes run in a
thread pool (DuckDB and Lance calls block), with request validation and exception handlers
that make each failure one line in the page; uvicorn is the ASGI server it is built for,
and it serves on a socket we bind ourselves (server.py), so a port in use is one clear line
before anything starts. Flask would do as well for pages; FastAPI is what the project lists.

Read-only, by construction rather than by convention: the lake is opened without writing
(readonly.py: every write through the Lake is refused), the SQL box runs only reading
statements on a DuckDB connection with no file access at all (queries.py; DuckDB's sandbox
refuses COPY, ATTACH, read_* and INSTALL), and every route is a GET. Bound to 127.0.0.1
unless --host says otherwise.
"""

from winnow.views.serve.app import create_app
from winnow.views.serve.queries import execute
from winnow.views.serve.readonly import ReadOnlyLake, open_read_only
from winnow.views.serve.server import bind, serve

__all__ = ["ReadOnlyLake", "bind", "create_app", "execute", "open_read_only", "serve"]
