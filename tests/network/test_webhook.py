"""Webhooks end to end: a real io process, the network process, and an HTTP receiver
that verifies every request with the standardwebhooks package."""

from __future__ import annotations

import pytest

from app.io.commands import SecurityEvent, Simulate
from tests.io.conftest import IoProc
from tests.network.conftest import SECRET, NetworkProc, Receiver, wait_until


@pytest.fixture
def network_env(receiver: Receiver) -> dict[str, str]:
    return {"ALARMBRIDGE_WEBHOOK_URL": receiver.url, "ALARMBRIDGE_WEBHOOK_SECRET": SECRET}


def test_each_event_is_posted_signed_in_order_with_its_key(
    io_proc: IoProc, network: NetworkProc, receiver: Receiver
) -> None:
    network.start()
    device = network.status().device_id
    io_proc.client.send(Simulate(action="close", input=1))
    wait_until(
        lambda: any(r.body["data"]["kind"] == "input" for r in receiver.received), what="input"
    )
    assert receiver.rejected == []
    first = next(r for r in receiver.received if r.body["data"]["kind"] == "input")
    assert first.msg_id == f"{device}-{first.body['data']['seq']}"
    assert first.body["type"] == "alarmbridge.input"
    assert first.body["data"]["key"] == first.msg_id
    seqs = [r.body["data"]["seq"] for r in receiver.received]
    assert seqs == sorted(seqs)


def test_a_failing_receiver_gets_everything_again_in_order(
    io_proc: IoProc, network: NetworkProc, receiver: Receiver
) -> None:
    network.start()
    receiver.failing = True
    for n in range(5):
        io_proc.client.send(SecurityEvent(state="login", user=f"burst{n}"))
    wait_until(lambda: network.status().destinations[0].last_error, what="an error")
    status = network.status().destinations[0]
    assert "503" in (status.last_error or "")
    assert status.backlog >= 5
    receiver.failing = False
    wait_until(lambda: network.status().destinations[0].backlog == 0, 30, "drained")
    users = [
        r.body["data"]["source"] for r in receiver.received if r.body["data"]["kind"] == "security"
    ]
    assert users == [f"burst{n}" for n in range(5)]
    assert network.status().destinations[0].last_error is None


def test_test_and_replay_through_the_status_socket(
    io_proc: IoProc, network: NetworkProc, receiver: Receiver
) -> None:
    network.start()
    io_proc.client.send(SecurityEvent(state="login", user="once"))
    wait_until(lambda: any(r.body["data"].get("source") == "once" for r in receiver.received))
    seq = next(
        r.body["data"]["seq"] for r in receiver.received if r.body["data"].get("source") == "once"
    )
    network.client.test("webhook")
    assert any(r.body["type"] == "alarmbridge.test" for r in receiver.received)
    before = len(receiver.received)
    network.client.replay("webhook", seq)
    wait_until(lambda: receiver.ids().count(f"{network.status().device_id}-{seq}") == 2)
    assert len(receiver.received) > before


def test_filters_by_kind(io_proc: IoProc, receiver: Receiver) -> None:
    proc = NetworkProc(
        io_proc.data_dir,
        {
            "ALARMBRIDGE_WEBHOOK_URL": receiver.url,
            "ALARMBRIDGE_WEBHOOK_SECRET": SECRET,
            "ALARMBRIDGE_WEBHOOK_KINDS": "input",
        },
    )
    try:
        proc.start()
        io_proc.client.send(SecurityEvent(state="login", user="skipped"))
        io_proc.client.send(Simulate(action="close", input=1))
        wait_until(lambda: receiver.received, what="the input")
        wait_until(lambda: proc.status().destinations[0].backlog == 0, what="cursor past all")
        assert {r.body["data"]["kind"] for r in receiver.received} == {"input"}
    finally:
        proc.close()


def test_an_io_restart_is_followed_and_nothing_is_missed(
    io_proc: IoProc, network: NetworkProc, receiver: Receiver
) -> None:
    network.start()
    io_proc.client.send(SecurityEvent(state="login", user="before"))
    wait_until(lambda: any(r.body["data"].get("source") == "before" for r in receiver.received))
    io_proc.stop()
    io_proc.start()
    io_proc.client.send(SecurityEvent(state="login", user="after"))
    wait_until(
        lambda: any(r.body["data"].get("source") == "after" for r in receiver.received),
        30,
        "the event after io's restart",
    )
    wait_until(lambda: network.status().stream, 30, "the stream followed again")
    seqs = [r.body["data"]["seq"] for r in receiver.received]
    assert seqs == sorted(seqs)
    assert len(seqs) == len(set(seqs))


def test_a_hanging_receiver_never_holds_up_the_io_process(
    io_proc: IoProc, network: NetworkProc, receiver: Receiver
) -> None:
    network.start()
    receiver.hang_s = 8.0  # each POST waits; the client gives up after 10 s
    for n in range(200):  # each a command the io process must answer (10 s timeout)
        io_proc.client.send(SecurityEvent(state="login", user=f"h{n}"))
    assert io_proc.client.request("status")["eventlog"]["dropped"] == 0
    wait_until(lambda: io_proc.client.request("status")["eventlog"]["pending"] == 0)
    assert network.status().destinations[0].backlog > 0
    receiver.hang_s = 0.0
