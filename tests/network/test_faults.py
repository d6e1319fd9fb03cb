"""Faults during bursts: the network process killed with SIGKILL, the broker
restarted; every event arrives at both the broker's subscriber and the webhook
receiver, in order, with duplicates only where the idempotency key repeats.

A few kills and restarts in `make test`; the issue's 50 kills and 20 broker restarts
with ``-m faults_full`` (`make faults`)."""

from __future__ import annotations

import random
import threading
import time

import pytest

from app.eventlog.database import make_engine
from app.eventlog.queries import events_after, last_seq
from app.io.commands import SecurityEvent
from app.io.protocol import ControlError
from tests.io.conftest import IoProc
from tests.network.conftest import (
    SECRET,
    Broker,
    NetworkProc,
    Receiver,
    Subscriber,
    wait_until,
)

PREFIX = "faults/site"


class Burst:
    """Security events logged as fast as the io socket takes them, in a thread."""

    def __init__(self, io: IoProc) -> None:
        self.io = io
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.io.client.send(SecurityEvent(state="login", user=f"b{self.sent}"))
                self.sent += 1
            except ControlError:
                time.sleep(0.01)
            time.sleep(0.002)

    def __enter__(self) -> Burst:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def check_order(keys: list[str], expected: list[str]) -> int:
    """Every expected key is there, first seen in order; returns the repeats."""
    first_seen = list(dict.fromkeys(keys))
    assert first_seen == expected
    return len(keys) - len(first_seen)


def scenario(io: IoProc, broker: Broker, receiver: Receiver, kills: int, restarts: int) -> None:
    sub = Subscriber(broker, f"{PREFIX}/event", name="faults")
    network = NetworkProc(
        io.data_dir,
        {
            "ALARMBRIDGE_MQTT_URL": broker.url,
            "ALARMBRIDGE_MQTT_PREFIX": PREFIX,
            "ALARMBRIDGE_MQTT_DISCOVERY": "false",
            "ALARMBRIDGE_WEBHOOK_URL": receiver.url,
            "ALARMBRIDGE_WEBHOOK_SECRET": SECRET,
        },
    )
    rng = random.Random(18)
    try:
        network.start()
        # New destinations start at the log's end, alike (tests/network/test_start.py);
        # the io process may still be logging: let both catch up, and count from there.
        db = make_engine(io.data_dir / "alarmbridge.db", read_only=True)
        try:
            start_seq = last_seq(db)
        finally:
            db.dispose()
        wait_until(
            lambda: all(d.cursor >= start_seq for d in network.status().destinations),
            60,
            "both destinations at the log's end before the burst",
        )
        actions = ["kill"] * kills + ["restart"] * restarts
        rng.shuffle(actions)
        with Burst(io):
            for action in actions:
                time.sleep(rng.uniform(0.1, 0.5))
                if action == "kill":
                    network.kill()
                    network.start()
                else:
                    broker.restart(down_s=rng.uniform(0.1, 1.0))
        db = make_engine(io.data_dir / "alarmbridge.db", read_only=True)
        try:
            end_seq = last_seq(db)
            wait_until(
                lambda: all(d.cursor >= end_seq for d in network.status().destinations),
                180,
                "both destinations caught up",
            )
            expected = [e.seq for e in events_after(db, start_seq, limit=1_000_000)]
        finally:
            db.dispose()
        device = network.status().device_id
        keys = [f"{device}-{s}" for s in expected]
        wait_until(
            lambda: len({m.json()["key"] for m in sub.on(f"{PREFIX}/event")}) >= len(keys), 60
        )
        mqtt_keys = [m.json()["key"] for m in sub.on(f"{PREFIX}/event")]
        mqtt_keys = [k for k in mqtt_keys if int(k.rsplit("-", 1)[1]) > start_seq]
        hook_keys = [k for k in receiver.ids() if int(k.rsplit("-", 1)[1]) > start_seq]
        repeats = check_order(mqtt_keys, keys), check_order(hook_keys, keys)
        print(
            f"{len(keys)} events, {kills} kills, {restarts} broker restarts: repeats "
            f"(mqtt, webhook) {repeats}, webhook requests cut short by a kill {receiver.aborted}"
        )
        assert receiver.rejected == []
    finally:
        network.close()
        sub.close()


def test_kills_and_broker_restarts_during_a_burst_lose_nothing(
    io_proc: IoProc, broker: Broker, receiver: Receiver
) -> None:
    scenario(io_proc, broker, receiver, kills=3, restarts=2)


@pytest.mark.faults_full
def test_fifty_kills_and_twenty_broker_restarts(
    io_proc: IoProc, broker: Broker, receiver: Receiver
) -> None:
    scenario(io_proc, broker, receiver, kills=50, restarts=20)
