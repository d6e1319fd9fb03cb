"""The SIA DC-09 receiver against an independent sender (#21).

Frames are built by siadc09 (a DC-09 implementation written by someone else: a
panel's side) and sent over real TCP and UDP sockets to the receiver; the
receiver hands its signals to a real io process (simulated pins, MockFactory
relays) over the io socket. Answers are read back with siadc09's parser.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from siadc09 import account as dc09_account
from siadc09 import message as dc09_message
from siadc09.admcid import parse_admcid
from siadc09.siadcs import parse_siadcs

from app.network.sia.bridge import io_apply, io_fault
from app.network.sia.receiver import SiaReceiver
from app.network.sia.settings import ReceiverSettings
from tests.io.conftest import IoProc, cli

KEY = "0123456789ABCDEF0123456789ABCDEF"  # AES-256
SETTINGS = ReceiverSettings.model_validate(
    {
        "enabled": True,
        "host": "127.0.0.1",
        "port": 0,
        "accounts": [
            {"account": "1234", "zones": [{"zone": 3, "virtual": 1}], "armed_virtual": 2},
            {"account": "5678", "key": KEY, "zones": [{"zone": 3, "virtual": 1}]},
            {"account": "9ABC", "poll_s": 1},
        ],
    }
)


def _frame(
    token: str,
    data: bytes,
    *,
    acct: int = 0x1234,
    key: str | None = None,
    seq: int = 1,
    skew_s: float = 0,
) -> bytes:
    """A frame as siadc09 builds it."""
    account = dc09_account.Account(acct=acct, rcvr=0, pref=0)
    parsed = parse_admcid(data) if token == "ADM-CID" else parse_siadcs(data) if data else None
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=skew_s)
    config = {"idtoken": token, "seqno": seq, "data": parsed, "timestamp": when}
    msg = dc09_message.EventMessage(account, config=config)
    if key is not None:
        msg.account.set_key(key.encode())
    frame: bytes = msg.encode(encrypt=key is not None)
    return frame


def _answer(raw: bytes, key: str | None = None) -> tuple[str, int]:
    got = dc09_message.parse_frame(raw, key.encode() if key else None)
    return type(got).__name__, got.seq


@pytest.fixture
def io(tmp_path: Path) -> Iterator[IoProc]:
    proc = IoProc(tmp_path / "data")
    proc.start()
    config = proc.client.request("config-get")
    config["inputs"][0]["outputs"] = []
    config["virtual_inputs"] = [
        {"name": "Panel zone 3", "outputs": [2], "armed_by": "panel"},
        {"name": "Panel armed", "kind": "armed-state"},
    ]
    proc.client.request("config-set", config=config, user="ann")
    yield proc
    proc.stop()


def _status(io: IoProc) -> dict[str, Any]:
    result: dict[str, Any] = io.client.request("status")
    return result


class Rig:
    def __init__(self, io: IoProc) -> None:
        self.io = io
        self.faults: list[tuple[str, bool]] = []
        self.receiver = SiaReceiver(SETTINGS, io_apply(io.client), self._fault)
        self.to_io = io_fault(io.client)
        self.port = 0

    async def _fault(self, key: str, active: bool, message: str) -> None:
        self.faults.append((key, active))
        await self.to_io(key, active, message)

    async def tcp(self, *frames: bytes) -> list[bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        answers = []
        for frame in frames:
            writer.write(frame)
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.readuntil(b"\r"), 10))
        writer.close()
        await writer.wait_closed()
        return answers

    async def udp(self, frame: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[bytes] = loop.create_future()

        class Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                got.set_result(data)

        transport, _ = await loop.create_datagram_endpoint(
            Proto, remote_addr=("127.0.0.1", self.port)
        )
        transport.sendto(frame)
        try:
            return await asyncio.wait_for(got, 10)
        finally:
            transport.close()


def _run(io: IoProc, scenario: Any) -> Rig:
    rig = Rig(io)

    async def main() -> None:
        rig.port, _ = await rig.receiver.start()
        try:
            await scenario(rig)
        finally:
            await rig.receiver.stop()

    asyncio.run(main())
    return rig


def _zone_rows(io: IoProc) -> list[tuple[str, str]]:
    out = cli(io.data_dir, "events", "--json", "--limit", "1000").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    return [(r["state"], r["source"]) for r in rows if r["channel"] == "Panel zone 3"]


def test_plain_and_encrypted_panels_drive_the_relay(io: IoProc) -> None:
    async def scenario(rig: Rig) -> None:
        closing = _frame("ADM-CID", b"#1234|3401 01 007", seq=1)  # armed by user 7
        alarm = _frame("ADM-CID", b"#1234|1130 01 003", seq=2)
        (a1, a2) = await rig.tcp(closing, alarm)
        assert [_answer(a1), _answer(a2)] == [("AckMessage", 1), ("AckMessage", 2)]
        assert _status(io)["outputs"][1]["energised"] is True
        restore = _frame("SIA-DCS", b"#5678|Nri1/BH03", acct=0x5678, key=KEY, seq=3)
        (a3,) = await rig.tcp(restore)
        assert _answer(a3, KEY) == ("AckMessage", 3)
        assert dc09_message.parse_frame(a3, KEY.encode()).encrypted  # as the message was
        assert _status(io)["outputs"][1]["energised"] is False
        encrypted_alarm = _frame("SIA-DCS", b"#5678|Nri1/BA03", acct=0x5678, key=KEY, seq=4)
        assert _answer(await rig.udp(encrypted_alarm), KEY) == ("AckMessage", 4)
        assert _status(io)["outputs"][1]["energised"] is True
        opening = _frame("SIA-DCS", b"#1234|Nid7/OP01", seq=5)  # disarmed: the zone stops
        assert _answer((await rig.tcp(opening))[0]) == ("AckMessage", 5)
        assert _status(io)["outputs"][1]["energised"] is False

    rig = _run(io, scenario)
    assert _zone_rows(io) == [
        ("armed", "Panel armed"),  # the closing armed it (through the armed-state input)
        ("alarm", "sia:1234:130"),
        ("normal", "sia:5678:BH"),
        ("alarm", "sia:5678:BA"),
        ("disarmed", "Panel armed"),
    ]
    assert rig.receiver.accepted == 5
    assert not rig.receiver.refused


def test_bad_frames_are_refused_with_nak_and_logged(
    io: IoProc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "alarmbridge.sia")

    async def scenario(rig: Rig) -> None:
        good = _frame("ADM-CID", b"#1234|1130 01 003", seq=20)
        secret = _frame("ADM-CID", b"#5678|3130 01 003", acct=0x5678, key=KEY, seq=19)
        assert _answer((await rig.tcp(good))[0]) == ("AckMessage", 20)
        assert _answer((await rig.tcp(secret))[0], KEY) == ("AckMessage", 19)
        resent = _frame("ADM-CID", b"#1234|1130 01 003", seq=20, skew_s=1)  # ACK lost
        replay = secret  # the same encrypted bytes again: a replay
        wrong_key = _frame("ADM-CID", b"#5678|1130 01 003", acct=0x5678, key=KEY[::-1], seq=21)
        stale = _frame("ADM-CID", b"#1234|3130 01 003", seq=22, skew_s=-120)
        ahead = _frame("ADM-CID", b"#1234|3130 01 003", seq=23, skew_s=60)
        bad_crc = good.replace(b"1130", b"3130")
        unknown = _frame("ADM-CID", b"#4321|1130 01 003", acct=0x4321, seq=24)
        plain_from_keyed = _frame("ADM-CID", b"#5678|1130 01 003", acct=0x5678, seq=25)
        answers = await rig.tcp(
            resent, replay, wrong_key, stale, ahead, bad_crc, unknown, plain_from_keyed
        )
        names = [_answer(a)[0] for a in answers[1:]]
        assert _answer(answers[0]) == ("AckMessage", 20)
        assert names == ["NakMessage"] * 7
        assert _status(io)["outputs"][1]["energised"] is False  # armed by the panel: not armed

    rig = _run(io, scenario)
    assert rig.receiver.accepted == 2  # the resend was ACKed, not applied twice
    refused = dict(rig.receiver.refused)
    assert refused.pop("replay") == 1
    assert refused.pop("crc") == 1
    assert refused.pop("timestamp") == 2
    assert refused.pop("account") == 1
    assert sum(refused.values()) == 2  # the wrong key and the plain frame of a keyed account
    assert "refused (NAK, crc)" in caplog.text
    assert "refused (NAK, replay)" in caplog.text
    assert _zone_rows(io) == [("alarm-not-armed", "sia:1234:130"), ("normal", "sia:5678:130")]


def test_a_silent_panel_raises_a_fault_and_clears_it_when_heard(io: IoProc) -> None:
    async def scenario(rig: Rig) -> None:
        null = _frame("NULL", b"", acct=0x9ABC, seq=0)
        assert _answer((await rig.tcp(null))[0]) == ("AckMessage", 0)
        deadline = time.monotonic() + 10
        while rig.faults[-1:] != [("sia-9abc-silent", True)] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert rig.faults[-1] == ("sia-9abc-silent", True)
        (fault,) = [f for f in _status(io)["faults"] if f["key"] == "network:sia-9abc-silent"]
        assert "sent nothing for over 1 s" in fault["message"]
        again = _frame("NULL", b"", acct=0x9ABC, seq=0)  # a new timestamp: not a replay
        assert _answer((await rig.tcp(again))[0]) == ("AckMessage", 0)
        assert rig.faults[-1] == ("sia-9abc-silent", False)
        assert "network:sia-9abc-silent" not in {f["key"] for f in _status(io)["faults"]}

    _run(io, scenario)
    out = cli(io.data_dir, "events", "--json", "--limit", "1000").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    faults = [(r["state"], r["channel"]) for r in rows if r["kind"] == "fault"]
    assert faults[-2:] == [("raised", "network"), ("cleared", "network")]
