"""The one progress protocol every long job reports to (ingest, score, materialize, ...).

A job calls `start` once with what it counts (`unit`: "bytes", "rows", "docs") and the
total when known, `advance` with how many more units are done plus any side counts
(documents written, tokens), and `stop` at the end, also on failure. The command line
shows it as a bar (winnow/cli/output.py); the Python API takes `progress=None` to show
nothing, a `Progress` of your own, or `progress=True` for `auto()`: the bar that suits
where it runs.

In a Jupyter notebook (this process is an IPython kernel) that is `NotebookBar`: one output
in the cell, an HTML `<progress>` element and a line of figures, replaced in place (IPython's
`display_id`) at most every `interval` seconds and once at the end, so that a job of a
million updates leaves one output, not a flood of lines. Anywhere else it is `LineBar`: one
line on stderr, rewritten in place on a terminal, else a new line every `log_interval` seconds
(a log file or a pipe gets a few lines, not one per update).
"""

from __future__ import annotations

import html
import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def start(self, label: str, total: int | None, unit: str) -> None: ...
    def advance(self, done: int, **counts: int) -> None: ...
    def stop(self) -> None: ...


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel: IPython is imported and its shell has a
    kernel (ipykernel's ZMQInteractiveShell; the terminal's IPython has none). Nothing is
    imported to find out."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def auto() -> Progress:
    """The bar that suits where this runs: `NotebookBar` in a Jupyter kernel, else `LineBar`."""
    return NotebookBar() if in_notebook() else LineBar()


def _amount(n: float, unit: str) -> str:
    if unit == "bytes":
        for name in ("bytes", "kB", "MB", "GB", "TB"):
            if n < 1000 or name == "TB":
                return f"{n:,.0f} {name}" if name == "bytes" else f"{n:,.1f} {name}"
            n /= 1000
    return f"{n:,.0f} {unit}"


class _Counting:
    """What both bars count: units done of the total, side counts, rates; `due()` says when
    an update may be shown (every `interval` seconds)."""

    interval = 0.25

    def start(self, label: str, total: int | None, unit: str) -> None:
        self.label, self.total, self.unit = label, total or None, unit
        self.done, self.counts = 0, {}
        self.t0 = self.shown_at = time.perf_counter()
        self.updates = 0  # updates shown (tests/test_display.py reads it)
        self.show()

    def advance(self, done: int, **counts: int) -> None:
        self.done += done
        for k, v in counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        now = time.perf_counter()
        if now - self.shown_at >= self.interval:
            self.shown_at = now
            self.show()

    def stop(self) -> None:
        self.show(final=True)

    def figures(self) -> str:
        dt = max(time.perf_counter() - self.t0, 1e-9)
        done = _amount(self.done, self.unit) + (f" of {_amount(self.total, self.unit)}" if self.total else "")
        rate = f"{self.done / dt / 1e6:,.1f} MB/s" if self.unit == "bytes" else f"{self.done / dt:,.0f} {self.unit}/s"
        side = [f"{v:,} {k}" for k, v in self.counts.items()]
        return " · ".join([done, rate, *side, f"{dt:,.1f} s"])

    def show(self, final: bool = False) -> None:
        raise NotImplementedError


class NotebookBar(_Counting):
    """A Jupyter cell's progress: one display per `start`, updated in place (see the module)."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.handle = None

    def start(self, label: str, total: int | None, unit: str) -> None:
        self.handle = None  # each stage of a job its own line
        super().start(label, total, unit)

    def _bundle(self, final: bool) -> dict:
        # no total: an indeterminate bar until the end
        value = f' value="{self.done}" max="{self.total}"' if self.total else (' value="1" max="1"' if final else "")
        line = f"{self.label}: {self.figures()}" + (" · done" if final else "")
        return {"text/plain": line,
                "text/html": f'<div style="font-family: var(--jp-ui-font-family, sans-serif); font-size: 12px">'
                             f'<progress{value} style="width: 240px; vertical-align: middle"></progress> '
                             f'{html.escape(line)}</div>'}

    def show(self, final: bool = False) -> None:
        from IPython.display import display  # in a kernel: IPython is already imported

        self.updates += 1
        if self.handle is None:
            self.handle = display(self._bundle(final), raw=True, display_id=True)
        else:
            self.handle.update(self._bundle(final), raw=True)


class LineBar(_Counting):
    """Progress as one line on `stream` (stderr): rewritten in place on a terminal, else
    written anew every `log_interval` seconds and at the end."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.25, log_interval: float = 10.0):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval if self.tty else log_interval

    def show(self, final: bool = False) -> None:
        self.updates += 1
        line = f"{self.label}: {self.figures()}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
