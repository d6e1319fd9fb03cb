"""MQTT end to end: a real io process on simulated pins, the real network process,
a real Mosquitto broker and mosquitto_sub as the independent subscriber."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from app.io.commands import NetworkFault, Simulate
from tests.io.conftest import IoProc
from tests.network.conftest import Broker, NetworkProc, Subscriber, wait_until

PREFIX = "site/one"


@pytest.fixture
def network_env(broker: Broker) -> dict[str, str]:
    return {"ALARMBRIDGE_MQTT_URL": broker.url, "ALARMBRIDGE_MQTT_PREFIX": PREFIX}


@pytest.fixture
def sub(broker: Broker) -> Iterator[Subscriber]:
    s = Subscriber(broker, f"{PREFIX}/#", "homeassistant/#")
    yield s
    s.close()


def test_an_input_edge_reaches_the_broker_with_its_key_and_retained_state(
    io_proc: IoProc, network: NetworkProc, broker: Broker, sub: Subscriber
) -> None:
    network.start()
    device = network.status().device_id
    wait_until(lambda: sub.on(f"{PREFIX}/availability"), what="availability online")
    assert sub.on(f"{PREFIX}/availability")[-1].payload == "online"

    io_proc.client.send(Simulate(action="close", input=1))
    wait_until(
        lambda: any(m.json()["kind"] == "input" for m in sub.on(f"{PREFIX}/event")),
        what="the input event",
    )
    event = next(m.json() for m in sub.on(f"{PREFIX}/event") if m.json()["kind"] == "input")
    assert event["key"] == f"{device}-{event['seq']}"
    assert event["device_id"] == device
    assert event["state"].startswith("alarm")
    assert not sub.on(f"{PREFIX}/event")[0].retained
    channel = event["channel"]
    slug = channel.lower().replace(" ", "_")
    wait_until(lambda: broker.retained(f"{PREFIX}/input/{slug}/state") == "ON", what="ON kept")
    # the output the input drives is ON as well, and retained
    wait_until(
        lambda: any(m.json()["kind"] == "output" for m in sub.on(f"{PREFIX}/event")),
        what="the output event",
    )
    output = next(m.json() for m in sub.on(f"{PREFIX}/event") if m.json()["kind"] == "output")
    out_slug = output["channel"].lower().replace(" ", "_")
    assert broker.retained(f"{PREFIX}/output/{out_slug}/state") == (
        "ON" if output["state"] == "active" else "OFF"
    )

    io_proc.client.send(Simulate(action="open", input=1))
    wait_until(lambda: broker.retained(f"{PREFIX}/input/{slug}/state") == "OFF", what="OFF kept")
    seqs = [m.json()["seq"] for m in sub.on(f"{PREFIX}/event")]
    assert seqs == sorted(seqs)
    status = network.status().destinations[0]
    assert status.name == "mqtt"
    assert status.connected
    assert status.last_error is None
    wait_until(lambda: network.status().destinations[0].backlog == 0, what="no backlog")


def test_home_assistant_discovery_is_retained_and_sent_again_on_its_birth(
    io_proc: IoProc, network: NetworkProc, broker: Broker, sub: Subscriber
) -> None:
    network.start()
    device = network.status().device_id
    topic = f"homeassistant/device/{device}/config"
    wait_until(lambda: sub.on(topic), what="discovery")
    document = sub.on(topic)[0].json()
    assert document["dev"]["ids"] == [device]
    assert document["availability_topic"] == f"{PREFIX}/availability"
    platforms = [c["p"] for c in document["cmps"].values()]
    status = io_proc.client.request("status")
    assert platforms.count("binary_sensor") == len(status["inputs"]) + 1  # + the fault
    assert platforms.count("switch") == len(status["outputs"])
    assert platforms.count("button") == 1
    assert platforms.count("event") == len(status["inputs"])  # one per input, for automations
    fault = document["cmps"]["fault"]
    assert fault["device_class"] == "problem"
    assert all(c["name"] and c["unique_id"].startswith(device) for c in document["cmps"].values())
    kept = broker.retained(topic)
    assert kept is not None
    assert json.loads(kept) == document

    before = len(sub.on(topic))
    broker.publish("homeassistant/status", "online")
    wait_until(lambda: len(sub.on(topic)) > before, what="discovery again after HA's birth")
    assert sub.on(topic)[-1].json() == document


def test_each_alarm_and_restore_fires_the_inputs_home_assistant_event(
    io_proc: IoProc, network: NetworkProc, sub: Subscriber
) -> None:
    network.start()
    device = network.status().device_id
    topic = f"homeassistant/device/{device}/config"
    wait_until(lambda: sub.on(topic), what="discovery")
    status = io_proc.client.request("status")
    first = status["inputs"][0]
    name = first["name"]
    slug = name.lower().replace(" ", "_")
    entity = sub.on(topic)[-1].json()["cmps"][f"input_{slug}_event"]
    assert entity["p"] == "event"
    assert entity["state_topic"] == f"{PREFIX}/input/{slug}/event"
    assert entity["unique_id"] == f"{device}_input_{slug}_event"
    assert "restore" in entity["event_types"]

    fired = f"{PREFIX}/input/{slug}/event"
    for _ in range(2):  # two alarms: two triggers, each with its own key
        io_proc.client.send(Simulate(action="close", input=1))
        wait_until(lambda: io_proc.client.request("status")["inputs"][0]["alarm"])
        io_proc.client.send(Simulate(action="open", input=1))
        wait_until(lambda: not io_proc.client.request("status")["inputs"][0]["alarm"])
    wait_until(lambda: len(sub.on(fired)) >= 4, what="four events on the input's event topic")
    events = [m.json() for m in sub.on(fired)]
    assert not any(m.retained for m in sub.on(fired))
    types = [e["event_type"] for e in events]
    assert types[1::2] == ["restore", "restore"]
    assert all(t.startswith("alarm") for t in types[0::2])
    assert set(types) <= set(entity["event_types"])  # HA drops a type it was not told of
    # the same rows as on <prefix>/event: the same keys, in order
    logged = {m.json()["key"]: m.json() for m in sub.on(f"{PREFIX}/event")}
    for e in events:
        row = logged[e["key"]]
        assert (row["seq"], row["channel"], row["state"]) == (e["seq"], name, e["state"])
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


def test_a_broker_outage_is_drained_in_order_after_reconnect(
    io_proc: IoProc, network: NetworkProc, broker: Broker, sub: Subscriber
) -> None:
    network.start()
    wait_until(lambda: network.status().destinations[0].connected, what="connected")
    broker.stop()
    try:
        wait_until(lambda: not network.status().destinations[0].connected, what="disconnected")
        for _ in range(3):
            io_proc.client.send(Simulate(action="close", input=2))
            wait_until(lambda: io_proc.client.request("status")["inputs"][1]["alarm"])
            io_proc.client.send(Simulate(action="open", input=2))
            wait_until(lambda: not io_proc.client.request("status")["inputs"][1]["alarm"])
        wait_until(lambda: network.status().destinations[0].backlog > 0, what="a backlog")
        assert network.status().destinations[0].last_error
    finally:
        broker.start()
    wait_until(lambda: network.status().destinations[0].backlog == 0, 60, "drained")
    wait_until(
        lambda: len([m for m in sub.on(f"{PREFIX}/event") if m.json()["channel"] == "IN2"]) >= 6,
        30,
        "IN2's six events",
    )
    seqs = [m.json()["seq"] for m in sub.on(f"{PREFIX}/event")]
    first_seen = list(dict.fromkeys(seqs))
    assert first_seen == sorted(first_seen)


def test_a_fault_turns_the_problem_sensor_on_and_off(
    io_proc: IoProc, network: NetworkProc, broker: Broker, sub: Subscriber
) -> None:
    network.start()
    wait_until(lambda: broker.retained(f"{PREFIX}/fault/state") == "OFF", what="no fault")
    io_proc.client.send(NetworkFault(code="test-fault", active=True, message="a test fault"))
    wait_until(lambda: broker.retained(f"{PREFIX}/fault/state") == "ON", what="fault ON")
    attributes = json.loads(broker.retained(f"{PREFIX}/fault/attributes") or "{}")
    assert {"code": "test-fault", "message": "a test fault"} in attributes["faults"]
    io_proc.client.send(NetworkFault(code="test-fault", active=False, message="gone"))
    wait_until(lambda: broker.retained(f"{PREFIX}/fault/state") == "OFF", what="fault OFF")
