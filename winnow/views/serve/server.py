"""Listening: the socket is bound here, before uvicorn starts, so that a port in use is one
clear line (a UsageError) rather than uvicorn's log and exit, and so that no other program can
take the port between a check and the start. uvicorn then serves on that socket
(`Server.run(sockets=[...])`: the rule of encode/uvicorn's uvicorn/workers.py, whose gunicorn
worker binds the sockets and calls `server.serve(sockets=...)`).
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable

from winnow.lake.errors import UsageError

from winnow.views.report import vega_script

from winnow.views.serve.app import create_app
from winnow.views.serve.queries import MAX_ROWS, TIMEOUT
from winnow.views.serve.readonly import open_read_only


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening; a UsageError in one line when the
    port is in use, not allowed, or the host is not an address of this machine."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise UsageError(f"--port {port!r}: a port is a number from 1 to 65535 (0: any free port)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise UsageError(f"--host {host!r}: not an address this machine can listen on ({e})") from None
    sock = socket.socket(family, kind, proto)
    # as uvicorn does: a port left in TIME_WAIT by a server that just stopped can be bound again;
    # a port another program listens on still cannot (Linux refuses it with EADDRINUSE).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is in use (another program listens there): "
                             "choose another with --port") from None
        if e.errno == errno.EACCES:
            raise UsageError(f"cannot listen on port {port} of {host}: permission denied "
                             "(ports below 1024 need privileges; choose another with --port)") from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise UsageError(f"--host {host}: not an address of this machine") from None
        raise UsageError(f"cannot listen on port {port} of {host}: {e.strerror or e}") from None
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(uri, *, host: str = "127.0.0.1", port: int = 8000, max_rows: int = MAX_ROWS, timeout: float = TIMEOUT,
          storage_options: dict[str, str] | None = None, announce: Callable[[str], None] | None = None) -> None:
    """Serve the lake at `uri`, read-only, on http://host:port/ until Ctrl-C (or SIGTERM).

    The lake is opened without writing (readonly.py) and the port bound before the server
    starts: a missing lake, a port in use or a bad option is a UsageError, one line. `announce`
    gets one line saying where it serves (default: printed); the socket already listens then,
    so a request sent at once waits in the backlog until uvicorn answers it.

        >>> serve("lake", port=8000)   # then open http://127.0.0.1:8000/
    """
    import uvicorn

    from winnow.lake.errors import positive

    positive(max_rows, "--max-rows")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise UsageError(f"--timeout must be a number of seconds > 0, got {timeout!r}")
    lake = open_read_only(uri, storage_options)
    version = lake.docs().version
    sock = bind(host, port)
    sock.listen(128)  # requests wait in the backlog while uvicorn starts
    app = create_app(lake, max_rows=max_rows, timeout=float(timeout), host=host)
    # vl-convert builds the chart script in ~2 s: build it now, not on the first page with a chart
    threading.Thread(target=vega_script, name="vega-bundle", daemon=True).start()
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
    line = (f"serving {lake.uri} (lake version {version}, read-only) at {url(sock)} : "
            f"SQL at /sql, documents at /doc/ID, selections, report; Ctrl-C stops")
    (announce or (lambda text: print(text, flush=True)))(line)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it stopped on: stopping is the normal end
        pass
    finally:
        sock.close()
