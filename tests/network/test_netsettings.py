"""Destinations configured from the API (#18, "Configuration"): the real io process,
the real network process (its settings stored in its own network.db and applied
without a restart), the web API in front, and real peers: Mosquitto with
mosquitto_sub, webhook receivers that verify signatures, the SMTP server."""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import subprocess
import threading
import time
from typing import Any

from fastapi.testclient import TestClient

from app.auth.store import Role
from app.io.commands import SecurityEvent, Simulate
from app.network.client import NetworkClient, NetworkError
from tests.io.conftest import CLI, IoProc
from tests.network.conftest import (
    SECRET,
    Broker,
    NetworkProc,
    Receiver,
    Subscriber,
    bearer,
    wait_until,
)
from tests.network.smtp_peer import PASSWORD, Server

MASK = "********"
PREFIX = "site/configured"
SETTINGS = "/api/v1/integrations/settings"


def empty() -> dict[str, Any]:
    return {"mqtt": {}, "webhooks": [], "mail": {}, "apprise": {}, "sia": {}}


def hook(url: str, name: str = "vms", **more: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "secret": SECRET, **more}


def security(web: TestClient, admin: dict[str, str], state: str) -> list[dict[str, Any]]:
    reply = web.get("/api/v1/events", params={"kind": "security", "limit": 500}, headers=admin)
    return [e for e in reply.json()["events"] if e["state"] == state]


def test_mqtt_set_through_the_api_reaches_mosquitto_sub_without_a_restart(
    io_proc: IoProc,
    network: NetworkProc,
    web: TestClient,
    tokens: dict[Role, str],
    broker: Broker,
) -> None:
    admin, viewer = bearer(tokens[Role.ADMIN]), bearer(tokens[Role.VIEWER])
    network.start()
    pid = network.proc.pid if network.proc else None
    shown = web.get(SETTINGS, headers=admin).json()
    assert shown["version"] == 0
    assert shown["document"]["mqtt"]["enabled"] is False
    assert shown["environment"] == []
    assert web.get(SETTINGS, headers=viewer).status_code == 403  # the admin's

    sub = Subscriber(broker, f"{PREFIX}/#")
    try:
        doc = empty()
        doc["mqtt"] = {"enabled": True, "url": broker.url, "prefix": PREFIX}
        assert web.put(SETTINGS, headers=viewer, json=doc).status_code == 403
        reply = web.put(SETTINGS, headers=admin, json=doc)
        assert reply.status_code == 200, reply.text
        assert reply.json()["applied"] == {"added": ["mqtt"], "removed": [], "changed": []}
        assert reply.json()["running"] == {"mqtt": "stored"}
        wait_until(lambda: sub.on(f"{PREFIX}/availability"), what="the broker reached")
        io_proc.client.send(Simulate(action="close", input=1))
        wait_until(
            lambda: any(m.json()["kind"] == "input" for m in sub.on(f"{PREFIX}/event")),
            what="the input's event at mosquitto_sub",
        )
        assert network.proc is not None and network.proc.pid == pid  # not restarted

        rows = security(web, admin, "integrations-changed")
        assert len(rows) == 1
        assert rows[0]["source"] == "token:admin"
        assert rows[0]["detail"]["added"] == "mqtt"
        assert rows[0]["detail"]["settings"] == "mqtt"

        # saving the same document again changes (and logs) nothing
        again = web.put(SETTINGS, headers=admin, json=reply.json()["document"])
        assert again.status_code == 200
        assert again.json()["version"] == 1
        assert len(security(web, admin, "integrations-changed")) == 1

        # disabled: it stops at once and says so on the broker (retained)
        doc["mqtt"]["enabled"] = False
        reply = web.put(SETTINGS, headers=admin, json=doc)
        assert reply.json()["applied"]["removed"] == ["mqtt"]
        assert reply.json()["running"] == {}
        wait_until(lambda: broker.retained(f"{PREFIX}/availability") == "offline", what="offline")
        assert network.status().destinations == []
        assert network.proc is not None and network.proc.pid == pid
    finally:
        sub.close()


def test_a_webhook_moved_to_another_url_keeps_its_secret_and_cursor(
    io_proc: IoProc,
    network: NetworkProc,
    web: TestClient,
    tokens: dict[Role, str],
    receiver: Receiver,
    receiver2: Receiver,
) -> None:
    admin = bearer(tokens[Role.ADMIN])
    network.start()
    doc = empty()
    doc["webhooks"] = [hook(receiver.url, kinds=["security"])]
    reply = web.put(SETTINGS, headers=admin, json=doc)
    assert reply.status_code == 200, reply.text
    io_proc.client.send(SecurityEvent(state="login", user="first"))
    wait_until(
        lambda: any(h.body["data"]["source"] == "first" for h in receiver.received),
        what="delivered to the first URL",
    )

    shown = web.get(SETTINGS, headers=admin).json()
    assert shown["document"]["webhooks"][0]["secret"] == MASK
    moved = shown["document"]
    moved["webhooks"][0]["url"] = receiver2.url  # the secret goes back masked
    reply = web.put(SETTINGS, headers=admin, json=moved)
    assert reply.status_code == 200, reply.text
    assert reply.json()["applied"]["changed"] == ["vms"]
    before = len(receiver.received)
    io_proc.client.send(SecurityEvent(state="login", user="second"))
    wait_until(
        lambda: any(h.body["data"]["source"] == "second" for h in receiver2.received),
        what="delivered to the new URL",
    )
    assert receiver2.rejected == []  # signed with the stored secret: it verified
    assert len(receiver.received) == before
    assert not any(h.body["data"]["source"] == "first" for h in receiver2.received)  # its cursor

    # a wrong document: every problem, each with its field; nothing changes
    bad = empty()
    bad["webhooks"] = [{"name": "vms", "url": "ftp://x", "secret": "nope", "kinds": ["bogus"]}]
    bad["mqtt"] = {"enabled": True}
    bad["mail"] = {"enabled": True, "host": "mail.example.com"}
    wrong = web.put(SETTINGS, headers=admin, json=bad)
    assert wrong.status_code == 422
    fields = {p["field"] for p in wrong.json()["problems"]}
    assert {
        "webhooks.0.url",
        "webhooks.0.secret",
        "webhooks.0.kinds.0",
        "mqtt.url",
        "mail.to",
    } <= fields, fields
    assert web.get(SETTINGS, headers=admin).json()["version"] == 2

    # removed: its loop stops, and it is no longer a destination
    reply = web.put(SETTINGS, headers=admin, json=empty())
    assert reply.json()["applied"]["removed"] == ["vms"]
    assert [d.name for d in network.status().destinations] == []

    # the secret is in no answer, no export, no log row, no network process log
    texts = [
        web.get(SETTINGS, headers=admin).text,
        web.get("/api/v1/config", headers=admin).text,
        web.get("/api/v1/events", params={"limit": 500}, headers=admin).text,
        (network.data_dir.parent / "network.log").read_text(),
    ]
    assert not [t for t in texts if SECRET in t or SECRET.removeprefix("whsec_") in t]


def test_the_environments_destinations_are_read_only_and_a_clash_is_refused(
    io_proc: IoProc, web: TestClient, tokens: dict[Role, str], receiver: Receiver
) -> None:
    admin = bearer(tokens[Role.ADMIN])
    env = {"ALARMBRIDGE_WEBHOOK_URL": receiver.url, "ALARMBRIDGE_WEBHOOK_SECRET": SECRET}
    network = NetworkProc(io_proc.data_dir, env)
    try:
        network.start()
        shown = web.get(SETTINGS, headers=admin).json()
        assert shown["environment"] == [{"name": "webhook", "variable": "ALARMBRIDGE_WEBHOOK_URL"}]
        assert shown["running"] == {"webhook": "environment"}
        doc = empty()
        doc["webhooks"] = [hook(receiver.url, name="webhook")]
        wrong = web.put(SETTINGS, headers=admin, json=doc)
        assert wrong.status_code == 422
        assert wrong.json()["problems"][0]["field"] == "webhooks.0.name"
        assert "ALARMBRIDGE_WEBHOOK_URL" in wrong.json()["problems"][0]["message"]
        doc["webhooks"][0]["name"] = "second"  # beside it: fine
        assert web.put(SETTINGS, headers=admin, json=doc).status_code == 200
        names = sorted(d.name for d in network.status().destinations)
        assert names == ["second", "webhook"]
    finally:
        network.close()


def test_mail_set_through_the_api_and_its_test_message(
    io_proc: IoProc,
    network: NetworkProc,
    web: TestClient,
    tokens: dict[Role, str],
    smtp_server: Server,
) -> None:
    admin = bearer(tokens[Role.ADMIN])
    network.start()
    doc = empty()
    doc["mail"] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": smtp_server.port,
        "security": "starttls",
        "username": "bridge@example.com",
        "password": PASSWORD,
        "to": ["ops@example.com"],
        "ca_pem": smtp_server.cafile.read_text(),
    }
    reply = web.put(SETTINGS, headers=admin, json=doc)
    assert reply.status_code == 200, reply.text
    assert reply.json()["document"]["mail"]["password"] == MASK
    sent = web.post("/api/v1/integrations/mail/test", headers=admin)
    assert sent.status_code == 200, sent.text
    mails = smtp_server.keeper.wait(1)
    assert "Test mail" in str(mails[0].message["Subject"])
    assert mails[0].tls and mails[0].login == "bridge@example.com"
    assert PASSWORD not in reply.text


def test_export_and_import_carry_the_network_settings_with_their_secrets_masked(
    io_proc: IoProc,
    network: NetworkProc,
    web: TestClient,
    tokens: dict[Role, str],
    receiver: Receiver,
) -> None:
    admin, viewer = bearer(tokens[Role.ADMIN]), bearer(tokens[Role.VIEWER])
    network.start()
    doc = empty()
    doc["webhooks"] = [hook(receiver.url, kinds=["security"])]
    assert web.put(SETTINGS, headers=admin, json=doc).status_code == 200
    exported = web.get("/api/v1/config", headers=admin).json()
    assert exported["network"]["webhooks"][0]["secret"] == MASK
    assert web.get("/api/v1/config", headers=viewer).json()["network"] is None

    # onto the same appliance: the stored secret is kept, and deliveries verify
    exported["inputs"][0]["name"] = "Imported door"
    reply = web.put("/api/v1/config", headers=admin, json=exported)
    assert reply.status_code == 200, reply.text
    assert reply.json()["network_applied"] is True
    io_proc.client.send(SecurityEvent(state="login", user="after-import"))
    wait_until(
        lambda: any(h.body["data"]["source"] == "after-import" for h in receiver.received),
        what="delivered after the import",
    )
    assert receiver.rejected == []

    # onto an appliance that lacks the secret (here: this one once the webhook is
    # gone): the fields to fill in are named, and nothing is imported
    assert web.put(SETTINGS, headers=admin, json=empty()).status_code == 200
    exported["inputs"][0]["name"] = "Not imported"
    refused = web.put("/api/v1/config", headers=admin, json=exported)
    assert refused.status_code == 422
    assert [p["field"] for p in refused.json()["problems"]] == ["network.webhooks.0.secret"]
    assert "type the secret" in refused.json()["problems"][0]["message"]
    config = web.get("/api/v1/config", headers=admin).json()
    assert config["inputs"][0]["name"] == "Imported door"

    # the network process down: the rest is imported, and the answer says so
    network.stop()
    exported["network"]["webhooks"][0]["secret"] = SECRET
    exported["inputs"][0]["name"] = "Without network"
    reply = web.put("/api/v1/config", headers=admin, json=exported)
    assert reply.status_code == 200, reply.text
    assert reply.json()["network_applied"] is False
    assert "not running" in reply.json()["network_error"]
    assert web.get("/api/v1/config", headers=admin).json()["inputs"][0]["name"] == (
        "Without network"
    )
    assert web.get(SETTINGS, headers=admin).status_code == 503
    assert "not running" in web.put(SETTINGS, headers=admin, json=empty()).json()["error"]


def test_a_kill_during_configure_leaves_the_old_or_the_new_document(
    io_proc: IoProc, network: NetworkProc, receiver: Receiver
) -> None:
    client = NetworkClient(io_proc.data_dir / "network.sock", timeout=10)
    documents = []
    for n in range(2):
        doc = empty()
        doc["webhooks"] = [hook(f"{receiver.url}/{n}", name=f"hook{k}") for k in range(n + 1)]
        doc["mqtt"] = {"url": f"mqtt://broker-{n}.lan", "prefix": f"site/{n}"}
        documents.append(doc)
    network.start()
    client.configure(documents[0], "tests")
    shown = [json.dumps(client.settings()["document"], sort_keys=True)]
    client.configure(documents[1], "tests")
    shown.append(json.dumps(client.settings()["document"], sort_keys=True))
    rng = random.Random(18)
    for attempt in range(6):
        target = documents[attempt % 2]

        def send(doc: dict[str, Any] = target) -> None:
            with contextlib.suppress(NetworkError):  # killed under it
                client.configure(doc, "tests")

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(rng.uniform(0, 0.03))
        network.kill()
        sender.join(15)
        network.start()
        found = json.dumps(client.settings()["document"], sort_keys=True)
        assert found in shown, f"attempt {attempt}: neither document"
        names = sorted(d.name for d in network.status().destinations)
        assert names in (["hook0"], ["hook0", "hook1"])


def test_the_page_has_the_forms_for_an_admin_only(
    io_proc: IoProc,
    network: NetworkProc,
    web: TestClient,
    tokens: dict[Role, str],
    receiver: Receiver,
) -> None:
    admin, viewer = bearer(tokens[Role.ADMIN]), bearer(tokens[Role.VIEWER])
    html = {"Accept": "text/html"}
    down = web.get("/integrations", headers={**admin, **html})
    assert "The settings cannot be shown or changed now" in down.text
    network.start()
    doc = empty()
    doc["webhooks"] = [hook(receiver.url)]
    assert web.put(SETTINGS, headers=admin, json=doc).status_code == 200
    page = web.get("/integrations", headers={**admin, **html})
    assert page.status_code == 200
    for part in ("mqtt", "webhook", "mail", "apprise", "sia"):
        assert f'data-net="{part}"' in page.text
    assert 'data-index="0"' in page.text
    assert 'data-net-status="vms"' in page.text  # its delivery beside its settings
    assert re.search(r'data-net-status="mqtt"[^>]*>not running<', page.text)
    assert SECRET not in page.text
    assert "********" in page.text
    shown = web.get("/integrations", headers={**viewer, **html})
    assert "data-net=" not in shown.text
    assert "shown to admins only" in shown.text


def test_the_cli_shows_the_settings_masked(
    io_proc: IoProc, network: NetworkProc, receiver: Receiver
) -> None:
    network.start()
    doc = empty()
    doc["webhooks"] = [hook(receiver.url)]
    network.client.configure(doc, "tests")
    shown = subprocess.run(
        [*CLI, "network", "settings", "--data-dir", str(io_proc.data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0, shown.stderr
    answer = json.loads(shown.stdout)
    assert answer["document"]["webhooks"][0]["secret"] == MASK
    assert answer["running"] == {"vms": "stored"}
    assert SECRET not in shown.stdout


def test_a_sia_receiver_that_cannot_listen_is_shown_and_the_process_goes_on(
    io_proc: IoProc, network: NetworkProc
) -> None:
    network.start()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        doc = empty()
        doc["sia"] = {"receiver": {"enabled": True, "host": "127.0.0.1", "udp": False}}
        doc["sia"]["receiver"]["port"] = busy.getsockname()[1]
        network.client.configure(doc, "tests")
        problems = network.client.settings()["problems"]
        assert [p["field"] for p in problems] == ["sia.receiver.port"]
        assert "cannot listen" in problems[0]["message"]
        doc["sia"]["receiver"]["port"] = 0  # any free port: it listens
        done = network.client.configure(doc, "tests")
        assert done["changed"] == ["sia-receiver"]
        assert network.client.settings()["problems"] == []
        assert network.proc is not None and network.proc.poll() is None
    finally:
        busy.close()


def test_a_webhook_moved_during_a_burst_loses_nothing(
    io_proc: IoProc, network: NetworkProc, receiver: Receiver, receiver2: Receiver
) -> None:
    network.start()
    doc = empty()
    doc["webhooks"] = [hook(receiver.url)]
    network.client.configure(doc, "tests")
    io_proc.client.send(SecurityEvent(state="login", user="start"))
    wait_until(lambda: receiver.received, what="the first delivery")
    for n in range(150):
        io_proc.client.send(SecurityEvent(state="login", user=f"burst{n}"))
        if n == 75:
            moved = network.client.settings()["document"]
            moved["webhooks"][0]["url"] = receiver2.url
            network.client.configure(moved, "tests")
    io_proc.client.send(SecurityEvent(state="login", user="end"))
    wait_until(
        lambda: any(h.body["data"]["source"] == "end" for h in receiver2.received),
        what="the last event at the new URL",
    )

    def seqs(r: Receiver) -> list[int]:
        return [h.body["data"]["seq"] for h in list(r.received)]

    first, second = seqs(receiver), seqs(receiver2)
    assert first == sorted(first) and second == sorted(second)  # in order at each
    assert second, "nothing reached the new URL"
    union = set(first) | set(second)
    assert union == set(range(min(union), max(union) + 1)), "a gap: an event was lost"
    # the new URL starts where the old one stopped (at most the batch in flight again)
    assert first[0] < second[0] <= max(first) + 1
