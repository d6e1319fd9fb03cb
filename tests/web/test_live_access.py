"""Access that changes while it is in use (issue #16): a live stream ends when the
session or token behind it does, and an API token never outlives, or outranks,
the user who made it. A real io process, real accounts, a real HTTP client."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.clock import ManualClock
from app.io.process import IoProcess
from app.settings import Settings
from app.web import create_app
from app.web.security import SESSION_COOKIE
from tests.web.conftest import ADMIN

ORIGIN = {"Origin": "http://testserver"}
PASSWORD = "a long enough passphrase"
ENDS_WITHIN_S = 5.0  # "within a few seconds"


class Stream:
    """GET /api/v1/events/stream read in a thread, line by line, until it ends."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.status = 0
        self._thread = threading.Thread(target=self._read, args=(client, headers), daemon=True)
        self._thread.start()
        assert self.opened.wait(10), "the stream did not open"
        assert self.status == 200, self.lines

    def _read(self, client: TestClient, headers: dict[str, str]) -> None:
        try:
            with client.stream("GET", "/api/v1/events/stream", headers=headers) as reply:
                self.status = reply.status_code
                for line in reply.iter_lines():
                    self.lines.append(line)
                    self.opened.set()
        except Exception as exc:  # the app stopped under a stream that never ended
            self.lines.append(f"(cut: {exc!r})")
        finally:
            self.opened.set()
            self.ended.set()

    def ends(self) -> bool:
        return self.ended.wait(ENDS_WITHIN_S)

    def reason(self) -> str:
        ended = self.lines.index("event: ended")
        return self.lines[ended + 1]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def web(
    settings: Settings, io: IoProcess, admin_token: str, clock: ManualClock
) -> Iterator[TestClient]:
    """The appliance with an admin, a viewer "vera" and an operator "otto"; its
    accounts run on ``clock``. The client holds no credentials of its own."""
    store = AuthStore(settings.auth_db_path)
    try:
        store.add_user("vera", Role.VIEWER, hash_password(PASSWORD))
        store.add_user("otto", Role.OPERATOR, hash_password(PASSWORD))
    finally:
        store.close()
    with TestClient(create_app(settings, clock=clock)) as client:
        yield client


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> dict[str, str]:
    """A new session: the headers that send it (cookie, CSRF token, origin)."""
    reply = client.post("/api/v1/login", json={"name": name, "password": password}, headers=ORIGIN)
    assert reply.status_code == 200, reply.text
    cookie = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    return {"Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": reply.json()["csrf_token"]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the live stream -------------------------------------------------------------------


def test_a_stream_ends_when_its_session_logs_out(web: TestClient) -> None:
    session = log_in(web, "vera")
    stream = Stream(web, session)
    assert web.post("/api/v1/logout", headers={**session, **ORIGIN}).status_code == 204
    assert stream.ends(), "the stream went on after logout"
    assert "session has ended" in stream.reason()


def test_a_stream_ends_when_its_token_is_revoked(web: TestClient, admin_token: str) -> None:
    made = web.post(
        "/api/v1/tokens", json={"name": "VMS", "role": "viewer"}, headers=bearer(admin_token)
    ).json()
    stream = Stream(web, bearer(made["token"]))
    revoked = web.delete(f"/api/v1/tokens/{made['id']}", headers=bearer(admin_token))
    assert revoked.status_code == 200
    assert stream.ends(), "the stream went on after its token was revoked"
    assert "revoked" in stream.reason()


def test_a_stream_ends_when_its_user_is_removed(web: TestClient, admin_token: str) -> None:
    stream = Stream(web, log_in(web, "vera"))
    assert web.delete("/api/v1/users/vera", headers=bearer(admin_token)).status_code == 204
    assert stream.ends(), "the stream went on after its user was removed"


def test_a_stream_ends_when_its_users_role_changes(web: TestClient, admin_token: str) -> None:
    stream = Stream(web, log_in(web, "otto"))
    changed = web.put("/api/v1/users/otto", json={"role": "viewer"}, headers=bearer(admin_token))
    assert changed.status_code == 200
    assert stream.ends(), "the stream went on after its user's role changed"


def test_a_stream_ends_when_its_session_expires_idle(web: TestClient, clock: ManualClock) -> None:
    stream = Stream(web, log_in(web, "vera"))
    clock.advance(29 * 60)
    assert not stream.ended.wait(2.5)  # the stream's own re-checks do not count as use...
    clock.advance(2 * 60)
    assert stream.ends(), "the stream went on after its session expired"  # ...so it expires


def test_a_stream_ends_when_its_tokens_maker_is_demoted(web: TestClient, admin_token: str) -> None:
    ada = web.post(  # another admin, who makes a token
        "/api/v1/users",
        json={"name": "ada", "role": "admin", "password": PASSWORD},
        headers=bearer(admin_token),
    )
    assert ada.status_code == 201
    ada_session = log_in(web, "ada")
    made = web.post(
        "/api/v1/tokens",
        json={"name": "nvr", "role": "operator"},
        headers={**ada_session, **ORIGIN},
    ).json()
    assert made["created_by"] == "ada"
    stream = Stream(web, bearer(made["token"]))
    demoted = web.put("/api/v1/users/ada", json={"role": "viewer"}, headers=bearer(admin_token))
    assert demoted.status_code == 200
    assert stream.ends(), "the stream went on with a role its maker no longer has"


# -- API tokens and their maker ----------------------------------------------------------


def test_a_token_acts_at_most_with_its_makers_current_role(
    web: TestClient, admin_token: str
) -> None:
    root = bearer(admin_token)
    made = web.post(
        "/api/v1/users", json={"name": "ada", "role": "admin", "password": PASSWORD}, headers=root
    )
    assert made.status_code == 201
    session = log_in(web, "ada")
    token = web.post(
        "/api/v1/tokens", json={"name": "script", "role": "admin"}, headers={**session, **ORIGIN}
    ).json()["token"]
    assert web.get("/api/v1/users", headers=bearer(token)).status_code == 200

    assert web.put("/api/v1/users/ada", json={"role": "operator"}, headers=root).status_code == 200
    refused = web.get("/api/v1/users", headers=bearer(token))
    assert refused.status_code == 403, refused.text  # an admin token, its maker an operator
    assert "token:script is operator" in refused.json()["error"]
    assert web.post("/api/v1/trigger", headers=bearer(token)).status_code == 200

    assert web.put("/api/v1/users/ada", json={"role": "admin"}, headers=root).status_code == 200
    assert web.get("/api/v1/users", headers=bearer(token)).status_code == 200  # back again


def test_removing_a_user_revokes_the_tokens_they_made(web: TestClient, admin_token: str) -> None:
    root = bearer(admin_token)
    added = web.post(
        "/api/v1/users", json={"name": "Ada", "role": "admin", "password": PASSWORD}, headers=root
    )
    assert added.status_code == 201
    session = log_in(web, "ada")  # names are not case-sensitive
    made = web.post(
        "/api/v1/tokens", json={"name": "nvr", "role": "viewer"}, headers={**session, **ORIGIN}
    ).json()
    assert web.get("/api/v1/status", headers=bearer(made["token"])).status_code == 200

    assert web.delete("/api/v1/users/Ada", headers=root).status_code == 204
    assert web.get("/api/v1/status", headers=bearer(made["token"])).status_code == 401
    listed = {t["id"]: t for t in web.get("/api/v1/tokens", headers=root).json()}
    assert listed[made["id"]]["revoked"] is not None
    # a new user of the same name does not bring the old token back
    again = web.post(
        "/api/v1/users", json={"name": "ada", "role": "admin", "password": PASSWORD}, headers=root
    )
    assert again.status_code == 201
    assert web.get("/api/v1/status", headers=bearer(made["token"])).status_code == 401


def test_a_token_made_with_a_token_belongs_to_that_tokens_maker(
    web: TestClient, admin_token: str
) -> None:
    made = web.post(
        "/api/v1/tokens", json={"name": "child", "role": "viewer"}, headers=bearer(admin_token)
    )
    assert made.status_code == 201
    assert made.json()["created_by"] == ADMIN[0]  # not "token:tests", which no user is
