"""The timeline: what every input's arming and every output's timing will be over
the next day or week, with the daylight-saving changes in that span marked.

Pure: it reads a configuration and a time zone, not the running engine, so a
panel-armed input shows "panel" (armed whenever the panel says so) rather than
a guess about the panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

from app.config import ArmedBy, Config, InputKind
from app.schedules.calendar import offset_changes, segments
from app.schedules.model import ALWAYS

#: the states a segment can be in, and what they mean (shown as a legend)
STATES = {
    "armed": "armed by its schedule: an alarm drives the linked outputs",
    "unarmed": "not armed: an alarm is logged as not armed and links nothing",
    "panel": "armed whenever the panel's armed-state input says so",
    "always": "always acts, whatever the time: 24 h and DVR inputs",
    "panel-input": "the panel's armed-state input: it arms, it does not alarm",
    "disabled": "disabled: changes are ignored",
    "on": "timed on by its schedule",
    "off": "not timed on (inputs and manual starts still drive it)",
    "untimed": "no schedule: driven by inputs and by hand only",
    # an operator's overrides, for a while (app/overrides.py)
    "bypassed": "bypassed by an operator until then: its alarms drive nothing",
    "override-armed": "armed by an operator's override until then, whatever its schedule",
    "override-disarmed": "disarmed by an operator's override until then, whatever its schedule",
}


@dataclass(frozen=True)
class Segment:
    start_us: int
    end_us: int
    state: str


@dataclass(frozen=True)
class Row:
    section: str  # "input" or "output"
    number: int
    name: str
    schedule: str | None
    segments: list[Segment]
    changes: int = field(default=0)  # changes of state inside the span


@dataclass(frozen=True)
class OffsetChange:
    at_us: int
    old_offset_s: int
    new_offset_s: int

    @property
    def label(self) -> str:
        forward = self.new_offset_s > self.old_offset_s
        minutes = abs(self.new_offset_s - self.old_offset_s) // 60
        amount = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
        return f"clocks go {'forward' if forward else 'back'} {amount}"


@dataclass(frozen=True)
class Timeline:
    start_us: int
    end_us: int
    rows: list[Row]
    offset_changes: list[OffsetChange]


def _pieces(
    config: Config, name: str | None, tz: tzinfo, start: int, end: int, on: str, off: str
) -> list[Segment]:
    if name == ALWAYS:
        return [Segment(start, end, on)]
    schedule = next(s for s in config.schedules if s.name == name)
    return [
        Segment(a, b, on if active else off)
        for a, b, active in segments(schedule.plan(), tz, start, end)
    ]


def build(config: Config, tz: tzinfo, start_us: int, end_us: int) -> Timeline:
    """Every input and output of ``config`` over ``[start_us, end_us)``."""
    rows = []
    for n, inp in enumerate(config.inputs, 1):
        if not inp.enabled:
            pieces = [Segment(start_us, end_us, "disabled")]
        elif inp.kind is InputKind.ARMED_STATE:
            pieces = [Segment(start_us, end_us, "panel-input")]
        elif inp.kind is not InputKind.ALARM:
            pieces = [Segment(start_us, end_us, "always")]
        elif inp.armed_by is ArmedBy.PANEL:
            pieces = [Segment(start_us, end_us, "panel")]
        else:
            on = "armed" if inp.armed_by is ArmedBy.SCHEDULE else "panel"
            pieces = _pieces(config, inp.schedule, tz, start_us, end_us, on, "unarmed")
        rows.append(Row("input", n, inp.name, inp.schedule, pieces, len(pieces) - 1))
    for n, out in enumerate(config.outputs, 1):
        if out.schedule is None:
            pieces = [Segment(start_us, end_us, "untimed")]
        else:
            pieces = _pieces(config, out.schedule, tz, start_us, end_us, "on", "off")
        rows.append(Row("output", n, out.name, out.schedule, pieces, len(pieces) - 1))
    changes = [OffsetChange(*c) for c in offset_changes(tz, start_us, end_us)]
    return Timeline(start_us, end_us, rows, changes)
