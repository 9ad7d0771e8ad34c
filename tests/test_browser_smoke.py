"""The browser test helpers (tests/browser.py) on tiny pages: served over loopback HTTP, opened
from file://, and their failure path (console errors, uncaught errors, non-local requests).

Every wait is on the DOM (Playwright's expect), never on time.
"""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import PageLog, is_local_url, open_page, screenshot, serve_directory
from tests.conftest import REPO, make_files, needs

SITE = {
    "index.html": """<!doctype html>
<html><head><meta charset="utf-8"><title>Smoke</title>
<script src="app.js" defer></script></head>
<body><h1 id="title">loading</h1><a id="next" href="second.html?from=index">next</a></body>
</html>
""",
    "app.js": 'document.getElementById("title").textContent = "ready: " + (2 + 3);\n',
    "second.html": """<!doctype html>
<html><head><meta charset="utf-8"><title>Second</title></head>
<body><h1>second page</h1><p id="from"></p>
<script>
document.getElementById("from").textContent =
  "came from " + new URLSearchParams(location.search).get("from");
</script></body></html>
""",
}


def page_with(body: str) -> str:
    return f'<!doctype html><html><head><meta charset="utf-8"></head><body>{body}</body></html>'


def test_a_served_page_runs_its_script_and_follows_a_link(page: Page, tmp_path: Path) -> None:
    site = make_files(tmp_path / "site", SITE)
    with serve_directory(site) as base:
        page.goto(f"{base}/index.html")
        expect(page.locator("#title")).to_have_text("ready: 5")
        page.click("#next")
        expect(page).to_have_url(f"{base}/second.html?from=index")
        expect(page.locator("#from")).to_have_text("came from index")
        expect(page.get_by_role("heading")).to_have_text("second page")


def test_a_file_page_runs_its_scripts(page: Page, page_log: PageLog, tmp_path: Path) -> None:
    site = make_files(tmp_path / "export", SITE)
    page.goto((site / "index.html").as_uri())
    expect(page.locator("#title")).to_have_text("ready: 5")
    page.click("#next")
    expect(page.locator("#from")).to_have_text("came from index")
    assert page_log.errors == [] and page_log.blocked == []


def test_a_screenshot_is_a_png_of_the_page(page: Page, tmp_path: Path) -> None:
    (tmp_path / "shot.html").write_text(page_with('<h1 style="height: 1500px">tall</h1>'))
    page.goto((tmp_path / "shot.html").as_uri())
    expect(page.get_by_role("heading")).to_have_text("tall")
    png = screenshot(page, tmp_path / "out" / "shot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # IHDR
    assert width == 1280 and height > 1500  # the whole page, not the 800 px viewport


@needs("browser")
def test_console_errors_uncaught_errors_and_non_local_requests_fail_the_check(
    tmp_path: Path,
) -> None:
    (tmp_path / "bad.html").write_text(
        page_with(
            '<p id="done"></p><img id="remote" src="http://example.invalid/logo.png" '
            "onerror=\"document.getElementById('done').textContent += 'img failed;'\">"
            "<script>console.error('boom', 42);"
            "document.getElementById('done').textContent += 'logged;';</script>"
            "<script>setTimeout(() => { document.getElementById('done').textContent += 'threw;';"
            " throw new Error('kaput'); });</script>"
        )
    )
    with pytest.raises(AssertionError) as failure, open_page() as (page, log):
        page.goto((tmp_path / "bad.html").as_uri())
        expect(page.locator("#done")).to_contain_text("logged;")
        expect(page.locator("#done")).to_contain_text("img failed;")
        expect(page.locator("#done")).to_contain_text("threw;")
    said = str(failure.value)
    assert "console.error: boom 42" in said
    assert "uncaught error in file://" in said and "kaput" in said
    assert "blocked a non-local request: http://example.invalid/logo.png" in said
    assert log.blocked == ["http://example.invalid/logo.png"]


@needs("browser")
def test_an_expected_error_passes_the_check(tmp_path: Path) -> None:
    (tmp_path / "expected.html").write_text(
        page_with("<script>console.error('deliberate: bad input');</script><p>shown</p>")
    )
    with open_page() as (page, log):
        log.expect_error(r"deliberate: bad input")
        page.goto((tmp_path / "expected.html").as_uri())
        expect(page.locator("p")).to_have_text("shown")
    assert log.errors and log.problems() == []


@needs("browser")
def test_asyncio_runs_again_once_the_browser_is_closed(tmp_path: Path) -> None:
    """Playwright's sync API marks its loop as running in this thread while it is started: the
    fixture must stop it per test, or every later test's asyncio.run() fails."""
    with open_page() as (page, _):
        page.set_content("<p>x</p>")
        refused = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="running event loop"):
            asyncio.run(refused)
        refused.close()  # never awaited, and no warning about it
    assert asyncio.run(asyncio.sleep(0, result="ran")) == "ran"


INNER_TEST = """
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser import PageLog


def test_logs_an_error(page: Page, tmp_path: Path) -> None:
    (tmp_path / "p.html").write_text("<script>console.error('inner boom')</script><p>x</p>")
    page.goto((tmp_path / "p.html").as_uri())
    expect(page.locator("p")).to_have_text("x")


def test_expects_its_error(page: Page, page_log: PageLog, tmp_path: Path) -> None:
    page_log.expect_error("inner boom")
    (tmp_path / "p.html").write_text("<script>console.error('inner boom')</script><p>x</p>")
    page.goto((tmp_path / "p.html").as_uri())
    expect(page.locator("p")).to_have_text("x")
"""


@needs("browser")
def test_the_page_fixture_fails_a_test_whose_page_logged_an_error(tmp_path: Path) -> None:
    """The fixture's check, seen from pytest: a separate run of two tests."""
    make_files(
        tmp_path / "inner",
        {
            "pytest.ini": "[pytest]\nmarkers =\n    needs: a real component\n",
            "conftest.py": 'pytest_plugins = ["tests.browser"]\n',
            "test_inner.py": INNER_TEST,
        },
    )
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *(f"--basetemp={tmp_path / 'inner-tmp'}", "test_inner.py"),
        ],
        cwd=tmp_path / "inner",
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 failed, 1 passed" in out, out
    assert "FAILED test_inner.py::test_logs_an_error" in out, out
    assert "console.error: inner boom" in out, out
    assert "browser console" in out, out  # the console goes with the failure report


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000/x", True),
        ("http://127.1.2.3/x", True),
        ("http://localhost:5173/", True),
        ("ws://localhost:1234/live", True),
        ("http://[::1]:8000/", True),
        ("file:///tmp/export/index.html", True),
        ("data:text/plain,hi", True),
        ("https://cdn.example.com/app.js", False),
        ("http://10.0.0.1/", False),
        ("http://127.0.0.1.example.com/", False),
        ("wss://example.com/socket", False),
        ("ftp://127.0.0.1/", False),
    ],
)
def test_only_loopback_and_local_files_count_as_local(url: str, local: bool) -> None:
    assert is_local_url(url) is local
