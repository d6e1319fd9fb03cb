"""What the e-mail destination mails, and the text an installer reads.

Which events are worth a mail (:func:`worth_a_mail`):

* an input going into alarm: an alarm input while armed, or a 24-hour input
  (tamper, panic). Not an alarm input while disarmed (``alarm-not-armed``: the
  building in use), not a DVR input (the DVR's own motion or video loss: the DVR
  notifies about those itself), not a return to normal;
* a fault raised, and a fault cleared (so nobody drives out for a fault that has gone);
* the manual trigger (the operator's button, on the panel or in the web UI).

An output switched on *by* one of these is wanted too, as a companion: it is not
mailed on its own but adds its DVR channel to the mail of the alarm or trigger in
the same batch that drove it (the engine logs both in the same tick, so they
arrive together). One left without its alarm (a batch boundary between them) is
accounted for and not mailed.

Every mail carries the events' seq numbers and idempotency keys in the body and in
``X-AlarmBridge-*`` headers, and a ``Message-ID`` made from the key, so a mail
sent again after a retry has the same Message-ID as the first and is recognisable
(and dropped by many mail stores).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime

from app.events import Cause, Event, Kind
from app.network.destination import Delivery
from app.timefmt import local_text, utc_iso

MAILED_INPUT_KINDS = frozenset({"alarm", "24h"})
COMPANION_CAUSES = frozenset({Cause.INPUT, Cause.BUTTON, Cause.USER})
MSGID_DOMAIN = "alarmbridge.invalid"  # a Message-ID's right side, not a real host


def _moment(utc_us: int) -> datetime:
    return datetime.fromtimestamp(utc_us / 1e6, UTC)


def _input_kind(event: Event) -> str:
    return str((event.detail or {}).get("kind", "alarm"))


def is_notice(event: Event) -> bool:
    """An event that makes a mail of its own."""
    if event.kind is Kind.INPUT:
        return event.state == "alarm" and _input_kind(event) in MAILED_INPUT_KINDS
    if event.kind is Kind.FAULT:
        return event.state in ("raised", "cleared")
    return event.kind is Kind.OPERATOR and event.state == "manual-trigger"


def is_companion(event: Event) -> bool:
    """An output switched on by an alarm or a trigger: it adds its DVR channel."""
    return event.kind is Kind.OUTPUT and event.state == "active" and event.cause in COMPANION_CAUSES


def worth_a_mail(event: Event) -> bool:
    return is_notice(event) or is_companion(event)


@dataclass
class Notice:
    """One event worth a mail, with the outputs it drove (from the same batch)."""

    item: Delivery
    outputs: list[Delivery] = field(default_factory=list)

    @property
    def event(self) -> Event:
        return self.item.event

    def takes(self, output: Event) -> bool:
        """Whether ``output`` (a companion) was driven by this notice's event."""
        event = self.event
        if event.kind is Kind.INPUT:
            return output.cause is Cause.INPUT and output.source == event.channel
        if event.kind is Kind.OPERATOR:
            names = (event.detail or {}).get("outputs") or []
            return output.cause is not Cause.INPUT and output.channel in names
        return False


def notices(batch: Sequence[Delivery]) -> list[Notice]:
    """The batch's mails-to-be, in seq order, each companion joined to its alarm."""
    found: list[Notice] = []
    for item in batch:
        if is_notice(item.event):
            found.append(Notice(item))
        elif is_companion(item.event):
            for notice in reversed(found):
                if notice.takes(item.event):
                    notice.outputs.append(item)
                    break
    return found


# -- the words ------------------------------------------------------------------------


def headline(event: Event) -> str:
    """A few words for a subject line or a summary's list."""
    detail = event.detail or {}
    if event.kind is Kind.INPUT:
        what = "TAMPER/24h ALARM" if _input_kind(event) == "24h" else "ALARM"
        return f"{what}: {event.channel}"
    if event.kind is Kind.FAULT:
        code = detail.get("code") or event.channel or "fault"
        verb = "Fault" if event.state == "raised" else "Fault cleared"
        return f"{verb}: {code}" + (f" ({event.channel})" if event.channel else "")
    if event.kind is Kind.OPERATOR:
        return f"Manual trigger by {event.source or 'the panel button'}"
    return f"{event.kind} {event.state}: {event.channel or ''}".strip()


def _when(event: Event, tz: tzinfo) -> str:
    local = local_text(event.utc_us, tz)
    zone = getattr(tz, "key", str(tz))
    text = f"{local} ({zone}); {utc_iso(event.utc_us)} UTC"
    if not event.clock_synced:
        text += "\n          the clock was NOT synchronised yet: this time may be wrong"
    return text


def _dvr_lines(notice: Notice) -> list[str]:
    lines = []
    for item in notice.outputs:
        out = item.event
        channel = f"DVR channel {out.dvr_channel}" if out.dvr_channel else "no DVR channel set"
        lines.append(f"output {out.channel} switched on: {channel} (seq {out.seq})")
    if notice.event.dvr_channel:
        lines.append(f"DVR channel {notice.event.dvr_channel}")
    return lines or ["no output was switched on by it in this batch of events"]


def describe(notice: Notice, tz: tzinfo) -> list[str]:
    """The lines saying what happened: what, where, when, which DVR channel, seq."""
    event, detail = notice.event, notice.event.detail or {}
    lines = [headline(event), ""]
    if event.kind is Kind.INPUT:
        lines.append(f"Input:    {event.channel}")
        contact = detail.get("contact")
        if contact:
            lines.append(f"Contact:  {contact} ({detail.get('contact_type', '?')})")
    elif event.kind is Kind.FAULT:
        lines.append(f"Fault:    {detail.get('message') or detail.get('code') or '?'}")
        lines.append(f"State:    {event.state}")
        if event.channel:
            lines.append(f"Channel:  {event.channel}")
    elif event.kind is Kind.OPERATOR:
        lines.append(f"By:       {event.source or 'the panel button'}")
    lines.append(f"When:     {_when(event, tz)}")
    if event.kind is not Kind.FAULT:
        dvr = _dvr_lines(notice)
        lines.append(f"DVR:      {dvr[0]}")
        lines.extend(f"          {line}" for line in dvr[1:])
    keys = [notice.item.key, *(item.key for item in notice.outputs)]
    lines.append(f"Event:    seq {event.seq}, idempotency key {notice.item.key}")
    if len(keys) > 1:
        lines.append(f"          with {', '.join(keys[1:])}")
    return lines


FOOTER = [
    "",
    "-- ",
    "Sent by AlarmBridge on {host}. The event log on the appliance is the record:",
    "search it by seq on the Events page.",
]


def _footer(host: str) -> str:
    return "\n".join(FOOTER).format(host=host)


def message_id(key: str, suffix: str = "") -> str:
    """``<KEY@alarmbridge.invalid>``: the same key, the same Message-ID."""
    return f"<{key}{suffix}@{MSGID_DOMAIN}>"


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipients: tuple[str, ...]
    host: str = field(default_factory=socket.gethostname)


def _base(envelope: Envelope, subject: str, first: Event) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = envelope.sender
    msg["To"] = ", ".join(envelope.recipients)
    msg["Subject"] = f"[AlarmBridge {envelope.host}] {subject}"
    msg["Date"] = format_datetime(_moment(first.utc_us))
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    return msg


def single_mail(notice: Notice, envelope: Envelope, tz: tzinfo) -> EmailMessage:
    """The mail for one alarm, fault or trigger."""
    event = notice.event
    msg = _base(envelope, headline(event), event)
    msg["Message-ID"] = message_id(notice.item.key)
    msg["X-AlarmBridge-Seq"] = str(event.seq)
    msg["X-AlarmBridge-Key"] = notice.item.key
    body = [f"AlarmBridge on {envelope.host}:", "", *describe(notice, tz)]
    msg.set_content("\n".join(body) + "\n" + _footer(envelope.host) + "\n")
    return msg


def summary_mail(
    found: Sequence[Notice], envelope: Envelope, tz: tzinfo, per_minute: int
) -> EmailMessage:
    """One mail for a storm: every event listed, the counts first."""
    first, last = found[0], found[-1]
    counts: dict[str, int] = {}
    for notice in found:
        kind = "alarms" if notice.event.kind is Kind.INPUT else str(notice.event.kind) + "s"
        counts[kind] = counts.get(kind, 0) + 1
    tally = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    subject = f"{len(found)} events ({tally}), seq {first.event.seq}-{last.event.seq}"
    msg = _base(envelope, subject, first.event)
    msg["Message-ID"] = message_id(first.item.key, f"-to-{last.event.seq}")
    msg["X-AlarmBridge-Seq"] = f"{first.event.seq}-{last.event.seq}"
    msg["X-AlarmBridge-Key"] = f"{first.item.key} .. {last.item.key}"
    body = [
        f"AlarmBridge on {envelope.host}: {len(found)} events worth a mail came in faster "
        f"than the limit of {per_minute} mails a minute, so they are summarised here.",
        f"In this mail: {tally}.",
        "",
        "When (local)         What",
    ]
    for notice in found:
        body.append(f"{local_text(notice.event.utc_us, tz)}  {headline(notice.event)}")
    body += ["", "Each event in full:"]
    for notice in found:
        body += ["", *describe(notice, tz)]
    msg.set_content("\n".join(body) + "\n" + _footer(envelope.host) + "\n")
    return msg


def test_mail(envelope: Envelope, when_us: int, tz: tzinfo) -> EmailMessage:
    """The "send test" mail."""
    msg = EmailMessage()
    msg["From"] = envelope.sender
    msg["To"] = ", ".join(envelope.recipients)
    msg["Subject"] = f"[AlarmBridge {envelope.host}] Test mail"
    msg["Date"] = format_datetime(_moment(when_us))
    msg["Auto-Submitted"] = "auto-generated"
    msg["Message-ID"] = message_id(f"test-{when_us}")
    msg.set_content(
        f"This is a test mail from AlarmBridge on {envelope.host}, sent at "
        f"{local_text(when_us, tz)} ({getattr(tz, 'key', tz)}).\n"
        "Alarms, faults and manual triggers will be mailed to this address.\n"
    )
    return msg
