"""Where destinations new to the network process start: at the log's end, all of
them alike, even when the log cannot be read at first or the status is asked for
before the delivery loops have looked at the log.

This was once seen in the fault tests: one destination started at seq 0 and sent the
start-up events the other one skipped. Two causes, both fixed: the status command
wrote a cursor at 0 for a loop that had not yet found the log's end (the cursor is
made only once, so the loop's own start point was then ignored), and a failed first
read of the log also wrote a cursor at 0."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from app.eventlog.database import make_engine
from app.eventlog.queries import last_seq
from app.io.commands import SecurityEvent
from app.network.client import NetworkClient, NetworkError
from app.network.delivery import DeliveryLoop
from app.network.outbox import Outbox
from app.network.source import EventSource
from app.network.webhook import WebhookDestination
from tests.io.conftest import CLI, IoProc
from tests.network.conftest import (
    SECRET,
    Broker,
    NetworkProc,
    Receiver,
    Subscriber,
    wait_until,
)

PREFIX = "start/site"
HOLD_S = 6.0  # longer than the readers' 5 s busy timeout: their first read fails


class Asking:
    """Asks the network process for its status as fast as it answers, in a thread."""

    def __init__(self, client: NetworkClient) -> None:
        self.client = client
        self.answers = 0
        self.starting_seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = self.client.request("status")
            except NetworkError:
                time.sleep(0.01)
                continue
            self.answers += 1
            self.starting_seen += sum(1 for d in status["destinations"] if d.get("starting"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(15)


def test_new_destinations_start_alike_at_the_logs_end_though_its_first_read_fails(
    io_proc: IoProc, broker: Broker, receiver: Receiver
) -> None:
    for n in range(5):
        io_proc.client.send(SecurityEvent(state="login", user=f"before{n}"))
    io_proc.stop()
    db_path = io_proc.data_dir / "alarmbridge.db"
    db = make_engine(db_path, read_only=True)
    try:
        end = last_seq(db)
    finally:
        db.dispose()
    assert end >= 5
    sub = Subscriber(broker, f"{PREFIX}/event", name="start")
    network = NetworkProc(
        io_proc.data_dir,
        {
            "ALARMBRIDGE_MQTT_URL": broker.url,
            "ALARMBRIDGE_MQTT_PREFIX": PREFIX,
            "ALARMBRIDGE_MQTT_DISCOVERY": "false",
            "ALARMBRIDGE_WEBHOOK_URL": receiver.url,
            "ALARMBRIDGE_WEBHOOK_SECRET": SECRET,
        },
    )
    # The log is held (as during a recovery) while the network process starts, and
    # its status is asked for all the while (as the tests and the web process do).
    lock = sqlite3.connect(db_path, isolation_level=None)
    lock.execute("PRAGMA locking_mode = EXCLUSIVE")
    lock.execute("BEGIN EXCLUSIVE")
    lock.execute("DELETE FROM meta WHERE key = 'no-such-key'")  # the write lock, held
    asking = Asking(network.client)
    try:
        network.proc = subprocess.Popen(
            [*CLI, "network", "run", "--data-dir", str(io_proc.data_dir)],
            env=network.env,
            stdout=network.log,
            stderr=network.log,
        )
        # held from when its loops have started (their first look at the log)
        log = io_proc.data_dir.parent / "network.log"
        wait_until(lambda: b"destinations mqtt, webhook" in log.read_bytes(), 60, "started")
        time.sleep(HOLD_S)
        lock.execute("ROLLBACK")
        lock.close()
        io_proc.start()  # its start-up events come after `end`
        wait_until(
            lambda: all(d.cursor > end for d in network.status().destinations),
            60,
            "both destinations past the log's end",
        )
        wait_until(lambda: sub.on(f"{PREFIX}/event") and receiver.received, 30)
        hook_seqs = [r.body["data"]["seq"] for r in receiver.received]
        mqtt_seqs = [m.json()["seq"] for m in sub.on(f"{PREFIX}/event")]
        # nothing from before the start: both began right after the log's end
        assert min(hook_seqs) == end + 1
        assert min(mqtt_seqs) == end + 1
        asking.close()  # and the status answered at once while they were starting
        assert asking.starting_seen > 0
    finally:
        asking.close()
        lock.close()
        network.close()
        sub.close()


def test_a_status_asked_before_the_loop_found_the_logs_end_makes_no_cursor(
    io_proc: IoProc, receiver: Receiver, tmp_path: Path
) -> None:
    """The status race alone, in one process: asked while the loop's first read of
    the log is under way (in a thread), it used to make the cursor at 0."""
    data = io_proc.data_dir
    for n in range(3):
        io_proc.client.send(SecurityEvent(state="login", user=f"early{n}"))
    wait_until(lambda: io_proc.client.request("status")["eventlog"]["pending"] == 0)

    async def scenario() -> tuple[dict[str, Any], int, int]:
        source = EventSource(data / "alarmbridge.db", data / "io.sock")
        outbox = Outbox(tmp_path / "network.db")
        hook = WebhookDestination(receiver.url, SECRET, "ab-000000000001")

        async def no_fault(code: str, active: bool, message: str) -> None:
            return None

        loop = DeliveryLoop(hook, outbox, source, "ab-000000000001", no_fault)
        running = asyncio.create_task(loop.run())
        try:
            early = await loop.status()  # before run()'s first read has returned
            end = await source.newest_seq()
            while not loop.started:
                await asyncio.sleep(0.01)
            cursor = outbox.find("webhook")
            assert cursor is not None
            return early, cursor.seq, end
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await hook.aclose()
            source.close()
            outbox.close()

    early, start, end = asyncio.run(scenario())
    assert early["starting"] and early["cursor"] == 0 and early["backlog"] == -1
    assert "waiting" in early["last_error"]
    assert start == end > 3  # at the log's end, not at the 0 the status showed
