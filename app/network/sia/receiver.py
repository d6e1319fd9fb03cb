"""The SIA DC-09 receiver: panels report here over TCP or UDP; their zones become
virtual inputs' signals, their openings and closings an armed-state virtual input.

For each frame, the answer (SIA DC-09, 5.5.2):

* **ACK** (encrypted like the message): from a configured account, intact, in
  the time window (40 s behind to 20 s ahead of our clock), not a replay; its
  events were handed on (:attr:`SiaReceiver.apply` returned). A resend of a
  message already taken (same account, sequence and data, a new timestamp) is
  ACKed again and not applied twice.
* **NAK** (with our time, never encrypted): a bad CRC or length, an unknown
  account, an encrypted message that does not decrypt with the account's key, a
  plain one from an account that has a key, a timestamp out of the window, a
  missing timestamp on an encrypted message, a replay (an encrypted frame
  identical to one taken, timestamp and all: a plain frame can be forged anyway,
  so an identical plain one is taken as a resend).
* **DUH**: a message type or event data it cannot process.
* Nothing, when the events could not be handed on (the io process is down): the
  panel resends, as it does after a lost ACK.

Every refusal is counted in :attr:`refused`, summed up in the event log through
:attr:`report` (app/network/sia/refusals.py), and logged (``alarmbridge.sia``): with
a report, the first of each address and reason a minute as a warning, the rest at
debug level.
Supervision: an account with ``poll_s`` that sends nothing (a NULL message counts)
for ``poll_s`` plus a grace of half of it raises the fault
``sia-<account>-silent`` (lower case) through :attr:`SiaReceiver.fault`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from app.network.sia.content import PanelEvent, read_events
from app.network.sia.frame import ACK, DUH, MAX_FRAME, FrameError, header, nak, parse, reply
from app.network.sia.refusals import RefusalReport
from app.network.sia.settings import ReceiverSettings, SiaAccount

log = logging.getLogger("alarmbridge.sia")

#: hand one virtual input's signal on: (k of Vk, "active" or "inactive", source)
Apply = Callable[[int, str, str], Awaitable[None]]
#: raise (True) or clear (False) a fault: (code, active, message)
Fault = Callable[[str, bool, str], Awaitable[None]]
SUPERVISION_TICK_S = 1.0


def silent_code(account: str) -> str:
    """The fault code of a panel that missed its poll interval."""
    return f"sia-{account.lower()}-silent"


@dataclass(frozen=True, slots=True)
class Signal:
    virtual: int
    action: str  # active or inactive
    source: str


@dataclass
class _Seen:
    """What an account sent lately: for resends, replays and supervision."""

    last_mono: float
    last_utc_us: int | None = None  # the last message taken (a NULL counts)
    taken: deque[tuple[int, str, datetime | None, float]] = field(
        default_factory=lambda: deque(maxlen=64)
    )
    silent: bool = False


class SiaReceiver:
    def __init__(
        self,
        settings: ReceiverSettings,
        apply: Apply,
        fault: Fault | None = None,
        *,
        report: RefusalReport | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.apply = apply
        self.fault = fault
        self.report = report
        self.now = now
        self.accounts = {a.account: a for a in settings.accounts}
        self.keys = {a.account: a.key for a in settings.accounts if a.key}
        self.refused: Counter[str] = Counter()  # NAK and DUH, by reason
        self.accepted = 0  # messages whose events were handed on
        self.acks = 0  # ACKs sent (a resend's included)
        self.listening: tuple[int, int | None] | None = None  # (TCP, UDP) ports
        self._address = "unknown"  # the IP address of the frame being handled
        self._seen = {a: _Seen(time.monotonic()) for a in self.accounts}
        self._lock = asyncio.Lock()  # one frame at a time: events stay in order
        self._tcp: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._watch: asyncio.Task[None] | None = None

    def status(self) -> dict[str, object]:
        """For the network process's status: where it listens, what was taken and
        refused (and why), and each account's last message and supervision."""
        s = self.settings
        tcp, udp = self.listening or (None, None)
        accounts = []
        for account in self.accounts.values():
            seen = self._seen[account.account]
            supervision = "silent" if seen.silent else "ok" if account.poll_s else "off"
            accounts.append(
                {
                    "account": account.account,
                    "encrypted": account.key is not None,
                    "poll_s": account.poll_s,
                    "last_message_utc_us": seen.last_utc_us,
                    "supervision": supervision,
                }
            )
        return {
            "host": s.host,
            "tcp_port": tcp,
            "udp_port": udp,
            "acks": self.acks,
            "accepted": self.accepted,
            "refused": dict(self.refused),
            "accounts": accounts,
        }

    # -- one frame ------------------------------------------------------------

    async def handle(self, raw: bytes, peer: str = "", address: str = "") -> bytes | None:
        """The answer to one frame (None: no answer, the sender will resend);
        ``peer`` for the journal, ``address`` (its IP) for the event log."""
        async with self._lock:
            self._address = address or peer or "unknown"
            return await self._handle(raw, peer)

    def _count(self, reason: str, message: str, answer: str, account: str | None) -> int:
        """Count a refusal; the level to put it in the journal at (a flood of bad
        frames: the first of each address and reason a minute as a warning)."""
        self.refused[reason] += 1
        if self.report is None:
            return logging.WARNING
        first = self.report.refused(
            self._address, reason, account=account or "", message=message, answer=answer
        )
        return logging.WARNING if first else logging.DEBUG

    def _refuse(self, reason: str, message: str, peer: str, account: str | None = None) -> bytes:
        level = self._count(reason, message, "NAK", account)
        log.log(level, "SIA frame from %s refused (NAK, %s): %s", peer or "?", reason, message)
        return nak(self.now())

    async def _handle(self, raw: bytes, peer: str) -> bytes | None:
        now = self.now()
        try:
            frame = parse(raw, self.keys)
        except FrameError as exc:
            return self._refuse(exc.reason, str(exc), peer, _account_of(raw))
        named = frame.account
        account = self.accounts.get(named or "")
        if account is None:
            return self._refuse("account", f"unknown account {named}", peer, named)
        wanted = self.settings.receiver
        if wanted is not None and frame.receiver not in (None, wanted):
            why = f"receiver R{frame.receiver} is not ours"
            return self._refuse("receiver", why, peer, named)
        if account.key and not frame.encrypted:
            return self._refuse("key", f"account {named} must encrypt", peer, named)
        if frame.timestamp is None and frame.encrypted:
            why = "an encrypted message needs a timestamp"
            return self._refuse("timestamp", why, peer, named)
        if frame.timestamp is not None:
            behind, ahead = self.settings.window_s
            if (
                not now - timedelta(seconds=behind)
                <= frame.timestamp
                <= now + timedelta(seconds=ahead)
            ):
                skew = (frame.timestamp - now).total_seconds()
                return self._refuse(
                    "timestamp",
                    f"its timestamp is {skew:+.0f} s from ours (window -{behind}/+{ahead})",
                    peer,
                    named,
                )
        seen = self._seen[account.account]
        mono = time.monotonic()
        seen.taken = deque(
            (t for t in seen.taken if mono - t[3] <= sum(self.settings.window_s)),
            maxlen=64,
        )
        again = [t for t in seen.taken if t[0] == frame.seq and t[1] == frame.data]
        if frame.encrypted and any(t[2] == frame.timestamp for t in again):
            return self._refuse("replay", f"a replay of message {frame.seq:04d}", peer, named)
        key = account.key
        if not again:
            try:
                events = read_events(frame)
            except FrameError as exc:
                level = self._count("data", str(exc), DUH, named)
                log.log(level, "SIA frame from %s: DUH (%s)", peer or "?", exc)
                return reply(frame, DUH, key, now)
            try:
                for sig in self.signals(account, events):
                    await self.apply(sig.virtual, sig.action, sig.source)
            except Exception as exc:  # not handed on: no ACK, the panel resends
                log.warning("SIA events of %s not applied (%s): no ACK", account.account, exc)
                return None
            self.accepted += 1
        seen.taken.append((frame.seq, frame.data, frame.timestamp, mono))
        seen.last_mono = mono
        seen.last_utc_us = int(now.timestamp() * 1_000_000)
        self.acks += 1
        if seen.silent:
            seen.silent = False
            await self._fault(account, False, f"panel {account.account} reports again")
        return reply(frame, ACK, key, now)

    def signals(self, account: SiaAccount, events: list[PanelEvent]) -> list[Signal]:
        """What ``events`` from ``account`` do to virtual inputs (unmapped: nothing)."""
        out = []
        source = f"sia:{account.account}"
        for event in events:
            if event.meaning in ("open", "close") and account.armed_virtual is not None:
                action = "active" if event.meaning == "close" else "inactive"
                out.append(Signal(account.armed_virtual, action, f"{source}:user{event.zone}"))
                continue
            active = event.active
            if active is None:
                continue
            for zone in account.zones:
                if zone.zone == event.zone and zone.area in (None, event.area):
                    action = "active" if active else "inactive"
                    out.append(Signal(zone.virtual, action, f"{source}:{event.code}"))
        return out

    # -- supervision ----------------------------------------------------------

    async def _fault(self, account: SiaAccount, active: bool, message: str) -> None:
        if self.fault is not None:
            try:
                await self.fault(silent_code(account.account), active, message)
            except Exception:
                log.exception("the supervision fault could not be reported")

    async def check_supervision(self) -> None:
        mono = time.monotonic()
        for account in self.accounts.values():
            seen = self._seen[account.account]
            if not account.poll_s or seen.silent:
                continue
            if mono - seen.last_mono > account.poll_s * 1.5:
                seen.silent = True
                log.warning("SIA panel %s missed its poll interval", account.account)
                await self._fault(
                    account,
                    True,
                    f"panel {account.account} sent nothing for over {account.poll_s} s "
                    "(its poll interval): the link or the panel is down",
                )

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(SUPERVISION_TICK_S)
            await self.check_supervision()

    # -- the servers ----------------------------------------------------------

    async def start(self) -> tuple[int, int | None]:
        """Listen (TCP, and UDP if set); the ports, which may be ephemeral (port 0)."""
        s = self.settings
        self._tcp = await asyncio.start_server(self._serve_tcp, s.host, s.port, limit=4 * MAX_FRAME)
        tcp_port = self._tcp.sockets[0].getsockname()[1]
        udp_port = None
        if s.udp:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(s.host, tcp_port)
            )
            self._udp = transport
            udp_port = transport.get_extra_info("sockname")[1]
        started = time.monotonic()  # a panel's first poll interval counts from now
        for seen in self._seen.values():
            seen.last_mono = started
        self._watch = asyncio.create_task(self._supervise())
        if self.report is not None:
            self.report.start()
        self.listening = (tcp_port, udp_port)
        return tcp_port, udp_port

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        if self.report is not None:
            await self.report.stop()  # what it counted goes to the log now
        self.listening = None

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        where = writer.get_extra_info("peername")
        address = str(where[0]) if isinstance(where, tuple) else str(where)
        peer = f"{address}:{where[1]}" if isinstance(where, tuple) else address
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\r")
                except asyncio.LimitOverrunError:
                    log.warning("SIA: an over-long frame from %s: connection closed", peer)
                    return
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                start = raw.find(b"\n")
                answer = await self.handle(raw[start:] if start >= 0 else raw, peer, address)
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, receiver: SiaReceiver) -> None:
        self.receiver = receiver
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > MAX_FRAME:
            return
        task = asyncio.create_task(self._answer(data.strip(b"\0"), addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = await self.receiver.handle(data, f"{addr[0]}:{addr[1]} (udp)", addr[0])
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)


def _account_of(raw: bytes) -> str | None:
    """The account a frame that could not be read names, if its header says."""
    try:
        _, match = header(raw)
    except FrameError:
        return None
    return match["acct"].decode().upper() if match["acct"] else None
