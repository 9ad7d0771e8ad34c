"""Real headless-browser tests: Debian's Chromium driven by Playwright, offline by design.

A test takes the ``page`` fixture (a Playwright ``Page`` in a fresh browser context) and
drives it; ``page_log`` is what that page said. Such a test is marked ``@needs("browser")``
on its own (tests/conftest.py: skipped without NK_TEST_BROWSER=1, a failure under CI=true)::

    def test_home(page: Page, tmp_path: Path) -> None:
        with serve_directory(site) as base:
            page.goto(f"{base}/index.html")
            expect(page.get_by_role("heading")).to_have_text("Runs")  # waits on the DOM
            screenshot(page, tmp_path / "home.png")

Every request that is not to loopback (127.0.0.0/8, localhost, [::1]) or a local file is
refused and recorded, WebSockets included, and the browser resolves no host name but
localhost: a page that needs the network shows it. After the test body passes, the test fails
if a page of its context logged a console error (console.error, console.assert, a resource that
failed to load), threw an uncaught error, crashed, or asked for anything non-local; the
messages are in the failure. An error a test provokes on purpose is declared first:
``page_log.expect_error(r"regex")``.

Outside a test function, ``open_page()`` is the same as a context manager: it yields the page
and its log, and checks the log when its body ends without an exception.

Playwright's own browser download cannot work here, so it drives the system Chromium (pinned
Playwright in pyproject's test extra; ``apt-get install chromium``, which scripts/test.sh does).
Playwright's sync API marks its event loop as running in this thread for as long as it is
started, and ``asyncio.run()`` refuses to start then: it is started per test, never for the
session (about 0.5 s a test).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import ipaddress
import os
import re
import shutil
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page, Route, WebError, WebSocketRoute

# Explicit limits: they only turn a hang into a failure, and no assertion depends on them.
LAUNCH_TIMEOUT_MS = 60_000  # starting Chromium (a loaded 2-core CI machine)
ACTION_TIMEOUT_MS = 30_000  # every action and wait on the page, and every expect()
NAVIGATION_TIMEOUT_MS = 30_000

# As root in a container: no sandbox (it needs user namespaces), no /dev/shm (often 64 MB
# there), no GPU. A second fence behind the routes below: Chromium resolves no host but
# loopback. Its rules apply to IP literals too (MAP * alone refuses 127.0.0.1), and an IPv6
# one is written bare (EXCLUDE ::1; [::1] does not match).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost,"
    " EXCLUDE 127.*, EXCLUDE ::1",
]
_LOCAL_SCHEMES = {"file", "data", "blob", "about"}
_NETWORK_SCHEMES = {"http", "https", "ws", "wss"}


def chromium_path() -> str | None:
    """The Chromium to drive: $NK_CHROMIUM, else Debian's binary itself (not /usr/bin/chromium:
    that shell wrapper adds extension and GPU flags and, on a machine where /dev/shm is mounted
    twice, prints a shell error on every start), else whatever ``chromium`` is on PATH."""
    for candidate in (
        os.environ.get("NK_CHROMIUM"),
        "/usr/lib/chromium/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def is_local_url(url: str) -> bool:
    """A local file, or http(s)/ws(s) to loopback: the only requests a test page may make."""
    parts = urlsplit(url)
    if parts.scheme in _LOCAL_SCHEMES:
        return True
    if parts.scheme not in _NETWORK_SCHEMES:
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class PageLog:
    """What the pages of one browser context said; ``check()`` fails on any problem."""

    console: list[str] = field(default_factory=list)  # every console message, in order
    errors: list[str] = field(default_factory=list)  # console errors, uncaught errors, crashes
    blocked: list[str] = field(default_factory=list)  # non-local requests, refused
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect_error(self, pattern: str) -> None:
        """Errors matching ``pattern`` (re.search) are part of the test, not a failure."""
        self.expected.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]

    def problems(self) -> list[str]:
        return [
            *self.unexpected_errors(),
            *(f"blocked a non-local request: {url}" for url in self.blocked),
        ]

    def check(self) -> None:
        problems = self.problems()
        if problems:
            raise AssertionError(
                f"the browser reported {len(problems)} problem(s):\n"
                + "\n".join(f"  {p}" for p in problems)
            )

    # -- the listeners ----------------------------------------------------------------------

    def on_console(self, message: ConsoleMessage) -> None:
        where = message.location
        at = f" ({where['url']}:{where['lineNumber'] + 1})" if where.get("url") else ""
        line = f"console.{message.type}: {message.text}{at}"
        self.console.append(line)
        if message.type in ("error", "assert"):
            self.errors.append(line)

    def on_web_error(self, error: WebError) -> None:
        url = error.page.url if error.page else "?"
        self.errors.append(f"uncaught error in {url}: {error.error}")

    def on_crash(self, page: Page) -> None:
        self.errors.append(f"the page crashed: {page.url}")

    def on_route(self, route: Route) -> None:
        url = route.request.url
        if is_local_url(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def on_web_socket(self, ws: WebSocketRoute) -> None:
        if is_local_url(ws.url):
            ws.connect_to_server()  # passes messages both ways as they are
        else:
            self.blocked.append(ws.url)
            ws.close(code=1008, reason="non-local WebSocket blocked by the test")


@contextlib.contextmanager
def open_page(
    *, viewport: tuple[int, int] = (1280, 800), check: bool = True
) -> Iterator[tuple[Page, PageLog]]:
    """Headless Chromium with one page in a fresh context, offline, and what it logged.

    On a normal exit the log is flushed and, with ``check``, checked (``PageLog.check``).
    """
    from playwright.sync_api import expect, sync_playwright

    # expect() keeps its own default of 5 s, not the context's: too short on a loaded machine.
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    executable = chromium_path()
    if executable is None:
        raise RuntimeError(
            "no Chromium: apt-get install chromium (scripts/test.sh does), or set NK_CHROMIUM"
        )
    log = PageLog()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            chromium_sandbox=False,
            args=CHROMIUM_ARGS,
            timeout=LAUNCH_TIMEOUT_MS,
        )
        try:
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]},
                service_workers="block",  # their fetches would pass the routes unseen
                locale="en-US",
                timezone_id="UTC",
            )
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
            context.route("**/*", log.on_route)
            context.route_web_socket(re.compile(".*"), log.on_web_socket)
            context.on("console", log.on_console)
            context.on("weberror", log.on_web_error)
            context.on("page", lambda p: p.on("crash", log.on_crash))
            page = context.new_page()
            yield page, log
            flush(context.pages)
        finally:
            browser.close()
    if check:
        log.check()


def flush(pages: list[Page]) -> None:
    """A round trip to each open page: what it logged before is then in the log (the driver
    sends events and replies in order)."""
    from playwright.sync_api import Error

    for page in pages:
        with contextlib.suppress(Error):  # closed, crashed or navigating away: nothing to wait on
            page.evaluate("0")


def screenshot(page: Page, path: Path, *, full_page: bool = True) -> Path:
    """A PNG of ``page`` at ``path`` (parents made); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """``root`` over HTTP on 127.0.0.1 (a free port), from a thread; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join()


# -- the pytest side (tests/conftest.py loads this module as a plugin) -------------------------

_OPENED = pytest.StashKey[tuple["Page", PageLog]]()


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Page]:
    """A Playwright page in headless Chromium, offline; the test fails if it logs an error."""
    with open_page(check=False) as opened:
        request.node.stash[_OPENED] = opened
        yield opened[0]


@pytest.fixture
def page_log(page: Page, request: pytest.FixtureRequest) -> PageLog:
    """What ``page`` (and any page it opened) logged so far; ``expect_error`` lives here."""
    stash: pytest.Stash = request.node.stash  # pytest types ``node`` as Any
    return stash[_OPENED][1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes ``page`` needs the browser, marked or not."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "page" in callspec.params:
            continue  # a parameter named page (tests/test_doc_commands.py), not the fixture
        if "page" in getattr(item, "fixturenames", ()) and not any(
            "browser" in m.args for m in item.iter_markers("needs")
        ):
            item.add_marker(pytest.mark.needs("browser"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After a test body that passed: fail it on what its browser reported. The console goes
    with the report of a failed test either way."""
    try:
        result = yield
        opened = item.stash.get(_OPENED, None)
        if opened is not None:
            flush(opened[0].context.pages)
            opened[1].check()
        return result
    finally:
        opened = item.stash.get(_OPENED, None)
        if opened is not None and opened[1].console:
            item.add_report_section("call", "browser console", "\n".join(opened[1].console))
