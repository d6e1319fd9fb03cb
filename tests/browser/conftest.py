"""Browser-test harness: Playwright (sync API) driving Debian's Chromium.

We launch Debian's /usr/bin/chromium (or $ALARMBRIDGE_CHROMIUM), never Playwright's own
download, which cannot reach its CDN from our machines; tests/browser/install-chromium.sh
(run by `make test`) installs it. Without it the browser tests are skipped, or fail when
ALARMBRIDGE_REQUIRE_BROWSER=1 (CI sets it, so a missing browser cannot go unnoticed).

Fixtures:
- ``browser``: one headless Chromium shared by all of tests/browser (package scope, see
  ``playwright`` below for why not session scope).
- ``page`` / ``phone_page``: a fresh context (own cookies and storage) and page per test,
  1280x900 desktop or 390x844 touch phone. A screenshot of every page is saved at teardown
  in test-artifacts/screenshots/, and the test fails at teardown if the page logged a
  console error (failed requests included, except Chromium's own /favicon.ico fetch) or
  threw an uncaught exception (a broken script is a bug). A test that expects errors
  marks itself ``@pytest.mark.allow_page_errors`` and reads them from ``page_errors``.
- ``shot(page, name)``: save test-artifacts/screenshots/<name>.png.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"

DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Playwright (1.65) already passes all of these but --disable-gpu and --disable-quic; we
# list them anyway so the launch does not hinge on its defaults. Root in a container needs
# --no-sandbox; there is no GPU; and Chromium's own background traffic (QUIC, component
# updates, sync...) is refused by our closed network, so it is switched off.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's default is 30 s; our pages are local and small, so fail sooner.
DEFAULT_TIMEOUT_MS = 10_000

DESKTOP_VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
PHONE_VIEWPORT: ViewportSize = {"width": 390, "height": 844}


def pytest_configure(config: pytest.Config) -> None:
    # Registered here rather than in pyproject.toml to keep the harness self-contained;
    # --strict-markers would otherwise reject it.
    config.addinivalue_line(
        "markers",
        "allow_page_errors: console errors / uncaught page errors do not fail this test "
        "(read them from the page_errors fixture)",
    )


def chromium_path() -> str:
    """The Chromium to drive; skips the test (or fails it on CI) when it is missing."""
    path = os.environ.get("ALARMBRIDGE_CHROMIUM") or DEFAULT_CHROMIUM
    if os.access(path, os.X_OK):
        return path
    if os.environ.get("ALARMBRIDGE_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"Chromium not found at {path} and ALARMBRIDGE_REQUIRE_BROWSER=1: "
            "run tests/browser/install-chromium.sh as root (or apt-get install chromium)",
            pytrace=False,
        )
    pytest.skip(
        "Chromium not installed: "
        "run tests/browser/install-chromium.sh (or apt-get install chromium)"
    )


def _safe_name(name: str) -> str:
    """A test or shot name usable as a file name (parametrised ids contain [ ] / etc.)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "page"


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/screenshots/<name>.png; returns the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{_safe_name(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Package scope, not session: while Playwright's sync API is started, its asyncio loop
# counts as "running" in the main thread (it is parked in a greenlet), so asyncio.run()
# would fail in every later test of the session. Package scope shares one Chromium among
# all of tests/browser and stops Playwright before pytest moves on to other directories.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, started once for tests/browser."""
    chromium_path()  # skip (or fail) before starting Playwright's driver for nothing
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Debian Chromium shared by all of tests/browser."""
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Console errors and uncaught exceptions of this test's pages, in order."""
    return []


def _open_page(
    context: BrowserContext,
    request: pytest.FixtureRequest,
    errors: list[str],
    screenshot_name: str,
) -> Iterator[Page]:
    """Shared body of the page fixtures: open a page in context, check and close it after."""
    page = context.new_page()
    page.set_default_timeout(DEFAULT_TIMEOUT_MS)

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if url.endswith("/favicon.ico") and message.text.startswith("Failed to load resource"):
            # Chromium fetches /favicon.ico by itself, at a time of its choosing: a missing
            # one is not a page bug, and counting it would make tests flaky.
            return
        where = f" ({url}:{message.location['lineNumber']})" if url else ""
        errors.append(f"console error: {message.text}{where}")

    def on_page_error(error: Error) -> None:
        errors.append(f"uncaught page error: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    try:
        yield page
    finally:
        try:
            # Always keep a picture: it is what you look at first when a test fails.
            # This also lets Playwright deliver any console/page events still pending.
            if not page.is_closed():
                shot(page, screenshot_name)
        finally:
            context.close()
    if errors and request.node.get_closest_marker("allow_page_errors") is None:
        pytest.fail(
            "the page reported errors (mark the test allow_page_errors if expected):\n  "
            + "\n  ".join(errors),
            pytrace=False,
        )


LOCALE = "en-GB"  # 24-hour time fields, as most installers read them
ADMIN = ("admin", "a long admin passphrase")


def _log_in(context: BrowserContext, request: pytest.FixtureRequest) -> None:
    """A test with a (claimed) appliance gets pages that are logged in as its admin."""
    if "appliance" in request.fixturenames:
        appliance: Appliance = request.getfixturevalue("appliance")
        appliance.login(context)


@pytest.fixture
def page(
    browser: Browser, request: pytest.FixtureRequest, page_errors: list[str]
) -> Iterator[Page]:
    """A fresh 1280x900 desktop page; screenshot test-artifacts/screenshots/<test>.png."""
    context = browser.new_context(viewport=DESKTOP_VIEWPORT, locale=LOCALE)
    _log_in(context, request)
    yield from _open_page(context, request, page_errors, request.node.name)


@pytest.fixture
def phone_page(
    browser: Browser, request: pytest.FixtureRequest, page_errors: list[str]
) -> Iterator[Page]:
    """A fresh 390x844 touch phone page; screenshot .../<test>-phone.png."""
    context = browser.new_context(
        viewport=PHONE_VIEWPORT,
        locale=LOCALE,
        is_mobile=True,
        has_touch=True,
    )
    _log_in(context, request)
    yield from _open_page(context, request, page_errors, f"{request.node.name}-phone")


# ======================================================================================
# Appliance fixtures (start the io + web processes for the browser tests).
# While Playwright runs (all of tests/browser), asyncio.run() fails in this thread, so
# the appliance runs as real subprocesses, exactly as `make run` starts it.
# ======================================================================================


class Appliance:
    """``alarmbridge run`` (supervisor, io and web processes) on simulated pins, in a
    temporary data directory, on a free port: the same command ``make run`` starts."""

    def __init__(self, data_dir: Path, *, claimed: bool = True) -> None:
        self.token = ""
        if claimed:  # an admin and an API token, as after setup (tests of setup use claimed=False)
            store = AuthStore(data_dir / "auth.db")
            try:
                store.create_first_admin(ADMIN[0], hash_password(ADMIN[1]))
                self.token = store.new_token("tests", Role.ADMIN, ADMIN[0])[0]
            finally:
                store.close()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = data_dir.parent / "appliance.log"
        self._log = self.log_path.open("w")
        env = {**os.environ, "ALARMBRIDGE_TIMEZONE": "Europe/Brussels"}
        command = [sys.executable, "-m", "app.cli", "run", "--pins", "mock"]
        self.proc = subprocess.Popen(
            [*command, "--data-dir", str(data_dir), "--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
        )
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the appliance did not start:\n{self.log()}")
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/login", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    @property
    def auth(self) -> dict[str, str]:
        """The header that lets a plain HTTP client in (the admin's API token)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def login(self, context: BrowserContext, user: tuple[str, str] = ADMIN) -> None:
        """Log ``context`` in (its pages then share the session cookie)."""
        reply = context.request.post(
            self.url + "/api/v1/login",
            data={"name": user[0], "password": user[1]},
            headers={"Origin": self.url},
        )
        assert reply.ok, reply.text()

    def log(self) -> str:
        return self.log_path.read_text()

    def pid(self, child: str) -> int:
        """The newest pid the supervisor reported for ``child`` (io or web)."""
        found = re.findall(rf"started {child} \(pid (\d+)\)", self.log())
        return int(found[-1])

    def api(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **self.auth}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[Appliance]:
    running = Appliance(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def new_appliance(tmp_path: Path) -> Iterator[Appliance]:
    """An appliance as it leaves the SD card: no accounts, a setup code."""
    running = Appliance(tmp_path / "data", claimed=False)
    try:
        yield running
    finally:
        running.stop()
