"""What a DC-09 frame's data says: Contact ID (ADM-CID, SIA DC-05) and SIA-DCS
(SIA DC-03) events, read into one shape, and the Contact ID data we send.

* ADM-CID data: ``#<acct>|<Q><EEE> <GG> <ZZZ>``: Q 1 new event (an opening for
  the 4xx codes), 3 restore (a closing), 6 still present; EEE the event code
  (130 burglary, 137 tamper, 300 system trouble, 401 open/close by user...); GG
  the partition; ZZZ the zone (the user for openings and closings).
* SIA-DCS data: ``#<acct>|N[ri<area>/][id<user>/]<CC><zone>[/<CC><zone>...]``:
  two-letter codes (BA burglary alarm, BH its restore, TA/TR tamper, OP opening,
  CL closing, RP automatic test...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from app.network.sia.frame import ADM_CID, NULL, SIA_DCS, Frame, FrameError

Meaning = Literal["alarm", "restore", "open", "close", "test", "other"]
_CID = re.compile(r"^(?P<q>[136])(?P<code>\d{3}) (?P<group>\d{2}) (?P<zone>\d{3})$")
_DCS_TOKEN = re.compile(
    r"(?:(?P<field>ri|id|ti|pi)(?P<value>[\d:]+))|(?P<code>[A-Z]{2})(?P<zone>\d{0,4})"
)
CLOSINGS = frozenset({"CL", "CA", "CG", "CK", "CQ", "CS", "CF"})
OPENINGS = frozenset({"OP", "OA", "OG", "OK", "OQ", "OS"})
TESTS = frozenset({"RP", "RX", "RY"})


@dataclass(frozen=True, slots=True)
class PanelEvent:
    """One event from a panel: ``code`` is the SIA code or the Contact ID number."""

    code: str
    meaning: Meaning
    zone: int  # the zone, or the user for openings and closings
    area: int  # the partition (area); 0 if not given
    text: str  # as it came, for the log

    @property
    def active(self) -> bool | None:
        """What it does to a zone's virtual input: True alarm, False restore."""
        return {"alarm": True, "restore": False}.get(self.meaning)


def _account_part(data: str, account: str | None) -> str:
    if not data.startswith("#"):
        return data
    acct, bar, rest = data[1:].partition("|")
    if not bar:
        raise FrameError("format", "the data's account has no '|' after it")
    if account is not None and acct.upper() != account:
        raise FrameError("format", f"the data's account {acct} is not the header's {account}")
    return rest


def cid_meaning(qualifier: str, code: int) -> Meaning:
    if 400 <= code <= 499:
        return "open" if qualifier == "1" else "close"
    if code in (602, 603):
        return "test"
    return "restore" if qualifier == "3" else "alarm"


def read_cid(data: str, account: str | None = None) -> PanelEvent:
    body = _account_part(data, account)
    match = _CID.match(body)
    if match is None:
        raise FrameError("format", f"not Contact ID data (Q EEE GG ZZZ): {body[:30]!r}")
    code = int(match["code"])
    return PanelEvent(
        code=match["code"],
        meaning=cid_meaning(match["q"], code),
        zone=int(match["zone"]),
        area=int(match["group"]),
        text=body,
    )


def sia_meaning(code: str) -> Meaning:
    if code in CLOSINGS:
        return "close"
    if code in OPENINGS:
        return "open"
    if code in TESTS:
        return "test"
    if code[1] in "AT":
        return "alarm"
    if code[1] in "RHJ":
        return "restore"
    return "other"


def read_dcs(data: str, account: str | None = None) -> list[PanelEvent]:
    body = _account_part(data, account)
    if body[:1] in ("N", "O"):  # a new (or old) event block
        body = body[1:]
    area, events = 0, []
    for part in body.split("/"):
        for token in _DCS_TOKEN.finditer(part):
            if token["field"] == "ri":
                area = int(token["value"])
            elif token["code"]:
                code = token["code"]
                zone = int(token["zone"]) if token["zone"] else 0
                events.append(PanelEvent(code, sia_meaning(code), zone, area, part))
                break  # the rest of the part is text
    if not events:
        raise FrameError("format", f"no SIA-DCS event code in {body[:30]!r}")
    return events


def read_events(frame: Frame) -> list[PanelEvent]:
    """The events in ``frame``: none for a NULL (link test) message."""
    if frame.id == NULL:
        return []
    if frame.id == ADM_CID:
        return [read_cid(frame.data, frame.account)]
    if frame.id == SIA_DCS:
        return read_dcs(frame.data, frame.account)
    raise FrameError("format", f"unsupported message type {frame.id}")


def cid_data(account: str, qualifier: int, code: int, group: int, zone: int) -> str:
    """ADM-CID data for an event we send.

    >>> cid_data("1234", 1, 130, 1, 3)
    '#1234|1130 01 003'
    """
    return f"#{account}|{qualifier}{code:03d} {group:02d} {zone:03d}"
