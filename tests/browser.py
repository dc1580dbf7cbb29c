"""A real headless Chromium for the tests of what a browser shows (the report, the web app).

Playwright drives the Chromium of Debian's packages (`apt-get install chromium`; `make test`
installs it when missing); `WINNOW_CHROMIUM` names another executable. Nothing is
downloaded: Playwright's own browser builds are not used.

    def test_page(browser):
        page = watched(browser)           # a page that records console errors and requests
        page.goto(url)
        assert not page.errors and not page.outside
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlparse

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str:
    """The Chromium executable, or a failed test saying how to install one."""
    named = os.environ.get("WINNOW_CHROMIUM")
    if named:
        return named
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("no Chromium found: apt-get install chromium (or set WINNOW_CHROMIUM to its executable)")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def watched(browser, allowed_hosts: tuple[str, ...] = ("127.0.0.1",)):
    """A new page of its own context. `page.errors` collects console errors and uncaught
    exceptions; `page.requests` every URL asked for; `page.outside` those leaving the
    machine (any http(s) host not in `allowed_hosts`)."""
    page = browser.new_context().new_page()
    page.errors, page.requests, page.outside = [], [], []

    def on_console(msg):
        if msg.type == "error":
            page.errors.append(msg.text)

    def on_request(request):
        page.requests.append(request.url)
        url = urlparse(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in allowed_hosts:
            page.outside.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", on_request)
    return page
