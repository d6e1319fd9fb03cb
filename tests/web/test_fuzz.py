"""Schemathesis against the API's own OpenAPI document: requests generated from the
document, valid ones and broken ones, sent to the real app (a real io process on
simulated pins, real SQLite files) with an admin API token. No answer may be a
server error, and every answer must match what the document says of it.

Checks, and why one is left out:

* ``not_a_server_error``: no 5xx, whatever is sent.
* ``status_code_conformance``: every answer's status is in the document: each route
  lists the 400, 404, 409, 413 and 429 it can give beside the errors all share
  (401, 403, 422, 503).
* ``response_schema_conformance``, ``content_type_conformance``,
  ``response_headers_conformance``: a documented answer has the documented body,
  media type and headers (a 429's Retry-After).
* ``negative_data_rejection``: a request the document calls invalid is refused.
  Bodies, paths and query numbers and switches are strictly typed: ``true`` is not
  1, ``0`` is not a date, ``3\n`` is not output 3.
* Not ``positive_data_acceptance``: a request the document allows can still be
  refused for reasons a JSON schema cannot say: a time that is not ISO 8601, a
  configuration that does not fit the board, a password that is too common, a
  schedule that does not exist.

Every route is fuzzed, login, setup, users and tokens included (the fuzzer holds an
API token; failed logins throttle only logins), and the live stream too:
schemathesis cuts an event stream after its first event. The fuzzer's own token is
the one thing it may not revoke, and the admin who made it (whose removal would
revoke it, whose demotion would cap it) the one user it may not change.

Schemathesis's own pytest integration (``schemathesis.pytest.from_fixture``) does
not run under pytest 9.2 (it sets ``Node._nodeid``, which pytest no longer has), so
each route is a subtest here, with schemathesis's strategies and checks.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from schemathesis import checks
from schemathesis.python import asgi

from app.auth.store import AuthStore
from app.io.process import IoProcess
from app.network.client import NetworkClient, NetworkError
from app.settings import Settings
from app.web import create_app
from tests.web.conftest import ADMIN

Operation = schemathesis.APIOperation[Any, Any, Any, Any]

EXAMPLES = 15  # per route, valid and invalid requests together: about 10 s for all
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.response_schema_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
]


def as_int(value: object) -> int | None:
    """A path value as a number, loosely: "01" or "1.0" are 1 here (the API refuses
    them; they are kept away from the fuzzer's own token all the same)."""
    try:
        return TypeAdapter(int).validate_python(value)
    except ValidationError:
        return None


@pytest.fixture
def network(settings: Settings, io: IoProcess) -> Iterator[None]:
    """The network process (no destination configured), so /api/v1/integrations has
    someone to ask; without it, test and replay answer 503 (documented for every route)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALARMBRIDGE_MQTT", "ALARMBRIDGE_WEBHOOK", "ALARMBRIDGE_SMTP"))
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "network", "run", "--data-dir", str(settings.data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = NetworkClient(settings.network_socket_path, timeout=2)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.status()
                break
            except NetworkError:
                assert proc.poll() is None and time.monotonic() < deadline, "no network process"
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(15)


def test_no_request_makes_a_server_error_or_breaks_the_document(
    settings: Settings, io: IoProcess, network: None, admin_token: str, subtests: pytest.Subtests
) -> None:
    store = AuthStore(settings.auth_db_path)
    try:
        (own,) = store.tokens()  # the admin_token fixture's
    finally:
        store.close()
    auth = {"Authorization": f"Bearer {admin_token}"}
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json",
        create_app(settings),
        config=schemathesis.Config.from_dict({"max-stream-events": 1, "request-timeout": 10}),
        headers=auth,
    )
    try:
        operations = [
            schema[path][method]
            for path, item in schema.raw_schema["paths"].items()
            for method in item
        ]
        assert len(operations) > 40
        for operation in operations:
            with subtests.test(operation.label):
                fuzz(operation, auth, own.id)
    finally:
        asgi.shutdown_lifespans()  # the app stops before the io process does


def fuzz(operation: Operation, auth: dict[str, str], own_token: int) -> None:
    # Valid and invalid requests alike. Some routes have nothing that can be made
    # invalid (no parameters, or only free text): their invalid strategy rejects
    # every draw, and the valid one carries on alone.
    cases = st.one_of(
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # one inner function per route: saved examples would cross routes
        suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    )
    @given(case=cases)
    def run(case: schemathesis.Case[Any]) -> None:
        token_id = (case.path_parameters or {}).get("token_id")
        assume(token_id is None or as_int(token_id) != own_token)
        if operation.path.startswith("/api/v1/users/"):  # nor the user who made it
            assume(str((case.path_parameters or {}).get("name", "")).lower() != ADMIN[0])
        response = case.call_and_validate(headers=auth, checks=CHECKS)
        if operation.label != "POST /api/v1/login":  # a wrong password there is a 401
            assert response.status_code not in (401, 403), (
                f"{operation.label} refused the admin token: {response.text}"
            )

    run()


# -- what fuzzing found, kept found ------------------------------------------------------

TOO_BIG = 2**63  # one more than SQLite's largest INTEGER


def cursor(utc_us: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{utc_us}:{seq}".encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/events?cursor={cursor(TOO_BIG, 1)}",
        f"/api/v1/events?cursor={cursor(1, TOO_BIG)}",
        f"/api/v1/events/stream?after={TOO_BIG}",
        "/api/v1/timeline?start=9999-12-31T23:00",
        "/api/v1/timeline?start=0001-01-01T00:00",
    ],
)
def test_numbers_and_times_out_of_range_are_refused(client: TestClient, url: str) -> None:
    reply = client.get(url)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/json"


def test_a_token_id_out_of_range_is_refused(client: TestClient) -> None:
    assert client.delete(f"/api/v1/tokens/{TOO_BIG}").status_code == 422
    assert client.delete(f"/api/v1/tokens/{TOO_BIG - 1}").status_code == 404


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_schedule_exception_at_the_calendars_end_is_refused(client: TestClient, day: str) -> None:
    doc = {"name": "Holidays", "exceptions": [{"date": day}]}
    reply = client.post("/api/v1/schedules", json=doc)
    assert reply.status_code == 422, reply.text
    assert "exceptions.0.date" in reply.text


def test_a_stream_resumed_from_a_huge_last_event_id_starts_afresh(client: TestClient) -> None:
    headers = {"Last-Event-ID": str(TOO_BIG)}
    with client.stream("GET", "/api/v1/events/stream", headers=headers) as reply:
        assert reply.status_code == 200
        lines = reply.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))


def test_the_pages_say_what_is_wrong_with_such_values(client: TestClient) -> None:
    html = {"Accept": "text/html"}
    events = client.get(f"/events?cursor={cursor(TOO_BIG, 1)}", headers=html)
    assert events.status_code == 200 and "not a valid cursor" in events.text
    schedules = client.get("/schedules?start=9999-12-31T23:00", headers=html)
    assert schedules.status_code == 200 and "years 2 to 9998" in schedules.text
