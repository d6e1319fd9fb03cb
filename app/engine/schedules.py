"""The engine's view of the named schedules: "is NAME on at this instant?"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, tzinfo

from app.schedules import ALWAYS, Evaluator, Schedule
from app.schedules.calendar import transitions
from app.timefmt import utc_iso


class ScheduleBook:
    """Every schedule of one configuration, evaluated in one time zone.

    The built-in ``always`` is on at every instant; a ``None`` schedule (an
    output that is not timed) is never on.
    """

    def __init__(self, schedules: Sequence[Schedule] = (), tz: tzinfo = UTC) -> None:
        self.tz = tz
        self._evaluators = {s.name: Evaluator(s.plan(), tz) for s in schedules}

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

    def changes_between(
        self, names: Iterable[str | None], start_us: int, end_us: int, most: int = 20
    ) -> dict[str, list[str]]:
        """Each named schedule's changes in ``(start_us, end_us]``, as "on/off TIME"."""
        crossed = {}
        for name in sorted(n for n in set(names) if n in self._evaluators):
            changes = transitions(self._evaluators[name].plan, self.tz, start_us, end_us)
            if changes:
                crossed[name] = [
                    f"{'on' if on else 'off'} {utc_iso(t)}" for t, on in changes[:most]
                ]
        return crossed

    def next_change(self, names: Iterable[str | None], utc_us: int) -> int | None:
        """The first instant after ``utc_us`` at which any of ``names`` changes."""
        changes = [
            self._evaluators[n].next_change(utc_us) for n in set(names) if n in self._evaluators
        ]
        found = [c for c in changes if c is not None]
        return min(found) if found else None
