"""Self-test of the browser harness (conftest.py), without the appliance.

Serves a few static files from tmp_path over HTTP and drives them with the page fixtures.
There is deliberately no favicon: Chromium's 404 for it must not count as a page error.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, shot

INDEX_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Harness</title></head>
<body>
  <h1>Harness</h1>
  <button id="go" type="button">Go</button>
  <p id="out">not clicked</p>
  <script src="app.js"></script>
</body>
</html>
"""

APP_JS = """document.getElementById("go").addEventListener("click", () => {
  document.getElementById("out").textContent = "clicked";
});
"""

BROKEN_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Broken</title></head>
<body>
  <p>broken</p>
  <script>console.error("something went wrong");</script>
  <script>undefinedFunction();</script>
  <img src="missing.png" alt="">
</body>
</html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """A static HTTP server on 127.0.0.1 serving the pages above; yields its base URL."""
    (tmp_path / "index.html").write_text(INDEX_HTML)
    (tmp_path / "app.js").write_text(APP_JS)
    (tmp_path / "broken.html").write_text(BROKEN_HTML)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="harness-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def teardown_screenshot(request: pytest.FixtureRequest) -> Iterator[Path]:
    """Request before ``page``: checks, after page's teardown, that it saved its screenshot."""
    path = SCREENSHOTS / f"{request.node.name}.png"
    path.unlink(missing_ok=True)
    yield path
    assert path.stat().st_size > 0, f"page fixture did not save {path}"


def test_click_changes_dom(teardown_screenshot: Path, page: Page, site: str) -> None:
    page.goto(f"{site}/index.html")
    expect(page.locator("#out")).to_have_text("not clicked")
    page.click("#go")
    expect(page.locator("#out")).to_have_text("clicked")
    assert page.viewport_size == {"width": 1280, "height": 900}

    saved = shot(page, "harness-clicked")
    assert saved == SCREENSHOTS / "harness-clicked.png"
    assert saved.read_bytes().startswith(b"\x89PNG")


def test_phone_page(phone_page: Page, site: str) -> None:
    phone_page.goto(f"{site}/index.html")
    assert phone_page.viewport_size == {"width": 390, "height": 844}
    assert phone_page.evaluate("navigator.maxTouchPoints > 0")
    phone_page.tap("#go")
    expect(phone_page.locator("#out")).to_have_text("clicked")


@pytest.mark.allow_page_errors
def test_page_errors_are_collected(page: Page, page_errors: list[str], site: str) -> None:
    page.goto(f"{site}/broken.html")
    expect(page.locator("img")).to_have_js_property("complete", True)  # 404 settled

    assert any("something went wrong" in e for e in page_errors), page_errors
    assert any(
        e.startswith("uncaught page error") and "undefinedFunction" in e for e in page_errors
    ), page_errors
    # A failed request is logged by Chromium as a console error too.
    assert any("404" in e for e in page_errors), page_errors
