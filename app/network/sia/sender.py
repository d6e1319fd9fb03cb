"""The SIA DC-09 sender: a :class:`~app.network.destination.Destination` that
reports AlarmBridge's events to an alarm receiving centre as Contact ID.

* Each event becomes one ADM-CID frame (see :func:`contact_id`): an input's alarm
  and restore (130 burglary, 137 tamper for a 24 h input), an armed-state
  input's closing and opening (401), a fault raised and cleared (300), the io
  process's start (305) and stop (308). Codes are settings; other events are
  not wanted (the delivery loop moves past them).
* Frames go one at a time over TCP to the primary receiver, the backup when the
  primary does not answer; each waits for its ACK. The DC-09 sequence number
  is made from the event's own seq, so every resend of an event, even after a
  restart, carries the same number. A NAK is answered by a resend with a fresh
  timestamp, corrected by the NAK's own (the receiver's clock) as DC-09 asks
  (3 tries); a DUH means the receiver cannot use that message: it is
  not resent (logged, and counted as taken).
* Encrypted (AES, CBC) when a key is set; :meth:`SiaSender.send_null` is the
  NULL supervision message, sent by :meth:`SiaSender.supervise` every
  ``null_s`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from app.events import Event, Kind
from app.network.destination import Delivery, DeliveryError
from app.network.sia.content import cid_data
from app.network.sia.frame import ACK, ADM_CID, DUH, NAK, NULL, Frame, FrameError, parse
from app.network.sia.settings import Peer, SenderSettings

log = logging.getLogger("alarmbridge.sia")
NAK_TRIES = 3
_TRAILING_NUMBER = re.compile(r"(\d+)$")
FrameMaker = Callable[[datetime], Frame]  # the frame to send, stamped at its send time


def zone_of(channel: str | None, zones: dict[str, int]) -> int:
    """The zone a channel reports as: set in ``zones``, else its trailing number
    (``IN3`` is 3), else 0."""
    if channel is None:
        return 0
    if channel in zones:
        return zones[channel]
    match = _TRAILING_NUMBER.search(channel)
    return int(match[1]) % 1000 if match else 0


def contact_id(event: Event, settings: SenderSettings) -> tuple[int, int, int] | None:
    """(qualifier, code, zone) for ``event``, or None if it is not reported."""
    codes = settings.codes
    zone = zone_of(event.channel, settings.zones)
    detail = event.detail or {}
    if event.kind is Kind.INPUT:
        kind = detail.get("kind")
        if event.state in ("armed", "disarmed") and kind == "armed-state":
            return (3 if event.state == "armed" else 1, codes.arming, zone)
        if kind not in ("alarm", "24h") or event.state not in ("alarm", "normal"):
            return None  # a DVR input, an arming change, an alarm while not armed
        code = codes.alarm if kind == "alarm" else codes.h24
        return (1 if event.state == "alarm" else 3, code, zone)
    if event.kind is Kind.FAULT:
        return (1 if event.state == "raised" else 3, codes.fault, zone)
    if event.kind is Kind.SYSTEM and event.state in ("started", "stopped"):
        return (1, codes.started if event.state == "started" else codes.stopped, 0)
    return None


class SiaSender:
    """One DC-09 destination (primary and backup receivers)."""

    def __init__(
        self,
        settings: SenderSettings,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.now = now
        self.offset = timedelta(0)  # the receiver's clock minus ours, from its last NAK
        self.last_error: str | None = None
        self.duh: list[int] = []  # event seqs a receiver could not use
        self.receivers = {  # primary and backup: what each did last (status)
            role: {"role": role, "host": peer.host, "port": peer.port, "state": "unused"}
            for role, peer in (("primary", settings.primary), ("backup", settings.backup))
            if peer is not None
        }
        self.in_use: str | None = None  # the receiver that took the last message
        self.acks = 0
        self.naks = 0
        self._streams: dict[tuple[str, int], tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self._lock = asyncio.Lock()
        self._null_seq = 0

    def status(self) -> dict[str, object]:
        """For the network process's status: each receiver's state (``ok``,
        ``failed`` with its error, ``unused``) and which one took the last message,
        the ACKs and NAKs it got, the last error, the events a receiver could not
        use (DUH), the receiver's clock offset from its last NAK."""
        return {
            "account": self.settings.account,
            "encrypted": self.settings.key is not None,
            "receivers": [dict(r) for r in self.receivers.values()],
            "in_use": self.in_use,
            "acks": self.acks,
            "naks": self.naks,
            "last_error": self.last_error,
            "duh": list(self.duh[-20:]),
            "clock_offset_s": self.offset.total_seconds(),
        }

    def _note(self, role: str, error: str | None) -> None:
        state = self.receivers[role]
        stamp = int(self.now().timestamp() * 1_000_000)
        if error is None:
            state.update(state="ok", last_ok_utc_us=stamp, error=None)
            self.in_use = role
        else:
            state.update(state="failed", last_error_utc_us=stamp, error=error)

    @property
    def name(self) -> str:
        return "sia"

    def wants(self, event: Event) -> bool:
        return contact_id(event, self.settings) is not None

    def frame(self, event: Event, now: datetime) -> Frame:
        """The ADM-CID frame for ``event`` (its DC-09 sequence number from its seq)."""
        found = contact_id(event, self.settings)
        if found is None:
            raise ValueError(f"event {event.seq} is not reported to a receiving centre")
        qualifier, code, zone = found
        s = self.settings
        return Frame(
            ADM_CID,
            event.seq % 9999 + 1,
            s.account,
            s.receiver,
            s.prefix,
            cid_data(s.account, qualifier, code, 1, zone),
            timestamp=now,
        )

    async def deliver(self, batch: Sequence[Delivery]) -> None:
        async with self._lock:
            for item in batch:
                if not self.wants(item.event):
                    continue
                answer = await self._send(functools.partial(self.frame, item.event))
                if answer == DUH:
                    self.duh.append(item.event.seq)
                    log.warning("the receiver cannot use event %s (DUH): not resent", item.key)

    async def send_test(self) -> None:
        await self.send_null()

    async def send_null(self) -> None:
        """A NULL message (link test); DeliveryError if no receiver ACKs it."""
        async with self._lock:
            s = self.settings
            self._null_seq = self._null_seq % 9999 + 1
            seq = self._null_seq
            await self._send(
                lambda now: Frame(NULL, seq, s.account, s.receiver, s.prefix, timestamp=now)
            )

    async def supervise(self) -> None:
        """Send a NULL message every ``null_s`` seconds (until cancelled)."""
        while self.settings.null_s:
            await asyncio.sleep(self.settings.null_s)
            try:
                await self.send_null()
            except DeliveryError as exc:
                log.warning("SIA supervision: %s", exc)

    async def aclose(self) -> None:
        for peer in list(self._streams):
            await self._drop(peer)

    # -- the wire -------------------------------------------------------------

    async def _send(self, make: FrameMaker) -> str:
        """Send to the primary, else the backup; the answer (ACK or DUH)."""
        problems = []
        for role, peer in (("primary", self.settings.primary), ("backup", self.settings.backup)):
            if peer is None:
                continue
            try:
                answer = await self._exchange(peer, make)
            except (OSError, TimeoutError, FrameError, asyncio.IncompleteReadError) as exc:
                await self._drop((peer.host, peer.port))
                problem = str(exc) or type(exc).__name__
                problems.append(f"{peer.host}:{peer.port}: {problem}")
                self._note(role, problem)
                continue
            self.last_error = None
            self._note(role, None)
            return answer
        if not problems:
            problems.append("no receiver is set")
        self.last_error = "; ".join(problems)
        raise DeliveryError(f"no SIA receiver took the message ({self.last_error})")

    async def _exchange(self, peer: Peer, make: FrameMaker) -> str:
        reader, writer = await self._stream(peer)
        key = self.settings.key
        for _ in range(NAK_TRIES):
            stamp = (self.now() + self.offset).replace(microsecond=0)
            writer.write(make(stamp).encode(key))
            await writer.drain()
            raw = await asyncio.wait_for(reader.readuntil(b"\r"), self.settings.timeout_s)
            start = raw.find(b"\n")
            answer = parse(
                raw[start:] if start >= 0 else raw, {self.settings.account: key} if key else {}
            )
            if answer.id in (ACK, DUH):
                self.acks += answer.id == ACK
                return answer.id
            if answer.id != NAK:
                raise FrameError("format", f"the receiver answered {answer.id}")
            self.naks += 1
            if answer.timestamp is not None:  # DC-09: take the receiver's time and resend
                self.offset = answer.timestamp - self.now()
                log.warning(
                    "SIA: NAK from %s:%s, its clock is %+.0f s from ours",
                    peer.host,
                    peer.port,
                    self.offset.total_seconds(),
                )
        raise FrameError("nak", f"the receiver refused it {NAK_TRIES} times (NAK)")

    async def _stream(self, peer: Peer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        where = (peer.host, peer.port)
        if where not in self._streams:
            self._streams[where] = await asyncio.wait_for(
                asyncio.open_connection(peer.host, peer.port), self.settings.timeout_s
            )
        return self._streams[where]

    async def _drop(self, where: tuple[str, int]) -> None:
        stream = self._streams.pop(where, None)
        if stream is not None:
            stream[1].close()
            with contextlib.suppress(OSError):
                await stream[1].wait_closed()
