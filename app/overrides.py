"""Temporary overrides by an operator: an input bypassed for a while (a faulty
sensor during a repair), and every alarm input armed or disarmed for a while,
whatever the schedules and the panel say.

Each has who set it and until when, as wall-clock times (UTC microseconds), so
it survives a restart of the io process: it is stored in the log's database
(``meta`` table, key :data:`META_KEY`) and ends by itself at its time, even if
that time passed while the appliance was off. Pure data: the engine
(app/engine/arming.py) acts on it, the web process shows it (dashboard, timeline).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from app.timeline import Segment, Timeline

META_KEY = "overrides"
MAX_HOURS = 7 * 24  # a bypass or an arming override lasts at most a week
MIN_S, MAX_S = 60, MAX_HOURS * 3600


@dataclass(frozen=True, slots=True)
class Bypass:
    """An input that drives nothing until ``until_utc_us``."""

    until_utc_us: int
    by: str
    since_utc_us: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ArmingOverride:
    """Every alarm input armed (or disarmed) until ``until_utc_us``."""

    armed: bool
    until_utc_us: int
    by: str
    since_utc_us: int


@dataclass
class OverrideBook:
    """The overrides in force, by input name (as latches are kept by output name)."""

    bypass: dict[str, Bypass] = field(default_factory=dict)
    arming: ArmingOverride | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "bypass": {name: asdict(b) for name, b in sorted(self.bypass.items())},
            "arming": None if self.arming is None else asdict(self.arming),
        }

    @classmethod
    def from_json(cls, data: Any) -> OverrideBook:
        """What :meth:`to_json` stored; anything malformed is left out (never raises:
        a damaged record must not stop the relays)."""
        book = cls()
        if not isinstance(data, dict):
            return book
        for name, item in (data.get("bypass") or {}).items():
            try:
                book.bypass[str(name)] = Bypass(**item)
            except TypeError:
                continue
        try:
            book.arming = None if not data.get("arming") else ArmingOverride(**data["arming"])
        except TypeError:
            book.arming = None
        return book

    def expired(self, utc_us: int) -> tuple[dict[str, Bypass], ArmingOverride | None]:
        """Remove and return what has ended by ``utc_us``."""
        gone = {n: b for n, b in self.bypass.items() if b.until_utc_us <= utc_us}
        for name in gone:
            del self.bypass[name]
        ended = None
        if self.arming is not None and self.arming.until_utc_us <= utc_us:
            ended, self.arming = self.arming, None
        return gone, ended


#: the timeline's states for overrides (added to app.timeline.STATES's legend)
STATES = {
    "bypassed": "bypassed by an operator until the time shown: its alarms drive nothing",
    "override-armed": "armed by an operator's override, whatever its schedule",
    "override-disarmed": "disarmed by an operator's override, whatever its schedule",
}


def _cut(segments: list[Segment], until: int, state: str) -> list[Segment]:
    """``segments`` with ``state`` from their start to ``until``."""
    if not segments or until <= segments[0].start_us:
        return segments
    start = segments[0].start_us
    out = [Segment(start, min(until, segments[-1].end_us), state)]
    for s in segments:
        if s.end_us > until:
            out.append(Segment(max(s.start_us, until), s.end_us, s.state))
    return out


def overlay(
    timeline: Timeline, book: OverrideBook, alarm_inputs: set[int] | None = None
) -> Timeline:
    """``timeline`` with the overrides in force shown on their inputs' rows: a
    bypass on its input; an arming override on each alarm input (``alarm_inputs``:
    their numbers) that is not bypassed at that time."""
    rows = []
    for row in timeline.rows:
        segments = row.segments
        if row.section == "input":
            if book.arming is not None and alarm_inputs and row.number in alarm_inputs:
                state = "override-armed" if book.arming.armed else "override-disarmed"
                segments = _cut(segments, book.arming.until_utc_us, state)
            bypass = book.bypass.get(row.name)
            if bypass is not None:
                segments = _cut(segments, bypass.until_utc_us, "bypassed")
        rows.append(
            type(row)(row.section, row.number, row.name, row.schedule, segments, len(segments) - 1)
        )
    return Timeline(timeline.start_us, timeline.end_us, rows, timeline.offset_changes)
