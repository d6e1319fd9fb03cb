"""The SIA DC-09 sender against pysiaalarm's receiver (a real peer: what Home
Assistant's ``sia`` integration runs), in a process of its own so it can be killed
(#21): plain and encrypted, backup receiver, NULL supervision, and a receiver
killed during a burst: everything arrives after it is back, in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.events import Cause, Event, Kind
from app.network.destination import Delivery, DeliveryError
from app.network.sia.sender import SiaSender, contact_id, zone_of
from app.network.sia.settings import SenderSettings

KEY = "0123456789ABCDEF"  # AES-128
ACCOUNT = "1234"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Peer:
    """pysiaalarm's receiver in a subprocess; what it ACKed, line by line."""

    def __init__(self, port: int, key: str | None = None) -> None:
        self.port, self.key = port, key
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        args = [sys.executable, "-m", "tests.network.sia.pysia_peer", str(self.port), ACCOUNT]
        self.proc = subprocess.Popen(
            [*args, *([self.key] if self.key else [])],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first.strip() == "listening", f"pysiaalarm did not start: {first!r}"
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(json.loads(line))

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            self.proc = None

    def got(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            out.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
        return out


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer(_free_port())
    yield p
    p.kill()


@pytest.fixture
def encrypted_peer() -> Iterator[Peer]:
    p = Peer(_free_port(), KEY)
    yield p
    p.kill()


def _event(seq: int, what: Kind, state: str, channel: str | None = None, **detail: Any) -> Event:
    return Event(
        kind=what,
        state=state,
        cause=Cause.INPUT,
        utc_us=int(time.time() * 1e6),
        mono_ns=time.monotonic_ns(),
        boot_id="boot",
        clock_synced=True,
        channel=channel,
        detail=detail or None,
        seq=seq,
    )


def _batch(*events: Event) -> list[Delivery]:
    return [Delivery(f"dev-{e.seq}", e) for e in events]


MIXED = [
    _event(1, Kind.INPUT, "alarm", "IN1", kind="alarm"),
    _event(2, Kind.OUTPUT, "active", "OUT1"),  # not reported
    _event(3, Kind.INPUT, "normal", "IN1", kind="alarm"),
    _event(4, Kind.INPUT, "alarm", "Lid tamper", kind="24h"),
    _event(5, Kind.FAULT, "raised", "IN2", code="stuck"),
    _event(6, Kind.INPUT, "armed", "Panel armed", kind="armed-state"),
    _event(7, Kind.SYSTEM, "started"),
]


def _settings(peer: Peer, **more: Any) -> SenderSettings:
    base = {
        "enabled": True,
        "primary": {"host": "127.0.0.1", "port": peer.port},
        "account": ACCOUNT,
        "key": peer.key,
        "timeout_s": 5,
        "zones": {"Lid tamper": 9},
    }
    return SenderSettings.model_validate(base | more)


def _deliver(sender: SiaSender, batch: list[Delivery]) -> None:
    async def go() -> None:
        try:
            await sender.deliver(batch)
        finally:
            await sender.aclose()

    asyncio.run(go())


@pytest.mark.parametrize("encrypted", [False, True])
def test_events_arrive_as_contact_id(peer: Peer, encrypted_peer: Peer, encrypted: bool) -> None:
    receiver = encrypted_peer if encrypted else peer
    receiver.start()
    sender = SiaSender(_settings(receiver))
    _deliver(sender, _batch(*MIXED))
    got = receiver.got(6)
    assert [(g["code"], g["zone"], g["sequence"]) for g in got] == [
        ("BA", "001", "0002"),  # 130 burglary, zone from "IN1", sequence from seq 1
        ("BH", "001", "0004"),  # its restore
        ("TA", "009", "0005"),  # 137 tamper, the zone set for it
        ("YX", "002", "0006"),  # 300 system trouble
        ("CL", "000", "0007"),  # 401 closing (armed)
        ("YW", "000", "0008"),  # 305 system reset
    ]
    assert {g["encrypted"] for g in got} == {encrypted}
    assert {g["type"] for g in got} == {"ADM-CID"}
    assert not sender.duh


def test_null_supervision_and_the_backup(peer: Peer) -> None:
    peer.start()
    dead = _free_port()  # nothing listens there: the primary is down
    settings = _settings(peer, primary={"host": "127.0.0.1", "port": dead})
    settings.backup = settings.primary.model_copy(update={"port": peer.port})  # type: ignore[union-attr]
    sender = SiaSender(settings)

    async def go() -> None:
        await sender.send_null()
        await sender.deliver(_batch(MIXED[0]))
        await sender.aclose()

    asyncio.run(go())
    null, alarm = peer.got(2)
    assert (null["type"], null["code"]) == ("NULL", "RP")
    assert alarm["code"] == "BA"
    only_dead = SiaSender(_settings(peer, primary={"host": "127.0.0.1", "port": dead}))
    with pytest.raises(DeliveryError, match="no SIA receiver took the message"):
        _deliver(only_dead, _batch(MIXED[0]))
    assert only_dead.last_error is not None and str(dead) in only_dead.last_error


def _burst(peer: Peer, count: int, outage_s: float) -> None:
    """What the delivery loop does (a cursor that moves only when a batch is
    taken), with the receiver killed a third of the way and back ``outage_s`` later."""
    events = [
        _event(n, Kind.INPUT, "alarm" if n % 2 else "normal", "IN1", kind="alarm")
        for n in range(1, count + 1)
    ]
    sender = SiaSender(_settings(peer, timeout_s=2))
    printed: list[int] = []
    peer.start()

    async def loop() -> None:
        cursor, killed_at, back = 0, None, False
        while cursor < len(events):
            if cursor == count // 3 and killed_at is None:
                # pysiaalarm ACKs before it hands a message on: let it print what it
                # ACKed (it would be lost in Home Assistant too), then kill it.
                await asyncio.to_thread(_wait_printed, peer, cursor, printed)
                peer.kill()
                killed_at = time.monotonic()
            if killed_at is not None and not back and time.monotonic() - killed_at >= outage_s:
                peer.start()
                back = True
            try:
                await sender.deliver(_batch(*events[cursor : cursor + 5]))
                cursor += 5
            except DeliveryError:
                await asyncio.sleep(0.2)
        await sender.aclose()

    asyncio.run(loop())
    seqs = list(printed)
    for line in iter(lambda: peer.lines.get(timeout=10), None):
        seq = int(line["sequence"]) - 1
        seqs.append(seq)
        if seq == count:
            break
    # Everything, in order, once: the kill came between two batches, and a batch
    # the dead receiver did not ACK is sent again whole, with the same numbers.
    assert seqs == list(range(1, count + 1))


def _wait_printed(peer: Peer, last: int, printed: list[int]) -> None:
    while not printed or printed[-1] != last:
        printed.append(int(peer.lines.get(timeout=10)["sequence"]) - 1)


def test_a_receiver_killed_during_a_burst_gets_everything_in_order(peer: Peer) -> None:
    _burst(peer, count=30, outage_s=2)


@pytest.mark.faults_full
def test_a_receiver_killed_for_a_minute_gets_everything_in_order(peer: Peer) -> None:
    _burst(peer, count=300, outage_s=60)


def test_what_is_reported_and_as_which_zone() -> None:
    settings = SenderSettings(zones={"Front door": 12})
    assert zone_of("IN3", {}) == 3
    assert zone_of("Front door", settings.zones) == 12
    assert zone_of("Hall", {}) == 0
    assert [contact_id(e, settings) for e in MIXED] == [
        (1, 130, 1),
        None,
        (3, 130, 1),
        (1, 137, 0),
        (1, 300, 2),
        (3, 401, 0),
        (1, 305, 0),
    ]
    dvr = _event(8, Kind.INPUT, "alarm", "IN4", kind="dvr")
    not_armed = _event(9, Kind.INPUT, "alarm-not-armed", "IN1", kind="alarm")
    assert contact_id(dvr, settings) is None and contact_id(not_armed, settings) is None


def test_the_sender_and_our_receiver_agree_and_a_nak_is_retried_then_reported() -> None:
    """Our sender to our receiver (both directions of the codec in one run): an
    encrypted report is ACKed and applied once; with the wrong key every try is
    refused with NAK, and after 3 the batch is not taken."""
    from app.network.sia.receiver import SiaReceiver
    from app.network.sia.settings import ReceiverSettings

    applied: list[tuple[int, str, str]] = []

    async def apply(virtual: int, action: str, source: str) -> None:
        applied.append((virtual, action, source))

    receiver = SiaReceiver(
        ReceiverSettings.model_validate(
            {
                "host": "127.0.0.1",
                "port": 0,
                "udp": False,
                "accounts": [
                    {"account": ACCOUNT, "key": KEY, "zones": [{"zone": 1, "virtual": 4}]}
                ],
            }
        ),
        apply,
    )

    async def go() -> None:
        port, _ = await receiver.start()
        peer = {"host": "127.0.0.1", "port": port}
        good_key = {"primary": peer, "account": ACCOUNT, "key": KEY}
        good = SiaSender(SenderSettings.model_validate(good_key))
        await good.deliver(_batch(MIXED[0], MIXED[2]))
        await good.aclose()
        wrong_key = good_key | {"key": KEY[::-1]}
        wrong = SiaSender(SenderSettings.model_validate(wrong_key))
        with pytest.raises(DeliveryError, match=r"refused it 3 times \(NAK\)"):
            await wrong.deliver(_batch(MIXED[0]))
        await wrong.aclose()
        await receiver.stop()

    asyncio.run(go())
    assert applied == [(4, "active", "sia:1234:130"), (4, "inactive", "sia:1234:130")]
    assert receiver.refused["decrypt"] + receiver.refused["format"] == 3


def test_null_messages_go_out_on_their_interval(peer: Peer) -> None:
    peer.start()
    sender = SiaSender(_settings(peer, null_s=1))

    async def go() -> None:
        task = asyncio.create_task(sender.supervise())
        await asyncio.sleep(2.6)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sender.aclose()

    asyncio.run(go())
    nulls = peer.got(2)
    assert [(n["type"], n["sequence"]) for n in nulls] == [("NULL", "0001"), ("NULL", "0002")]


def test_a_sender_with_a_wrong_clock_takes_the_time_from_the_nak() -> None:
    """DC-09: a NAK carries the receiver's time; the sender resends with it."""
    from datetime import UTC, datetime, timedelta

    from app.network.sia.receiver import SiaReceiver
    from app.network.sia.settings import ReceiverSettings

    applied: list[tuple[int, str, str]] = []

    async def apply(virtual: int, action: str, source: str) -> None:
        applied.append((virtual, action, source))

    account = {"account": ACCOUNT, "zones": [{"zone": 1, "virtual": 2}]}
    settings = {"host": "127.0.0.1", "port": 0, "udp": False, "accounts": [account]}
    receiver = SiaReceiver(ReceiverSettings.model_validate(settings), apply)

    async def go() -> None:
        port, _ = await receiver.start()
        peer = {"primary": {"host": "127.0.0.1", "port": port}, "account": ACCOUNT}
        slow = SiaSender(
            SenderSettings.model_validate(peer),
            now=lambda: datetime.now(UTC) - timedelta(minutes=5),  # 5 minutes behind
        )
        await slow.deliver(_batch(MIXED[0]))
        await slow.aclose()
        await receiver.stop()
        assert abs(float(str(slow.status()["clock_offset_s"])) - 300) < 5

    asyncio.run(go())
    assert receiver.refused == {"timestamp": 1}  # the first try, then taken
    assert applied == [(2, "active", "sia:1234:130")]
