"""The DC-09 codec against two independent implementations: siadc09 (an encoder
and parser of its own) and pysiaalarm (Home Assistant's receiver), plain and
AES-128/192/256, and against the DC-09 example frame that siadc09 documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pysiaalarm.account import SIAAccount
from pysiaalarm.event import SIAEvent
from siadc09 import account as dc09_account
from siadc09 import message as dc09_message
from siadc09.admcid import parse_admcid
from siadc09.siadcs import parse_siadcs

from app.network.sia.content import cid_data, read_cid, read_dcs, read_events
from app.network.sia.frame import (
    ACK,
    ADM_CID,
    DUH,
    NAK,
    SIA_DCS,
    Frame,
    FrameError,
    crc16,
    nak,
    parse,
    reply,
)

KEYS = ["0123456789ABCDEF", "0123456789ABCDEF01234567", "0123456789ABCDEF0123456789ABCDEF"]
# The DC-09 example frame siadc09 documents (SIA-DCS, receiver, prefix, x-data).
SPEC_EXAMPLE = b'\n8C860043"SIA-DCS"9876R579BDFL789ABC#123456A[#123456A|NFA129][M1234567890AB]\r'


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _siadc09(token: str, data: bytes, key: str | None, seq: int = 7) -> bytes:
    """A frame as siadc09 builds it (a panel's side, written by someone else)."""
    acct = dc09_account.Account(acct=0x1234, rcvr=0x1, pref=0xAB)
    parsed = parse_admcid(data) if token == ADM_CID else parse_siadcs(data)
    msg = dc09_message.EventMessage(
        acct, config={"idtoken": token, "seqno": seq, "data": parsed, "timestamp": _now()}
    )
    if key is not None:
        msg.account.set_key(key.encode())
    frame: bytes = msg.encode(encrypt=key is not None)
    return frame


def test_the_spec_example_frame_reads_field_by_field() -> None:
    frame = parse(SPEC_EXAMPLE)
    assert (frame.id, frame.seq, frame.receiver, frame.prefix, frame.account) == (
        SIA_DCS,
        9876,
        "579BDF",
        "789ABC",
        "123456A",
    )
    assert (frame.data, frame.xdata) == ("#123456A|NFA129", ("M1234567890AB",))
    (event,) = read_events(frame)
    assert (event.code, event.zone, event.meaning) == ("FA", 129, "alarm")
    assert f"{crc16(SPEC_EXAMPLE[9:-1]):04X}" == "8C86"


@pytest.mark.parametrize("key", [None, *KEYS])
@pytest.mark.parametrize("token", [ADM_CID, SIA_DCS])
def test_frames_from_siadc09_read_here(token: str, key: str | None) -> None:
    data = b"#1234|1130 01 003" if token == ADM_CID else b"#1234|Nri1/BA03"
    frame = parse(_siadc09(token, data, key), {"1234": key} if key else None)
    assert (frame.id, frame.seq, frame.account, frame.encrypted) == (token, 7, "1234", bool(key))
    assert frame.data == data.decode()
    assert frame.timestamp is not None and abs(frame.timestamp - _now()) < timedelta(seconds=5)
    (event,) = read_events(frame)
    assert (event.meaning, event.zone, event.area) == ("alarm", 3, 1)


@pytest.mark.parametrize("key", [None, *KEYS])
def test_frames_built_here_read_in_siadc09_and_pysiaalarm(key: str | None) -> None:
    sent = Frame(
        ADM_CID, 42, "1234", "0", "0", cid_data("1234", 1, 137, 1, 5), timestamp=_now()
    ).encode(key)
    theirs = dc09_message.parse_frame(sent, key.encode() if key else None)
    assert (theirs.idtoken, theirs.seq, theirs.account.acct, theirs.encrypted) == (
        ADM_CID,
        42,
        0x1234,
        bool(key),
    )
    event = SIAEvent.from_line(sent.decode().strip(), {"1234": SIAAccount("1234", key)})
    assert event.valid_message  # their CRC agrees
    assert (event.code, event.ri, event.partition) == ("TA", "005", "01")
    assert event.valid_timestamp
    assert event.create_response()  # they would ACK it


@pytest.mark.parametrize("key", [None, KEYS[0]])
def test_pysiaalarms_ack_reads_here(key: str | None) -> None:
    sent = Frame(ADM_CID, 9, "1234", "0", "0", cid_data("1234", 3, 130, 1, 2), timestamp=_now())
    event = SIAEvent.from_line(sent.encode(key).decode().strip(), {"1234": SIAAccount("1234", key)})
    ack = parse(event.create_response(), {"1234": key} if key else None)
    assert (ack.id, ack.seq, ack.account, ack.encrypted) == (ACK, 9, "1234", bool(key))


def test_our_replies_read_in_siadc09() -> None:
    got = parse(_siadc09(ADM_CID, b"#1234|1130 01 003", KEYS[0], seq=12), {"1234": KEYS[0]})
    ack = dc09_message.parse_frame(reply(got, ACK, KEYS[0], _now()), KEYS[0].encode())
    assert (type(ack).__name__, ack.seq, ack.encrypted) == ("AckMessage", 12, True)
    assert type(dc09_message.parse_frame(nak(_now()))).__name__ == "NakMessage"
    duh = dc09_message.parse_frame(reply(got, DUH, KEYS[0], _now()))
    assert (type(duh).__name__, duh.seq) == ("DuhMessage", 12)
    assert parse(nak(_now())).id == NAK


def test_damage_is_named() -> None:
    good = _siadc09(ADM_CID, b"#1234|1130 01 003", None)
    flipped = good.replace(b"1130", b"1131")
    with pytest.raises(FrameError, match="bad CRC") as caught:
        parse(flipped)
    assert caught.value.reason == "crc"
    body = good[9:-1] + b"0"
    longer = b"\n%04X%04X%s\r" % (crc16(body), len(body) - 1, body)
    with pytest.raises(FrameError, match="bad length"):
        parse(longer)
    encrypted = _siadc09(ADM_CID, b"#1234|1130 01 003", KEYS[0])
    with pytest.raises(FrameError) as wrong:
        parse(encrypted, {"1234": "FEDCBA9876543210"})
    assert wrong.value.reason in ("decrypt", "format", "timestamp")
    with pytest.raises(FrameError, match="has no key"):
        parse(encrypted)
    with pytest.raises(FrameError, match="starts with LF"):
        parse(good[1:])
    with pytest.raises(ValueError, match="16, 24 or 32"):
        Frame(ADM_CID, 1, "1234").encode("short")


def test_event_data_reads_cid_and_dcs() -> None:
    assert read_cid("#1234|1401 02 007", "1234").meaning == "open"  # an opening by user 7
    assert read_cid("#1234|3401 02 007", "1234").meaning == "close"
    assert read_cid("#1234|3130 01 004", "1234").meaning == "restore"
    assert [(e.code, e.meaning, e.zone, e.area) for e in read_dcs("#1234|Nri2/BA04/BH05")] == [
        ("BA", "alarm", 4, 2),
        ("BH", "restore", 5, 2),
    ]
    assert read_dcs("Nid3/CL01")[0].meaning == "close"
    with pytest.raises(FrameError, match="not the header's"):
        read_cid("#9999|1130 01 003", "1234")
    with pytest.raises(FrameError, match="not Contact ID"):
        read_cid("#1234|garbage", "1234")
