"""Virtual inputs over MQTT (#21): with commands on, ``<prefix>/virtual/<slug>/set``
(``ON``, ``OFF``, ``PULSE <s>``) signals the virtual input through a real Mosquitto
broker, the network process and a real io process; the relay follows."""

from __future__ import annotations

from app.eventlog.database import make_engine
from app.eventlog.queries import events_after
from tests.io.conftest import IoProc
from tests.network.conftest import Broker, NetworkProc, wait_until

PREFIX = "virtual/site"


def test_a_virtual_input_is_signalled_over_mqtt(io_proc: IoProc, broker: Broker) -> None:
    config = io_proc.client.request("config-get")
    config["virtual_inputs"] = [{"name": "Yard Camera", "kind": "dvr", "outputs": [3]}]
    io_proc.client.request("config-set", config=config, user="ann")
    network = NetworkProc(
        io_proc.data_dir,
        {
            "ALARMBRIDGE_MQTT_URL": broker.url,
            "ALARMBRIDGE_MQTT_PREFIX": PREFIX,
            "ALARMBRIDGE_MQTT_COMMANDS": "true",
        },
    )

    def relay() -> bool:
        return bool(io_proc.client.request("status")["outputs"][2]["energised"])

    try:
        network.start()
        wait_until(lambda: network.status().destinations[0].connected, what="connected")
        broker.publish(f"{PREFIX}/virtual/yard_camera/set", "ON")
        wait_until(relay, what="the relay on")
        broker.publish(f"{PREFIX}/virtual/v1/set", "OFF")  # by its label too
        wait_until(lambda: not relay(), what="the relay off")
        broker.publish(f"{PREFIX}/virtual/v1/set", "PULSE 1")
        wait_until(relay, what="the pulse")
        wait_until(lambda: not relay(), what="the pulse's end")
        device = network.status().device_id
        engine = make_engine(io_proc.data_dir / "alarmbridge.db", read_only=True)
        try:
            rows = [e for e in events_after(engine, 0, limit=10_000) if e.channel == "Yard Camera"]
        finally:
            engine.dispose()
        assert [(e.state, e.source) for e in rows][:3] == [
            ("alarm", f"mqtt:alarmbridge-{device}"),
            ("normal", f"mqtt:alarmbridge-{device}"),
            ("alarm", f"mqtt:alarmbridge-{device}"),
        ]
    finally:
        network.close()
