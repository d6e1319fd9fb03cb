"""The receiver's answers, frame by frame, without sockets (#21): DUH, no answer
when the io process cannot take the events, another receiver's number, an
encrypted frame without a timestamp, a plain one without (taken), an over-long
line on TCP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from app.network.sia.content import cid_data
from app.network.sia.frame import ADM_CID, DUH, NAK, Frame, parse
from app.network.sia.receiver import SiaReceiver
from app.network.sia.settings import ReceiverSettings

KEY = "0123456789ABCDEF"


def _receiver(applied: list[tuple[int, str, str]], *, fail: bool = False) -> SiaReceiver:
    async def apply(virtual: int, action: str, source: str) -> None:
        if fail:
            raise ConnectionError("the io process is not running")
        applied.append((virtual, action, source))

    settings = ReceiverSettings.model_validate(
        {
            "host": "127.0.0.1",
            "port": 0,
            "udp": False,
            "receiver": "A1",
            "accounts": [
                {"account": "1234", "zones": [{"zone": 3, "virtual": 1}]},
                {"account": "5678", "key": KEY},
            ],
        }
    )
    return SiaReceiver(settings, apply)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _answer(receiver: SiaReceiver, raw: bytes) -> str | None:
    got = asyncio.run(receiver.handle(raw))
    return None if got is None else parse(got, {"5678": KEY}).id


def test_frames_it_cannot_use_get_duh_nak_or_no_answer() -> None:
    applied: list[tuple[int, str, str]] = []
    receiver = _receiver(applied)
    alarm = cid_data("1234", 1, 130, 1, 3)
    assert _answer(receiver, Frame(ADM_CID, 1, "1234", "A1", "0", alarm).encode()) == "ACK"
    assert applied == [(1, "active", "sia:1234:130")]  # a plain frame needs no timestamp
    garbled = Frame(ADM_CID, 2, "1234", "A1", "0", "#1234|what is this").encode()
    assert _answer(receiver, garbled) == DUH
    pulse = Frame("SIA-PUL", 3, "1234", "A1", "0", "#1234|1").encode()
    assert _answer(receiver, pulse) == DUH
    elsewhere = Frame(ADM_CID, 4, "1234", "B2", "0", alarm).encode()
    assert _answer(receiver, elsewhere) == NAK
    untimed = Frame(ADM_CID, 5, "5678", "A1", "0", cid_data("5678", 1, 130, 1, 3)).encode(KEY)
    assert _answer(receiver, untimed) == NAK
    assert receiver.refused == {"data": 2, "receiver": 1, "timestamp": 1}
    status = receiver.status()
    accounts = status.pop("accounts")
    assert status == {
        "host": "127.0.0.1",
        "tcp_port": None,  # not listening: frames handed in directly
        "udp_port": None,
        "acks": 1,
        "accepted": 1,
        "refused": {"data": 2, "receiver": 1, "timestamp": 1},
    }
    assert isinstance(accounts, list)
    assert [(a["account"], a["encrypted"], a["supervision"]) for a in accounts] == [
        ("1234", False, "off"),
        ("5678", True, "off"),
    ]
    assert accounts[0]["last_message_utc_us"] > 0 and accounts[1]["last_message_utc_us"] is None

    down = _receiver([], fail=True)
    restore = Frame(ADM_CID, 6, "1234", "A1", "0", cid_data("1234", 3, 130, 1, 3), timestamp=_now())
    assert _answer(down, restore.encode()) is None  # the panel sends it again
    assert down.accepted == 0


def test_an_over_long_line_closes_the_connection() -> None:
    receiver = _receiver([])

    async def go() -> bytes:
        port, _ = await receiver.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"\n" + b"X" * 10_000)
            await writer.drain()
            got = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            return got
        finally:
            await receiver.stop()

    assert asyncio.run(go()) == b""  # closed, nothing answered


def test_tcp_and_udp_share_the_port() -> None:
    settings = ReceiverSettings.model_validate({"host": "127.0.0.1", "port": 0})

    async def noop(virtual: int, action: str, source: str) -> None:
        return None

    receiver = SiaReceiver(settings, noop)

    async def go() -> tuple[int, int | None]:
        try:
            return await receiver.start()
        finally:
            await receiver.stop()

    tcp, udp = asyncio.run(go())
    assert tcp == udp
