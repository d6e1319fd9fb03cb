"""The event record: what every row of the audit log carries.

Events are created by the engine and the io process as :class:`NewEvent` (no
sequence number yet) and become :class:`Event` once the writer has committed
them. Only committed events are "accepted": streamed, shown, exported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from app.clock import Clock


class Kind(StrEnum):
    """What an event is about."""

    INPUT = "input"  # an input's debounced contact changed
    OUTPUT = "output"  # a relay was energised or released
    OPERATOR = "operator"  # a person acted: manual start/stop, trigger, button
    CONFIG = "config"  # configuration changed (old and new values in detail)
    SYSTEM = "system"  # start, stop, recomputation, clock step, eviction, recovery
    FAULT = "fault"  # a fault was raised or cleared
    SECURITY = "security"  # setup, logins (and failures), users, API tokens


class Cause(StrEnum):
    """Why it happened."""

    INPUT = "input"
    USER = "user"
    SCHEDULE = "schedule"
    BUTTON = "button"
    RESTART = "restart"
    SYSTEM = "system"
    CONFIG = "config"  # a configuration change did it (the source: who changed it)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event before it is written. Times are taken when it happened.

    ``utc_us``: microseconds since the Unix epoch (wall clock, may be wrong before
    NTP sync: see ``clock_synced``). ``mono_ns``: ``time.monotonic_ns()``, for
    order and durations within one boot. ``detail``: small JSON-able extras (for
    a config change, ``{"old": ..., "new": ...}``).
    """

    kind: Kind
    state: str
    cause: Cause
    utc_us: int
    mono_ns: int
    boot_id: str
    clock_synced: bool
    channel: str | None = None
    dvr_channel: str | None = None
    source: str | None = None  # which input, user, schedule or button caused it
    detail: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class Event(NewEvent):
    """A committed event: ``seq`` is its sequence number in the log (never reused)."""

    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict with every field (used by the stream, the CLI and exports)."""
        data = asdict(self)
        data["kind"] = str(self.kind)
        data["cause"] = str(self.cause)
        return data


class EventStamper:
    """Makes :class:`NewEvent` objects stamped with this boot's id and the clock.

    >>> from app.clock import ManualClock
    >>> stamper = EventStamper("boot-1", ManualClock())
    >>> stamper.make(Kind.SYSTEM, "started", Cause.SYSTEM).boot_id
    'boot-1'
    """

    def __init__(self, boot_id: str, clock: Clock) -> None:
        self.boot_id = boot_id
        self.clock = clock

    def make(
        self,
        kind: Kind,
        state: str,
        cause: Cause,
        *,
        channel: str | None = None,
        dvr_channel: str | None = None,
        source: str | None = None,
        detail: dict[str, Any] | None = None,
        mono_ns: int | None = None,
    ) -> NewEvent:
        """A new event happening now (or at ``mono_ns``, if the edge was earlier)."""
        clock = self.clock
        now_mono = clock.monotonic_ns()
        utc_us = clock.utc_us()
        if mono_ns is not None:
            utc_us -= (now_mono - mono_ns) // 1000
        return NewEvent(
            kind=kind,
            state=state,
            cause=cause,
            utc_us=utc_us,
            mono_ns=now_mono if mono_ns is None else mono_ns,
            boot_id=self.boot_id,
            clock_synced=clock.synced(),
            channel=channel,
            dvr_channel=dvr_channel,
            source=source,
            detail=detail,
        )
