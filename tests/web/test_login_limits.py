"""What an anonymous client can make the appliance do (issue #16): parallel login
guesses are counted before they are hashed and only a few hashes run at once;
refused logins do not each write a row to the durable log; no request body is read
before authentication, nor beyond its limit. A real io process, real SQLite, a real
HTTP client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.auth.throttle import FREE_FAILURES
from app.clock import ManualClock
from app.io.process import IoProcess
from app.settings import Settings
from app.web import create_app
from app.web.limits import MAX_BODY, MAX_CONFIG_BODY
from tests.support import wait_for
from tests.web.conftest import ADMIN

ORIGIN = {"Origin": "http://testserver"}
WRONG = {"name": ADMIN[0], "password": "not the password at all"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def anon(
    settings: Settings, io: IoProcess, admin_token: str, clock: ManualClock
) -> Iterator[TestClient]:
    """A claimed appliance, its accounts on a clock that moves only when told, and
    a client with no credentials."""
    with TestClient(create_app(settings, clock=clock)) as client:
        yield client


def in_parallel(clients: list[TestClient], per_client: int, body: dict[str, str]) -> list[int]:
    """``per_client`` logins from each client, all released at once: their statuses."""
    statuses: list[int] = []
    start = threading.Barrier(len(clients) * per_client)

    def attempt(client: TestClient) -> None:
        start.wait()
        reply = client.post("/api/v1/login", json=body, headers=ORIGIN)
        statuses.append(reply.status_code)

    threads = [
        threading.Thread(target=attempt, args=(client,))
        for client in clients
        for _ in range(per_client)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(statuses) == len(threads)
    return statuses


def security_events(client: TestClient, token: str, state: str) -> list[dict[str, Any]]:
    reply = client.get(
        "/api/v1/events",
        params={"kind": "security", "limit": 500},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200, reply.text
    return [e for e in reply.json()["events"] if e["state"] == state]


# -- parallel guesses ----------------------------------------------------------------


def test_parallel_wrong_passwords_are_counted_before_they_are_hashed(anon: TestClient) -> None:
    statuses = in_parallel([anon], 30, WRONG)
    assert statuses.count(401) <= FREE_FAILURES + 1, statuses  # 30 x 401 before
    assert set(statuses) <= {401, 429}
    assert statuses.count(429) >= 30 - FREE_FAILURES - 1


def test_two_web_processes_share_one_count(settings: Settings, anon: TestClient) -> None:
    with TestClient(create_app(settings)) as other:  # a second web process, same auth.db
        statuses = in_parallel([anon, other], 15, WRONG)
    assert statuses.count(401) <= FREE_FAILURES + 1, statuses


def test_only_a_few_passwords_are_hashed_at_once_and_the_rest_are_refused_at_once(
    anon: TestClient,
) -> None:
    slots = anon.app.state.web.hashing  # type: ignore[attr-defined]
    taken = 0
    while slots.take():  # what a few logins in progress hold
        taken += 1
    assert 1 <= taken <= 4
    try:
        began = time.monotonic()
        busy = anon.post(
            "/api/v1/login", json={"name": ADMIN[0], "password": ADMIN[1]}, headers=ORIGIN
        )
        assert busy.status_code == 429, busy.text
        assert busy.headers["retry-after"] == "1"
        assert time.monotonic() - began < 0.5  # not queued behind the hashes
    finally:
        for _ in range(taken):
            slots.give_back()
    good = anon.post("/api/v1/login", json={"name": ADMIN[0], "password": ADMIN[1]}, headers=ORIGIN)
    assert good.status_code == 200, good.text  # a refusal for busy slots is no failure


# -- refused logins and the durable log ---------------------------------------------------


def test_refused_logins_make_one_event_per_blocked_key_and_period(
    anon: TestClient, admin_token: str, clock: ManualClock, io: IoProcess
) -> None:
    for _ in range(FREE_FAILURES + 1):  # the sixth blocks the account and the address
        assert anon.post("/api/v1/login", json=WRONG, headers=ORIGIN).status_code == 401
    for _ in range(40):
        assert anon.post("/api/v1/login", json=WRONG, headers=ORIGIN).status_code == 429
    time.sleep(1.5)  # the report runs every second: nothing is due while the block lasts
    assert security_events(anon, admin_token, "login-throttled") == []  # 40 rows before

    clock.advance(2)  # the block (1 s) is over
    found = wait_for(
        lambda: len(rows := security_events(anon, admin_token, "login-throttled")) == 2 and rows
    )
    by_key = {e["detail"].get("account", "address"): e for e in found}
    assert by_key[ADMIN[0]]["source"] == ADMIN[0]
    assert by_key["address"]["source"] == "anonymous"
    for event in found:
        assert event["detail"]["refused"] == "40"
        assert event["detail"]["address"] == "testclient"
        assert event["detail"]["blocked_until"].endswith("Z")
    failed = security_events(anon, admin_token, "login-failed")
    assert len(failed) == FREE_FAILURES + 1  # each evaluated guess is still logged


def test_refusals_still_counting_are_written_when_the_web_process_stops(
    settings: Settings, io: IoProcess, admin_token: str, clock: ManualClock
) -> None:
    with TestClient(create_app(settings, clock=clock)) as client:
        for _ in range(FREE_FAILURES + 1):
            client.post("/api/v1/login", json=WRONG, headers=ORIGIN)
        for _ in range(3):
            assert client.post("/api/v1/login", json=WRONG, headers=ORIGIN).status_code == 429
    with TestClient(create_app(settings)) as client:
        found = wait_for(
            lambda: (
                len(rows := security_events(client, admin_token, "login-throttled")) == 2 and rows
            )
        )
    assert {e["detail"]["refused"] for e in found} == {"3"}


# -- request bodies ---------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_before_it_is_read(anon: TestClient) -> None:
    big = json.dumps({"name": "x" * (MAX_BODY + 1), "password": "y"}).encode()
    reply = anon.post(
        "/api/v1/login", content=big, headers={**ORIGIN, "Content-Type": "application/json"}
    )
    assert reply.status_code == 413, reply.text
    assert "larger than 1 MiB" in reply.json()["error"]


def test_a_chunked_body_is_cut_off_at_the_limit(anon: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(50):  # 50 x 64 KiB, no Content-Length
            yield b" " * 65536

    reply = anon.post(
        "/api/v1/login", content=chunks(), headers={**ORIGIN, "Content-Type": "application/json"}
    )
    assert reply.status_code == 413, reply.text  # 422 (read, then parsed) before


def test_a_write_without_credentials_is_refused_before_its_body_is_read(
    anon: TestClient,
) -> None:
    for method, path in (("PUT", "/api/v1/inputs/1"), ("POST", "/api/v1/trigger")):
        reply = anon.request(
            method,
            path,
            content=b"{this is not JSON",
            headers={**ORIGIN, "Content-Type": "application/json"},
        )
        assert reply.status_code == 401, reply.text  # 422 (parsed first) before
        assert "log in first" in reply.json()["error"]
        assert reply.headers["www-authenticate"].startswith("Bearer")
        over = anon.request(method, path, content=b"x" * (MAX_BODY + 10), headers=ORIGIN)
        assert over.status_code == 401  # who, before how much


def test_a_configuration_import_may_be_larger(client: TestClient) -> None:
    config = client.get("/api/v1/config").json()
    config["padding"] = "x" * MAX_BODY  # indented exports can pass 1 MiB
    reply = client.put("/api/v1/config", json=config)
    assert reply.status_code == 422, reply.text  # read and refused for the unknown field
    assert "padding" in reply.text
    config["padding"] = "x" * MAX_CONFIG_BODY
    assert client.put("/api/v1/config", json=config).status_code == 413
    assert client.put("/api/v1/inputs/1", json={"name": "x" * MAX_BODY}).status_code == 413


def test_the_unknown_user_hash_costs_what_a_real_one_costs() -> None:
    """A login for a name that does not exist is verified against a fixed hash made
    with the hasher's own parameters (so it takes as long), never made at import."""
    from argon2 import PasswordHasher
    from argon2.exceptions import VerifyMismatchError

    from app.auth import passwords

    assert not PasswordHasher().check_needs_rehash(passwords.DUMMY_HASH)
    assert passwords.DUMMY_HASH.split("$")[3] == passwords.hash_password("x" * 12).split("$")[3]
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(passwords.DUMMY_HASH, "not a real password, only for timing")
