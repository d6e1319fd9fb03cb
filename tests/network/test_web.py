"""The Integrations page and /api/v1/integrations, with the real network process and
a real webhook receiver behind them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.auth.store import Role
from app.io.commands import SecurityEvent
from tests.io.conftest import IoProc
from tests.network.conftest import SECRET, NetworkProc, Receiver, bearer, wait_until
from tests.support import wait_for
from tests.web.test_metrics import Samples, scrape, value


def test_without_the_network_process_the_api_and_page_say_so(
    web: TestClient, tokens: dict[Role, str]
) -> None:
    reply = web.get("/api/v1/integrations", headers=bearer(tokens[Role.VIEWER]))
    assert reply.status_code == 200
    assert reply.json()["running"] is False
    assert "not running" in reply.json()["error"]
    page = web.get("/integrations", headers={**bearer(tokens[Role.VIEWER]), "Accept": "text/html"})
    assert page.status_code == 200
    assert "The network process does not answer" in page.text
    test = web.post("/api/v1/integrations/webhook/test", headers=bearer(tokens[Role.ADMIN]))
    assert test.status_code == 503


def test_status_test_and_replay_through_the_api(
    io_proc: IoProc, web: TestClient, tokens: dict[Role, str], receiver: Receiver
) -> None:
    env = {"ALARMBRIDGE_WEBHOOK_URL": receiver.url, "ALARMBRIDGE_WEBHOOK_SECRET": SECRET}
    network = NetworkProc(io_proc.data_dir, env)
    try:
        network.start()
        io_proc.client.send(SecurityEvent(state="login", user="seen"))
        wait_until(lambda: receiver.received, what="an event delivered")
        viewer, admin = bearer(tokens[Role.VIEWER]), bearer(tokens[Role.ADMIN])

        def webhook() -> dict[str, object]:
            body = web.get("/api/v1/integrations", headers=viewer).json()
            assert body["running"] is True
            return dict(body["destinations"][0])

        wait_until(lambda: webhook()["backlog"] == 0, what="caught up")
        shown = webhook()
        assert shown["name"] == "webhook"
        assert shown["connected"] is True
        assert shown["last_error"] is None
        page = web.get("/integrations", headers={**viewer, "Accept": "text/html"})
        assert 'data-destination="webhook"' in page.text
        assert "Send a test message" not in page.text  # a viewer reads, an admin acts

        assert web.post("/api/v1/integrations/webhook/test", headers=viewer).status_code == 403
        assert web.post("/api/v1/integrations/webhook/test", headers=admin).status_code == 200
        assert any(r.body["type"] == "alarmbridge.test" for r in receiver.received)
        missing = web.post("/api/v1/integrations/nope/test", headers=admin)
        assert missing.status_code == 404
        assert "no destination 'nope'" in missing.json()["error"]

        first = receiver.received[0].msg_id
        seq = int(first.rsplit("-", 1)[1])
        replay = web.post(
            "/api/v1/integrations/webhook/replay", headers=admin, json={"from_seq": seq}
        )
        assert replay.status_code == 200
        wait_until(lambda: receiver.ids().count(first) == 2, what="sent again")
        bad = web.post("/api/v1/integrations/webhook/replay", headers=admin, json={"from_seq": 0})
        assert bad.status_code == 422
        assert "from_seq" in bad.text

        receiver.failing = True
        io_proc.client.send(SecurityEvent(state="login", user="stuck"))
        wait_until(lambda: webhook()["last_error"], what="the error shown")
        assert "503" in str(webhook()["last_error"])
        page = web.get("/integrations", headers={**viewer, "Accept": "text/html"})
        assert "503" in page.text
    finally:
        receiver.failing = False
        network.close()


def test_metrics_show_each_destinations_backlog_and_lag(
    io_proc: IoProc, web: TestClient, tokens: dict[Role, str], receiver: Receiver
) -> None:
    viewer = bearer(tokens[Role.VIEWER])
    down = scrape(web, **viewer)
    assert value(down, "alarmbridge_network_up") == 0
    assert not [key for key in down if key[0].startswith("alarmbridge_delivery_")]

    env = {"ALARMBRIDGE_WEBHOOK_URL": receiver.url, "ALARMBRIDGE_WEBHOOK_SECRET": SECRET}
    network = NetworkProc(io_proc.data_dir, env)
    try:
        network.start()
        receiver.failing = True  # the peer answers 503: a backlog builds up
        for n in range(3):
            io_proc.client.send(SecurityEvent(state="login", user=f"held{n}"))

        def held() -> Samples:
            samples = scrape(web, **viewer)
            backlog = value(samples, "alarmbridge_delivery_backlog", destination="webhook")
            failed = value(samples, "alarmbridge_delivery_connected", destination="webhook") == 0
            return samples if backlog >= 3 and failed else {}  # (once an attempt has failed)

        samples = wait_for(held, 20, interval=0.05, what="a backlog in /metrics")
        assert value(samples, "alarmbridge_network_up") == 1
        assert value(samples, "alarmbridge_delivery_lag_seconds", destination="webhook") > 0
        assert value(samples, "alarmbridge_delivery_lost_events", destination="webhook") == 0

        receiver.failing = False
        last = max(e["seq"] for e in web.get("/api/v1/events", headers=viewer).json()["events"])

        def drained() -> Samples:
            samples = scrape(web, **viewer)
            cursor = value(samples, "alarmbridge_delivery_last_seq", destination="webhook")
            return samples if cursor >= last else {}

        samples = wait_for(drained, 30, interval=0.05, what="the backlog drained in /metrics")
        assert value(samples, "alarmbridge_delivery_backlog", destination="webhook") == 0
        assert value(samples, "alarmbridge_delivery_lag_seconds", destination="webhook") == 0
        assert value(samples, "alarmbridge_delivery_connected", destination="webhook") == 1
    finally:
        network.close()
