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
    timeline: Timeline,
    bypass: dict[str, int],
    arming: tuple[bool, int] | None,
    alarm_inputs: set[int],
) -> Timeline:
    """``timeline`` with the overrides in force on their inputs' rows: each bypass
    (input name -> until, UTC microseconds) on its input; an arming override
    ``(armed, until)`` on each alarm input (``alarm_inputs``: their numbers), under
    a bypass of that input."""
    rows = []
    for row in timeline.rows:
        segments = row.segments
        if row.section == "input":
            if arming is not None and row.number in alarm_inputs:
                state = "override-armed" if arming[0] else "override-disarmed"
                segments = _cut(segments, arming[1], state)
            if row.name in bypass:
                segments = _cut(segments, bypass[row.name], "bypassed")
        rows.append(
            type(row)(row.section, row.number, row.name, row.schedule, segments, len(segments) - 1)
        )
    return Timeline(timeline.start_us, timeline.end_us, rows, timeline.offset_changes)
