"""Every API route against every kind of caller: nobody, an API token of each role
and a logged-in session of each role. The minimum role of each route is written out
by hand below; the routes themselves come from the OpenAPI document, so a new route
fails here until someone decides who may call it.

One appliance (a real io process on simulated pins, a real accounts database, one
web app) serves the whole module. No request here changes who can do what: write
requests carry no body, so every write route that needs one stops at validation
(422) once the caller has passed the access check, and the one request that ends a
session (logout) uses a session of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.io.process import IoProcess
from app.settings import Settings
from app.web import create_app
from app.web.security import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE

ORIGIN = "http://testserver"  # the TestClient's own origin: a same-site browser
PUBLIC = None  # no role needed: anyone, even before logging in

VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN
#: (method, path) -> the least role that may call it. Written by hand, on purpose.
MINIMUM: dict[tuple[str, str], Role | None] = {
    # claiming the appliance and logging in
    ("GET", "/api/v1/setup"): PUBLIC,
    ("POST", "/api/v1/setup"): PUBLIC,
    ("POST", "/api/v1/login"): PUBLIC,
    # the signed-in user
    ("GET", "/api/v1/session"): VIEWER,
    ("POST", "/api/v1/logout"): VIEWER,
    ("POST", "/api/v1/session/password"): VIEWER,
    # status
    ("GET", "/api/v1/status"): VIEWER,
    ("GET", "/api/v1/system"): VIEWER,
    # configuration: everyone reads it, only an admin changes it
    ("GET", "/api/v1/config"): VIEWER,
    ("PUT", "/api/v1/config"): ADMIN,
    ("GET", "/api/v1/inputs"): VIEWER,
    ("GET", "/api/v1/inputs/{n}"): VIEWER,
    ("PUT", "/api/v1/inputs/{n}"): ADMIN,
    ("GET", "/api/v1/outputs"): VIEWER,
    ("GET", "/api/v1/outputs/{n}"): VIEWER,
    ("PUT", "/api/v1/outputs/{n}"): ADMIN,
    ("GET", "/api/v1/button"): VIEWER,
    ("PUT", "/api/v1/button"): ADMIN,
    ("GET", "/api/v1/healthy-relay"): VIEWER,
    ("PUT", "/api/v1/healthy-relay"): ADMIN,
    # schedules
    ("GET", "/api/v1/schedules"): VIEWER,
    ("POST", "/api/v1/schedules"): ADMIN,
    ("GET", "/api/v1/schedules/{name}"): VIEWER,
    ("PUT", "/api/v1/schedules/{name}"): ADMIN,
    ("DELETE", "/api/v1/schedules/{name}"): ADMIN,
    ("GET", "/api/v1/timeline"): VIEWER,
    # acting on outputs and the simulated pins
    ("POST", "/api/v1/outputs/{n}/start"): OPERATOR,
    ("POST", "/api/v1/outputs/{n}/stop"): OPERATOR,
    ("POST", "/api/v1/trigger"): OPERATOR,
    ("POST", "/api/v1/simulation/inputs/{n}"): OPERATOR,
    ("POST", "/api/v1/simulation/button"): OPERATOR,
    # virtual inputs: signals are an operator's, their configuration an admin's
    ("POST", "/api/v1/inputs/{n}/signal"): OPERATOR,
    ("GET", "/api/v1/virtual-inputs"): VIEWER,
    ("POST", "/api/v1/virtual-inputs"): ADMIN,
    ("GET", "/api/v1/virtual-inputs/{n}"): VIEWER,
    ("PUT", "/api/v1/virtual-inputs/{n}"): ADMIN,
    ("DELETE", "/api/v1/virtual-inputs/{n}"): ADMIN,
    # an operator's overrides for a while: bypass an input, arm or disarm everything
    ("POST", "/api/v1/inputs/{n}/bypass"): OPERATOR,
    ("DELETE", "/api/v1/inputs/{n}/bypass"): OPERATOR,
    ("POST", "/api/v1/arming/override"): OPERATOR,
    ("DELETE", "/api/v1/arming/override"): OPERATOR,
    # the walk test (commissioning) and its report
    ("POST", "/api/v1/walk-test/start"): OPERATOR,
    ("POST", "/api/v1/walk-test/outputs/{n}/pulse"): OPERATOR,
    ("POST", "/api/v1/walk-test/outputs/{n}/confirm"): OPERATOR,
    ("POST", "/api/v1/walk-test/end"): OPERATOR,
    ("GET", "/api/v1/walk-test/report"): VIEWER,
    # acknowledging a fault that stays until cleared
    ("POST", "/api/v1/faults/{code}/clear"): ADMIN,
    # the event log
    ("GET", "/api/v1/events"): VIEWER,
    ("GET", "/api/v1/events/export"): VIEWER,
    ("GET", "/api/v1/events/histogram"): VIEWER,
    ("GET", "/api/v1/events/stream"): VIEWER,
    ("GET", "/api/v1/events/{seq}/annotations"): VIEWER,
    ("GET", "/api/v1/evidence/{sha256}.jpg"): VIEWER,
    # the network process's destinations: everyone reads, an admin tests and replays
    ("GET", "/api/v1/integrations"): VIEWER,
    ("POST", "/api/v1/integrations/{name}/test"): ADMIN,
    ("POST", "/api/v1/integrations/{name}/replay"): ADMIN,
    # their settings (secrets masked even so): an admin's, reading included
    ("GET", "/api/v1/integrations/settings"): ADMIN,
    ("PUT", "/api/v1/integrations/settings"): ADMIN,
    ("POST", "/api/v1/integrations/recorders/{name}/test"): ADMIN,
    # users and API tokens: admins only, reading included
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("PUT", "/api/v1/users/{name}"): ADMIN,
    ("DELETE", "/api/v1/users/{name}"): ADMIN,
    ("POST", "/api/v1/users/{name}/password"): ADMIN,
    ("GET", "/api/v1/tokens"): ADMIN,
    ("POST", "/api/v1/tokens"): ADMIN,
    ("DELETE", "/api/v1/tokens/{token_id}"): ADMIN,
}

#: what each path parameter is filled with: things that exist, or harmlessly do not
PATH_VALUES = {
    "n": "1",
    "name": "nope",
    "token_id": "999999",
    "code": "nope",
    "seq": "1",
    "sha256": "0" * 64,
}

#: routes that end the caller's session: a session caller gets a fresh one for them
ENDS_SESSION = {("POST", "/api/v1/logout")}

CALLERS = [
    "anonymous",
    "viewer-token",
    "operator-token",
    "admin-token",
    "viewer-session",
    "operator-session",
    "admin-session",
]

USERS = {  # role -> (name, password)
    Role.VIEWER: ("vera", "viewer passphrase, long enough"),
    Role.OPERATOR: ("otto", "operator passphrase, long enough"),
    Role.ADMIN: ("ada", "admin passphrase, long enough"),
}


def spec_routes(spec: dict[str, Any]) -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in methods
    }


# Building the app touches no file (only its lifespan does), so the document the
# cases are generated from can be had at collection time; the data directory is
# never created.
SPEC_ROUTES = spec_routes(
    create_app(
        Settings(data_dir=Path("/nonexistent/alarmbridge"), pins="mock", allowed_hosts=[])
    ).openapi()
)
ROUTES = sorted(SPEC_ROUTES | set(MINIMUM), key=lambda r: (r[1], r[0]))


@dataclass
class Appliance:
    client: TestClient  # no credentials of its own: each request names its caller
    tokens: dict[Role, str]
    sessions: dict[Role, tuple[str, str]]  # role -> (session id, CSRF token)
    admin_token: str


def log_in(client: TestClient, name: str, password: str) -> tuple[str, str]:
    """A new session through the login route, as a browser gets one: (id, CSRF)."""
    reply = client.post(
        "/api/v1/login", json={"name": name, "password": password}, headers={"Origin": ORIGIN}
    )
    assert reply.status_code == 200, reply.text
    session_id = client.cookies[SESSION_COOKIE]
    client.cookies.clear()  # each request below sends its own credentials
    return session_id, str(reply.json()["csrf_token"])


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Appliance]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("matrix") / "data",
        pins="mock",
        timezone="Europe/Brussels",
        allowed_hosts=["testserver"],
    )
    store = AuthStore(settings.auth_db_path)
    try:
        for role, (name, password) in USERS.items():
            store.add_user(name, role, hash_password(password))
        tokens = {role: store.new_token(f"matrix-{role}", role, "ada")[0] for role in Role}
    finally:
        store.close()
    io = IoProcess(settings)
    io.start()
    try:
        with TestClient(create_app(settings)) as client:
            sessions = {role: log_in(client, *USERS[role]) for role in Role}
            yield Appliance(client, tokens, sessions, tokens[Role.ADMIN])
    finally:
        io.stop()


def fill(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in PATH_VALUES, f"no value for the path parameter {{{name}}}: add one"
        return PATH_VALUES[name]

    return re.sub(r"\{(\w+)\}", value, path)


def headers_for(appliance: Appliance, caller: str, method: str, path: str) -> dict[str, str]:
    # Every caller sends a same-site Origin, as a browser on our own pages does, so
    # that the Guard lets anonymous writes through to the access check under test.
    headers = {"Accept": "application/json", "Origin": ORIGIN}
    if caller == "anonymous":
        return headers
    role_name, kind = caller.split("-")
    role = Role(role_name)
    if kind == "token":
        headers["Authorization"] = f"Bearer {appliance.tokens[role]}"
        return headers
    if (method, path) in ENDS_SESSION:
        session_id, csrf = log_in(appliance.client, *USERS[role])
    else:
        session_id, csrf = appliance.sessions[role]
    headers["Cookie"] = f"{SESSION_COOKIE}={session_id}"
    if method not in SAFE_METHODS:
        headers[CSRF_HEADER] = csrf
    return headers


def send(client: TestClient, method: str, url: str, headers: dict[str, str]) -> tuple[int, str]:
    """The status and text of one request; an event stream is left after its headers."""
    with client.stream(method, url, headers=headers) as reply:
        streaming = reply.headers.get("content-type", "").startswith("text/event-stream")
        text = "(an event stream)" if streaming else reply.read().decode(errors="replace")
    client.cookies.clear()
    return reply.status_code, text


def caller_role(caller: str) -> Role | None:
    return None if caller == "anonymous" else Role(caller.split("-")[0])


def test_the_table_names_every_route_in_the_served_document(appliance: Appliance) -> None:
    served = appliance.client.get(
        "/openapi.json", headers={"Authorization": f"Bearer {appliance.admin_token}"}
    )
    assert served.status_code == 200, served.text
    routes = spec_routes(served.json())
    assert routes - set(MINIMUM) == set(), "routes nobody has classified: add them to MINIMUM"
    assert set(MINIMUM) - routes == set(), "MINIMUM names routes the API does not have"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_by_caller(appliance: Appliance, method: str, path: str, caller: str) -> None:
    assert (method, path) in SPEC_ROUTES, f"{method} {path} is in MINIMUM, not in the API"
    assert (method, path) in MINIMUM, f"{method} {path}: add its minimum role to MINIMUM"
    needed = MINIMUM[method, path]
    role = caller_role(caller)
    headers = headers_for(appliance, caller, method, path)
    status, text = send(appliance.client, method, fill(path), headers)
    if needed is PUBLIC:
        assert status not in (401, 403), text
    elif role is None:
        assert status == 401, text
        assert "log in first" in text
    elif not role.allows(needed):
        assert status == 403, text
        assert f"this needs the {needed} role" in text  # the role check, not CSRF or Origin
    else:
        assert status not in (401, 403), text


# -- the HTML pages ----------------------------------------------------------------------

PAGES = ["/", "/inputs", "/outputs", "/schedules", "/events", "/integrations", "/system"]
PAGES += ["/simulation"]
PAGES += ["/docs", "/account", "/users", "/walk-test", "/walk-test/report"]
HTML = {"Accept": "text/html"}


@pytest.mark.parametrize("page", PAGES)
def test_an_anonymous_page_request_goes_to_the_login_page(appliance: Appliance, page: str) -> None:
    reply = appliance.client.get(page, headers=HTML, follow_redirects=False)
    assert reply.status_code == 303, reply.text
    target = urlsplit(reply.headers["location"])
    assert target.path == "/login"
    assert parse_qs(target.query) == {"next": [page]}


def session_headers(appliance: Appliance, role: Role) -> dict[str, str]:
    return {**HTML, "Cookie": f"{SESSION_COOKIE}={appliance.sessions[role][0]}"}


@pytest.mark.parametrize("page", PAGES)
def test_a_viewer_sees_every_page_but_users(appliance: Appliance, page: str) -> None:
    reply = appliance.client.get(page, headers=session_headers(appliance, Role.VIEWER))
    assert reply.status_code == (403 if page == "/users" else 200), reply.text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_the_users_page_is_for_admins(appliance: Appliance, role: Role) -> None:
    as_session = appliance.client.get("/users", headers=session_headers(appliance, role))
    assert as_session.status_code == 403
    as_token = appliance.client.get(
        "/users", headers={**HTML, "Authorization": f"Bearer {appliance.tokens[role]}"}
    )
    assert as_token.status_code == 403
    admin = appliance.client.get("/users", headers=session_headers(appliance, Role.ADMIN))
    assert admin.status_code == 200


def test_the_api_document_is_for_logged_in_users(appliance: Appliance) -> None:
    assert appliance.client.get("/openapi.json").status_code == 401
    viewer = appliance.client.get(
        "/openapi.json", headers={"Cookie": f"{SESSION_COOKIE}={appliance.sessions[VIEWER][0]}"}
    )
    assert viewer.status_code == 200 and "/api/v1/status" in viewer.json()["paths"]
