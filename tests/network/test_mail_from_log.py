"""Events from a real log, made by a real io process on simulated pins (an alarm
on IN1, the manual trigger), mailed to the real SMTP server: the destination's
idea of which rows belong together matches what the engine logs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.pool import NullPool

from app.eventlog.database import make_engine
from app.eventlog.queries import events_after
from app.events import Event, Kind
from app.io.commands import Simulate, Trigger
from app.io.process import IoProcess
from app.io.protocol import Client
from app.network.destination import Delivery
from app.network.mail import MailDestination
from app.network.smtp_url import parse_smtp_url
from app.settings import Settings
from tests.network.smtp_peer import Server


@pytest.fixture
def io(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(data_dir=tmp_path / "data", pins="mock", timezone="Europe/Brussels")
    process = IoProcess(settings)
    process.start()
    try:
        yield settings
    finally:
        process.stop()


def logged(settings: Settings, until: int) -> list[Event]:
    """The log's rows once at least ``until`` rows worth a mail or companion are in."""
    db = make_engine(settings.db_path, read_only=True, poolclass=NullPool)
    try:
        deadline = time.monotonic() + 10
        while True:
            rows = events_after(db, 0)
            kinds = [r for r in rows if r.kind in (Kind.INPUT, Kind.OUTPUT, Kind.OPERATOR)]
            if len(kinds) >= until or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)
    finally:
        db.dispose()


def test_an_alarm_and_a_trigger_from_the_log(io: Settings, smtp_server: Server) -> None:
    client = Client(io.socket_path)
    client.send(Simulate(action="close", input=1))
    time.sleep(0.3)
    client.send(Trigger(user="alice"))
    rows = logged(io, until=4)
    dest = MailDestination(
        parse_smtp_url(smtp_server.url("smtp+starttls")),
        ["installer@example.com"],
        "bridge@example.com",
        ZoneInfo("Europe/Brussels"),
    )
    batch = [Delivery(f"ab-test-{e.seq}", e) for e in rows if dest.wants(e)]

    async def send() -> None:
        await dest.deliver(batch)
        await asyncio.sleep(0.05)  # let the TLS connection finish closing

    asyncio.run(send())
    alarm, trigger = smtp_server.keeper.wait(2)
    assert alarm.message["Subject"].endswith("ALARM: IN1")
    assert "switched on: DVR channel CH1" in alarm.body  # OUT1, driven by IN1
    assert trigger.message["Subject"].endswith("Manual trigger by alice")
    assert "DVR channel" in trigger.body and "no output was switched on" not in trigger.body
