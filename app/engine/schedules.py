"""The engine's view of the named schedules: "is NAME on at this instant?"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, tzinfo

from app.schedules import ALWAYS, Evaluator, Plan, Schedule


class ScheduleBook:
    """Every schedule of one configuration, evaluated in one time zone.

    The built-in ``always`` is on at every instant; a ``None`` schedule (an
    output that is not timed) is never on.
    """

    def __init__(self, schedules: Sequence[Schedule] = (), tz: tzinfo = UTC) -> None:
        self.tz = tz
        self._evaluators = {s.name: Evaluator(s.plan(), tz) for s in schedules}

    def plan(self, name: str) -> Plan | None:
        evaluator = self._evaluators.get(name)
        return None if evaluator is None else evaluator.plan

    def names(self) -> list[str]:
        return [ALWAYS, *self._evaluators]

    def is_active(self, name: str | None, utc_us: int) -> bool:
        if name is None:
            return False
        if name == ALWAYS:
            return True
        try:
            return self._evaluators[name].active_at(utc_us)
        except KeyError:
            raise KeyError(f"unknown schedule {name!r}") from None

    def next_change(self, names: Iterable[str | None], utc_us: int) -> int | None:
        """The first instant after ``utc_us`` at which any of ``names`` changes."""
        changes = [
            self._evaluators[n].next_change(utc_us) for n in set(names) if n in self._evaluators
        ]
        found = [c for c in changes if c is not None]
        return min(found) if found else None
