"""What the appliance accepts and how it answers (issue #16): the page after login
stays on the appliance; names refuse control and bidi characters and blanks, and
untrusted text is never printed raw; request bodies and paths are strictly typed;
the OpenAPI document lists the errors routes give; a 405 says what is allowed; the
setup banner gives the right scheme. A real io process, real SQLite, a real client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.events import Cause, Kind
from app.io.process import IoProcess
from app.io.protocol import Client, ControlError
from app.settings import Settings
from app.web import create_app
from tests.support import wait_for
from tests.web.conftest import ADMIN

ORIGIN = {"Origin": "http://testserver"}
HTML = {"Accept": "text/html"}
OFF_SITE = ["/%5Cevil.example/x", "/%09/evil.example", "//evil.example", "https://evil.example"]


@pytest.fixture
def anon(settings: Settings, io: IoProcess, admin_token: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


# -- 4. the page after login ----------------------------------------------------------


def next_of(page: str) -> str:
    found = re.search(r'data-next="([^"]*)"', page)
    assert found, page
    return found[1]


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_never_sends_the_browser_off_the_appliance(anon: TestClient, target: str) -> None:
    page = anon.get(f"/login?next={target}", headers=HTML)
    assert page.status_code == 200
    assert next_of(page.text) == "/"  # what the login script goes to
    assert 'name="next" value="/"' in page.text  # and the form without script
    form = anon.post(
        "/login",
        data={"name": ADMIN[0], "password": ADMIN[1], "next": unquote(target)},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert (form.status_code, form.headers["location"]) == (303, "/")
    again = anon.get(f"/login?next={target}", follow_redirects=False)  # logged in now
    assert (again.status_code, again.headers["location"]) == (303, "/")


def test_login_keeps_a_path_on_the_appliance(anon: TestClient) -> None:
    page = anon.get("/login?next=/events%3Fkind%3Dfault", headers=HTML)
    assert next_of(page.text) == "/events?kind=fault"


# -- 5. names -----------------------------------------------------------------------------

BAD_NAMES = ["admin\nforged", "IN\u202e1", "a\x00b", "   ", "tab\there", "\u2028", ""]


def test_a_name_with_control_or_bidi_characters_or_a_blank_one_is_refused(
    client: TestClient,
) -> None:
    item = client.get("/api/v1/inputs/1").json()
    out = client.get("/api/v1/outputs/1").json()
    for name in BAD_NAMES:
        answers = {
            "input": client.put("/api/v1/inputs/1", json={**item, "name": name}),
            "output": client.put("/api/v1/outputs/1", json={**out, "name": name}),
            "token": client.post("/api/v1/tokens", json={"name": name, "role": "viewer"}),
            "schedule": client.post("/api/v1/schedules", json={"name": name}),
            "login": client.post("/api/v1/login", json={"name": name, "password": "whatever"}),
        }
        for what, reply in answers.items():
            assert reply.status_code == 422, (what, name, reply.text)
        dvr = client.put("/api/v1/outputs/1", json={**out, "dvr_channel": name})
        assert dvr.status_code == (200 if name in ("", "   ") else 422), dvr.text  # free text


def test_a_login_name_cannot_forge_lines_in_the_log(anon: TestClient, client: TestClient) -> None:
    forged = "nobody\n#9 security - login (user: admin)"  # 40 characters
    reply = anon.post("/api/v1/login", json={"name": forged, "password": "x" * 12}, headers=ORIGIN)
    assert reply.status_code == 422
    anon.post("/api/v1/login", json={"name": "nobody", "password": "x" * 12}, headers=ORIGIN)
    events = wait_for(
        lambda: client.get("/api/v1/events", params={"kind": "security"}).json()["events"]
    )
    assert [e["source"] for e in events] == ["nobody"]


def test_the_cli_prints_untrusted_text_escaped(
    settings: Settings, io: IoProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    # text from before names were checked (the io socket refuses it now: below)
    forged = "eve\n#999 2026-01-01 security - login (user: admin)\u202e"
    io.writer.submit(io.stamper.make(Kind.SECURITY, "login-failed", Cause.USER, source=forged))
    where = ["--data-dir", str(settings.data_dir)]

    def printed(*args: str) -> str:
        wait_for(lambda: main(["events", "--kind", "security", *args, *where]) == 0)
        return capsys.readouterr().out

    text = wait_for(lambda: "eve" in (out := printed()) and out)
    assert "\n#999" not in text and "\u202e" not in text
    assert "eve\\n#999" in text and "\\u202e" in text
    assert len(text.splitlines()) == 1
    csv = printed("--csv")
    assert "\n#999" not in csv and "\u202e" not in csv
    assert len(csv.splitlines()) == 2  # the header and the event
    as_json = printed("--json")
    assert "\n#999" not in as_json and "\u202e" not in as_json


def test_the_io_socket_refuses_a_user_name_with_a_newline(
    settings: Settings, io: IoProcess
) -> None:
    forged = "eve\n#999 2026-01-01 security - login (user: admin)"
    with pytest.raises(ControlError, match="user must not contain control"):
        Client(settings.socket_path).request("security", state="login-failed", user=forged)


def test_the_cli_refuses_a_user_name_with_a_newline(
    settings: Settings, io: IoProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--data-dir", str(settings.data_dir)]
    with pytest.raises(SystemExit):
        main(["trigger", "--user", "cli\nforged", *where])
    assert "must not contain control" in capsys.readouterr().err


# -- 11. strict types -----------------------------------------------------------------------


LAX = [
    ("POST", "/api/v1/simulation/button", {"pressed": 0}),  # was released
    ("POST", "/api/v1/simulation/inputs/1", {"closed": "yes"}),
    ("POST", "/api/v1/outputs/1/start", {"duration_s": True}),
    ("POST", "/api/v1/outputs/1/start", {"duration_s": "1.5"}),
    ("POST", "/api/v1/schedules", {"name": "Holidays", "exceptions": [{"date": 0}]}),
    ("PUT", "/api/v1/button", {"action": "pulse", "duration_ms": 3000.0}),
    ("PUT", "/api/v1/button", {"action": "pulse", "outputs": [True]}),
]


def test_request_bodies_are_strictly_typed(client: TestClient) -> None:
    for method, path, body in LAX:
        reply = client.request(method, path, json=body)
        assert reply.status_code == 422, (method, path, body, reply.text)


def test_true_is_not_output_1(client: TestClient) -> None:
    item = client.get("/api/v1/inputs/1").json()
    assert client.put("/api/v1/inputs/1", json={**item, "outputs": []}).status_code == 200
    refused = client.put("/api/v1/healthy-relay", json={"output": True})
    assert refused.status_code == 422, refused.text  # was output 1
    assert client.put("/api/v1/healthy-relay", json={"output": 1}).status_code == 200


def test_an_input_setting_must_be_a_json_number(client: TestClient) -> None:
    item = client.get("/api/v1/inputs/1").json()
    for value in ("50", 50.0, True):
        reply = client.put("/api/v1/inputs/1", json={**item, "response_ms": value})
        assert reply.status_code == 422, (value, reply.text)
    assert client.put("/api/v1/inputs/1", json={**item, "response_ms": 60}).status_code == 200


def test_path_and_query_numbers_are_plain_digits(client: TestClient) -> None:
    for n in ("3%0A", "%203", "+3", "3.0", "03", "3_0"):
        assert client.post(f"/api/v1/outputs/{n}/start").status_code == 422, n
        assert client.get(f"/api/v1/inputs/{n}").status_code == 422, n
        assert client.delete(f"/api/v1/tokens/{n}").status_code == 422, n
        assert client.get(f"/api/v1/events?limit={n}").status_code == 422, n
    assert client.get("/api/v1/config?download=yes").status_code == 422
    assert client.get("/api/v1/config?download=true").status_code == 200


def test_a_whole_number_of_seconds_is_a_duration(client: TestClient) -> None:
    started = client.post("/api/v1/outputs/2/start", json={"duration_s": 1})
    assert started.status_code == 200, started.text


def test_a_lone_surrogate_is_refused_not_a_server_error(anon: TestClient) -> None:
    body = b'{"name": "\\ud800", "password": "whatever it is"}'
    reply = anon.post(
        "/api/v1/login", content=body, headers={**ORIGIN, "Content-Type": "application/json"}
    )
    assert reply.status_code == 422, reply.text


# -- 13. what the answers say -------------------------------------------------------------


def test_the_document_lists_the_errors_routes_give(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"404", "413"} <= set(paths["/api/v1/inputs/{n}"]["put"]["responses"])
    assert {"404", "409"} <= set(paths["/api/v1/users/{name}"]["delete"]["responses"])
    assert "409" in paths["/api/v1/schedules"]["post"]["responses"]
    assert "400" in paths["/api/v1/logout"]["post"]["responses"]
    login = paths["/api/v1/login"]["post"]["responses"]["429"]
    assert "Retry-After" in login["headers"]


def test_a_wrong_method_says_which_are_allowed(client: TestClient) -> None:
    reply = client.delete("/api/v1/status")
    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET"


def test_the_setup_banner_gives_https_under_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", pins="mock", port=8443, tls="self-signed")
    with TestClient(create_app(settings)):
        pass
    assert "Open https://127.0.0.1:8443/setup" in capsys.readouterr().err
