"""Named schedules that arm inputs and time outputs.

Only the built-in "always" exists until weekly schedules arrive (issue 5); the
engine already asks every question through this one object.
"""

from __future__ import annotations

ALWAYS = "always"


class ScheduleBook:
    """Answers "is schedule NAME active at this UTC instant?"."""

    def names(self) -> list[str]:
        return [ALWAYS]

    def is_active(self, name: str | None, utc_us: int) -> bool:
        if name in (None, ALWAYS):
            return True
        raise KeyError(f"unknown schedule {name!r}")
