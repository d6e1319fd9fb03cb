"""Access through a real HTTP client: claiming the appliance with the setup code,
sessions and their cookies, CSRF, Origin and Host checks, throttling that
survives a restart, and the headers every answer carries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.auth import setup_code
from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.clock import ManualClock
from app.io.process import IoProcess
from app.settings import Settings
from app.web import create_app
from app.web.security import SESSION_COOKIE
from tests.support import wait_for
from tests.web.conftest import ADMIN

ORIGIN = {"Origin": "http://testserver"}
PASSWORD = "correct horse battery"


@pytest.fixture
def fresh(settings: Settings, io: IoProcess) -> Iterator[TestClient]:
    """An unclaimed appliance (no accounts) and a browser-like client."""
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def anon(settings: Settings, io: IoProcess, admin_token: str) -> Iterator[TestClient]:
    """A claimed appliance (admin + token exist) and a client with no credentials."""
    with TestClient(create_app(settings)) as client:
        yield client


def login(client: TestClient, name: str = ADMIN[0], password: str = ADMIN[1]) -> str:
    """Log in; returns the session's CSRF token (the cookie stays in the client)."""
    reply = client.post("/api/v1/login", json={"name": name, "password": password}, headers=ORIGIN)
    assert reply.status_code == 200, reply.text
    csrf: str = reply.json()["csrf_token"]
    return csrf


def security_events(settings: Settings, admin_token: str) -> list[dict[str, Any]]:
    with TestClient(
        create_app(settings), headers={"Authorization": f"Bearer {admin_token}"}
    ) as client:
        found: list[dict[str, Any]] = client.get(
            "/api/v1/events", params={"kind": "security"}
        ).json()["events"]
        return found


# -- claiming the appliance -----------------------------------------------------------


def test_nothing_works_until_setup_and_setup_needs_the_code(
    fresh: TestClient, settings: Settings
) -> None:
    assert fresh.get("/api/v1/setup").json() == {"needed": True}
    status = fresh.get("/api/v1/status")
    assert status.status_code == 401
    assert "not set up yet: open /setup" in status.json()["error"]
    page = fresh.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/setup")
    login_page = fresh.get("/login", follow_redirects=False)
    assert login_page.headers["location"] == "/setup"

    code = setup_code.code_path(settings.data_dir).read_text().strip()
    assert setup_code.code_path(settings.data_dir).stat().st_mode & 0o077 == 0  # owner only
    body = {"code": "WRONG-CODE", "name": "owner", "password": PASSWORD}
    wrong = fresh.post("/api/v1/setup", json=body, headers=ORIGIN)
    assert wrong.status_code == 403
    weak = fresh.post(
        "/api/v1/setup", json={**body, "code": code, "password": "password1234"}, headers=ORIGIN
    )
    assert weak.status_code == 422 and "common passwords" in weak.json()["error"]

    made = fresh.post("/api/v1/setup", json={**body, "code": code.lower()}, headers=ORIGIN)
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "admin"
    assert fresh.get("/api/v1/status").status_code == 200  # logged in by setup
    assert not setup_code.code_path(settings.data_dir).exists()  # the code is gone
    again = fresh.post("/api/v1/setup", json={**body, "code": code}, headers=ORIGIN)
    assert again.status_code == 409
    assert fresh.get("/setup", follow_redirects=False).headers["location"] == "/login"


def test_two_setups_at_once_make_one_admin(fresh: TestClient, settings: Settings) -> None:
    code = setup_code.code_path(settings.data_dir).read_text().strip()
    results: list[int] = []

    def claim(name: str) -> None:
        with TestClient(create_app(settings)) as client:  # a web process each
            reply = client.post(
                "/api/v1/setup",
                json={"code": code, "name": name, "password": PASSWORD},
                headers=ORIGIN,
            )
            results.append(reply.status_code)

    threads = [threading.Thread(target=claim, args=(f"owner{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 5
    store = AuthStore(settings.auth_db_path)
    try:
        assert [u.role for u in store.users()] == [Role.ADMIN]
    finally:
        store.close()


# -- sessions -------------------------------------------------------------------------


def test_a_session_cookie_is_strict_and_writes_need_the_csrf_token(anon: TestClient) -> None:
    reply = anon.post(
        "/api/v1/login", json={"name": ADMIN[0], "password": ADMIN[1]}, headers=ORIGIN
    )
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain HTTP here; set when served over TLS
    csrf = reply.json()["csrf_token"]
    assert anon.get("/api/v1/status").status_code == 200
    no_token = anon.post("/api/v1/trigger", headers=ORIGIN)
    assert no_token.status_code == 403 and "CSRF" in no_token.json()["error"]
    wrong = anon.post("/api/v1/trigger", headers={**ORIGIN, "X-CSRF-Token": "x" + csrf})
    assert wrong.status_code == 403
    ok = anon.post("/api/v1/trigger", headers={**ORIGIN, "X-CSRF-Token": csrf})
    assert ok.status_code == 200
    foreign = anon.post(
        "/api/v1/trigger", headers={"Origin": "http://evil.example", "X-CSRF-Token": csrf}
    )
    assert foreign.status_code == 403 and "cross-site" in foreign.json()["error"]
    no_origin = anon.post("/api/v1/trigger", headers={"X-CSRF-Token": csrf})
    assert no_origin.status_code == 403


def test_logout_ends_the_session_and_the_cookie_cannot_be_replayed(anon: TestClient) -> None:
    csrf = login(anon)
    cookie = anon.cookies[SESSION_COOKIE]
    assert anon.post("/api/v1/logout", headers={**ORIGIN, "X-CSRF-Token": csrf}).status_code == 204
    anon.cookies.set(SESSION_COOKIE, cookie)  # an attacker who kept the cookie
    assert anon.get("/api/v1/status").status_code == 401


def test_a_password_change_ends_every_other_session(settings: Settings, anon: TestClient) -> None:
    with TestClient(anon.app) as other:
        login(other)  # the same user on another device
        csrf = login(anon)
        old = anon.cookies[SESSION_COOKIE]
        changed = anon.post(
            "/api/v1/session/password",
            json={"current": ADMIN[1], "new": PASSWORD},
            headers={**ORIGIN, "X-CSRF-Token": csrf},
        )
        assert changed.status_code == 200, changed.text
        assert anon.get("/api/v1/status").status_code == 200  # this one was renewed
        assert other.get("/api/v1/status").status_code == 401
        with TestClient(create_app(settings)) as thief:
            thief.cookies.set(SESSION_COOKIE, old)
            assert thief.get("/api/v1/status").status_code == 401
        assert (
            anon.post(
                "/api/v1/login", json={"name": ADMIN[0], "password": ADMIN[1]}, headers=ORIGIN
            ).status_code
            == 401
        )


def test_sessions_expire_when_idle_and_at_their_age_limit(tmp_path: Any) -> None:
    clock = ManualClock()
    store = AuthStore(
        tmp_path / "auth.db", clock=clock, idle_us=60_000_000 * 30, max_age_us=3600_000_000 * 12
    )
    try:
        user = store.add_user("ann", Role.VIEWER, hash_password(PASSWORD))
        idle, _ = store.new_session(user, "10.0.0.2")
        clock.advance(29 * 60)
        assert store.session(idle) is not None  # and it was touched
        clock.advance(29 * 60)
        assert store.session(idle) is not None
        clock.advance(31 * 60)
        assert store.session(idle) is None  # idle for 31 minutes
        busy, _ = store.new_session(user, "10.0.0.2")
        for _ in range(12 * 4):  # used every 15 minutes for 12 hours: alive
            clock.advance(15 * 60)
            assert store.session(busy) is not None
        clock.advance(60)
        assert store.session(busy) is None  # over 12 hours old, however busy
    finally:
        store.close()


# -- throttling -----------------------------------------------------------------------


def test_failed_logins_are_throttled_logged_and_the_throttle_survives_a_restart(
    settings: Settings, anon: TestClient, admin_token: str
) -> None:
    for _ in range(5):
        reply = anon.post(
            "/api/v1/login", json={"name": ADMIN[0], "password": "not it at all"}, headers=ORIGIN
        )
        assert reply.status_code == 401
    sixth = anon.post(
        "/api/v1/login", json={"name": ADMIN[0], "password": "not it at all"}, headers=ORIGIN
    )
    assert sixth.status_code == 401
    blocked = anon.post(
        "/api/v1/login", json={"name": ADMIN[0], "password": ADMIN[1]}, headers=ORIGIN
    )
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    with TestClient(create_app(settings)) as restarted:  # a new web process
        again = restarted.post(
            "/api/v1/login", json={"name": ADMIN[0], "password": ADMIN[1]}, headers=ORIGIN
        )
        assert again.status_code == 429

    def failures() -> list[dict[str, Any]]:
        events = security_events(settings, admin_token)
        return [e for e in events if e["state"] == "login-failed"]

    logged = wait_for(lambda: len(found := failures()) == 6 and found)
    assert all(e["source"] == ADMIN[0] and e["detail"]["address"] for e in logged)
    assert all("not it at all" not in str(e) for e in security_events(settings, admin_token))


# -- every request ---------------------------------------------------------------------


def test_unknown_host_names_are_refused(anon: TestClient) -> None:
    rebound = anon.get("/login", headers={"Host": "evil.example"})
    assert rebound.status_code == 400 and "unknown host" in rebound.json()["error"]
    assert anon.get("/login", headers={"Host": "192.168.1.50:8080"}).status_code == 200
    assert anon.get("/login", headers={"Host": "localhost:8080"}).status_code == 200


def test_every_answer_carries_the_security_headers_and_no_cors(anon: TestClient) -> None:
    for path in ("/login", "/api/v1/setup", "/api/v1/status", "/static/app.css"):
        reply = anon.get(path, headers={"Origin": "http://evil.example"})
        csp = reply.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["referrer-policy"] == "same-origin"
        assert "access-control-allow-origin" not in reply.headers
    preflight = anon.options(
        "/api/v1/trigger",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_nothing_about_the_appliance_before_login(anon: TestClient) -> None:
    page = anon.get("/login")
    assert page.status_code == 200
    from app import __version__

    assert __version__ not in page.text
    for path in ("/api/v1/status", "/api/v1/system", "/openapi.json", "/api/v1/events"):
        assert anon.get(path).status_code == 401, path
    assert anon.get("/api/v1/setup").json() == {"needed": False}
