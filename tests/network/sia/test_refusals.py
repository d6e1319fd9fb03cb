"""The receiver's refusals in the event log (#21): frames an independent sender
(siadc09) gets refused with NAK (bad CRC, wrong key, stale and future timestamps,
unknown account, replay) reach the log of a real io process as ``sia-refused``
security rows, summed up per address and reason: a flood writes a bounded number
of rows, and their counts add up to the frames sent. The summing itself is
checked on a clock of its own."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.io.commands import SiaRefused
from app.network.sia.bridge import io_apply, io_fault, io_refused
from app.network.sia.receiver import SiaReceiver
from app.network.sia.refusals import MAX_KEYS, OTHER, RefusalReport
from tests.io.conftest import IoProc, cli
from tests.network.sia.test_receiver import KEY, SETTINGS, _answer, _frame
from tests.support import wait_for


@pytest.fixture
def io(tmp_path: Path) -> Iterator[IoProc]:
    proc = IoProc(tmp_path / "data")
    proc.start()
    config = proc.client.request("config-get")
    config["virtual_inputs"] = [{"name": "Panel zone 3", "kind": "24h", "outputs": [2]}]
    proc.client.request("config-set", config=config, user="ann")
    yield proc
    proc.stop()


def refusal_rows(io: IoProc) -> list[dict[str, Any]]:
    out = cli(io.data_dir, "events", "--json", "--limit", "1000").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    return [r for r in rows if r["kind"] == "security" and r["state"] == "sia-refused"]


async def _send_all(port: int, frames: list[bytes], key: str | None = None) -> list[str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    names = []
    for frame in frames:
        writer.write(frame)
        await writer.drain()
        names.append(_answer(await asyncio.wait_for(reader.readuntil(b"\r"), 10), key)[0])
    writer.close()
    await writer.wait_closed()
    return names


def test_a_flood_of_bad_frames_writes_a_few_rows_that_count_them_all(
    io: IoProc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "alarmbridge.sia")
    good = _frame("ADM-CID", b"#1234|1130 01 003", seq=1)
    secret = _frame("ADM-CID", b"#5678|1130 01 003", acct=0x5678, key=KEY, seq=2)
    bad_crc = good.replace(b"1130", b"3130")
    wrong_key = _frame("ADM-CID", b"#5678|1130 01 003", acct=0x5678, key=KEY[::-1], seq=3)
    stale = _frame("ADM-CID", b"#1234|3130 01 003", seq=4, skew_s=-120)
    ahead = _frame("ADM-CID", b"#1234|3130 01 003", seq=5, skew_s=60)
    unknown = _frame("ADM-CID", b"#4321|1130 01 003", acct=0x4321, seq=6)
    flood = [bad_crc] * 150 + [wrong_key] * 40 + [stale, ahead] * 10 + [unknown] * 5

    async def scenario() -> None:
        report = RefusalReport(io_refused(io.client))  # 60 s periods, as in the appliance
        receiver = SiaReceiver(SETTINGS, io_apply(io.client), io_fault(io.client), report=report)
        port, _ = await receiver.start()
        try:
            assert await _send_all(port, [good]) == ["AckMessage"]
            assert await _send_all(port, [secret], KEY) == ["AckMessage"]
            assert await _send_all(port, [secret]) == ["NakMessage"]  # a replay
            answers = await _send_all(port, flood)
            assert answers == ["NakMessage"] * len(flood)
            # the first of each reason is in the log at once, the rest are counted
            reasons = {"replay", "crc", "decrypt", "timestamp", "account"}
            rows = await asyncio.to_thread(
                wait_for,
                lambda: (
                    (r := refusal_rows(io)) and {x["detail"]["reason"] for x in r} == reasons and r
                ),
                30,
                interval=0.2,
            )
            assert len(rows) == 5  # one each: the rest wait for the end of the period
            logged = sum(r["detail"]["refused"] for r in rows)
            assert report.pending == 1 + len(flood) - logged
        finally:
            await receiver.stop()  # the counts go to the log

    asyncio.run(scenario())
    said = [r for r in caplog.records if "refused (NAK" in r.getMessage()]
    assert len(said) == 1 + len(flood)  # every frame in the journal...
    assert len([r for r in said if r.levelno == logging.WARNING]) == 5  # ...5 as warnings
    rows = refusal_rows(io)
    by_reason: dict[str, int] = {}
    for row in rows:
        detail = row["detail"]
        assert (row["source"], detail["address"], detail["answer"]) == (
            "sia:127.0.0.1",
            "127.0.0.1",
            "NAK",
        )
        by_reason[detail["reason"]] = by_reason.get(detail["reason"], 0) + detail["refused"]
    assert by_reason == {"replay": 1, "crc": 150, "decrypt": 40, "timestamp": 20, "account": 5}
    rows_per_reason = [r["detail"]["reason"] for r in rows]
    assert all(rows_per_reason.count(reason) <= 2 for reason in by_reason)  # at once, then one
    last = {r["detail"]["reason"]: r["detail"] for r in rows}
    assert last["decrypt"]["account"] == "5678"
    assert last["account"]["account"] == "4321"
    assert "unknown account 4321" in last["account"]["message"]
    assert "bad CRC" in last["crc"]["message"]
    assert "from ours" in last["timestamp"]["message"]
    assert last["crc"]["first"] <= last["crc"]["last"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_row_per_address_reason_and_period_with_its_count() -> None:
    sent: list[SiaRefused] = []
    clock = Clock()

    async def send(row: SiaRefused) -> None:
        sent.append(row)

    async def scenario() -> None:
        report = RefusalReport(send, period_s=60, monotonic=clock)
        report.refused("10.0.0.9", "crc", message="bad CRC")
        for _ in range(99):
            report.refused("10.0.0.9", "crc", message="bad CRC")
        report.refused("10.0.0.9", "timestamp", account="12ab", message="old")
        await report.flush()  # the first of each key at once
        assert [(r.reason, r.refused, r.account) for r in sent] == [
            ("crc", 100, ""),  # all counted before the first flush: one row
            ("timestamp", 1, "12AB"),
        ]
        sent.clear()
        for _ in range(30):
            report.refused("10.0.0.9", "crc")
        clock.now += 30
        await report.flush()
        assert sent == []  # its period has not ended
        clock.now += 31
        await report.flush()
        assert [(r.reason, r.refused) for r in sent] == [("crc", 30)]
        sent.clear()
        clock.now += 61
        await report.flush()  # a quiet period: the key is forgotten
        report.refused("10.0.0.9", "crc")
        await report.flush()
        assert [(r.reason, r.refused) for r in sent] == [("crc", 1)]  # at once again

    asyncio.run(scenario())


def test_many_addresses_are_summed_under_other_and_a_failed_row_is_kept() -> None:
    sent: list[SiaRefused] = []
    failing = [True]
    clock = Clock()

    async def send(row: SiaRefused) -> None:
        if failing[0]:
            raise ConnectionError("the io process is not running")
        sent.append(row)

    async def scenario() -> None:
        report = RefusalReport(send, period_s=60, monotonic=clock)
        for n in range(MAX_KEYS + 500):  # UDP source addresses can be forged
            report.refused(f"10.0.{n // 250}.{n % 250}", "account")
        await report.flush()
        assert sent == [] and report.pending == MAX_KEYS + 500  # kept
        failing[0] = False
        await report.flush()
        assert len(sent) == MAX_KEYS + 1
        assert sum(r.refused for r in sent) == MAX_KEYS + 500
        other = [r for r in sent if r.address == OTHER]
        assert [r.refused for r in other] == [500]
        assert report.pending == 0

    asyncio.run(scenario())
