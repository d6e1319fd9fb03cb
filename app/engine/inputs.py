"""One alarm input's state: our own debounce, NO/NC, chatter and stuck detection.

Times are ``monotonic_ns`` values; nothing here reads a clock or touches a pin.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from app.config import Contact, InputConfig

MS = 1_000_000
S = 1_000_000_000


class InputChannel:
    """Debounce is "stable for ``response_ms``": a raw change is accepted only if the
    level has not changed again for that long.

    >>> ch = InputChannel("IN1", InputConfig(name="IN1", response_ms=50), closed=False, now=0)
    >>> ch.edge(True, 0)
    True
    >>> ch.settle(49 * MS), ch.settle(50 * MS), ch.alarm
    (False, True, True)
    """

    def __init__(self, name: str, cfg: InputConfig, *, closed: bool, now: int) -> None:
        self.name = name
        self.cfg = cfg
        self.raw = closed
        self.raw_since = now
        self.stable = closed  # at start the wire is trusted as it is
        self.alarm_since: int | None = now if self.alarm else None
        self.raw_changes = 0
        self.settled_changes = 0  # changes the debounce accepted (raw - settled = bounces)
        self.alarms = 0  # times it settled into alarm
        self.last_alarm_ns: int | None = None  # when it last settled into alarm
        self.shortest_ns: int | None = None  # shortest raw level seen (a walk test resets it)
        self._recent: deque[int] = deque(maxlen=cfg.chatter_changes)
        self.chattering = False
        self.unlogged = 0  # changes not logged while chattering
        self.stuck = False
        self.armed: bool | None = None  # alarm inputs: armed as last logged (the engine's)

    @property
    def alarm(self) -> bool:
        """The interpreted state: NO alarms when closed, NC when open."""
        return self.stable if self.cfg.contact is Contact.NO else not self.stable

    def status(self) -> dict[str, Any]:
        """What status shows of this input (the engine adds arming)."""
        return {
            "name": self.name,
            "enabled": self.cfg.enabled,
            "kind": str(self.cfg.kind),
            "contact_type": str(self.cfg.contact),
            "schedule": self.cfg.schedule,
            "armed_by": str(self.cfg.armed_by),
            "supervised": False,
            "contact": "closed" if self.raw else "open",
            "alarm": self.alarm,
            "chattering": self.chattering,
            "stuck": self.stuck,
        }

    def reconfigure(self, cfg: InputConfig, now: int) -> None:
        """Take new settings at ``now``. A new contact type can change what the
        resting contact means: alarm since now, or no longer in alarm."""
        alarm = self.alarm
        self.cfg = cfg
        self.name = cfg.name  # a rename shows in the next event
        self._recent = deque(self._recent, maxlen=cfg.chatter_changes)
        if self.alarm != alarm:
            self.alarm_since = now if self.alarm else None

    def edge(self, closed: bool, t: int) -> bool:
        """Record a raw change at ``t``; False if it repeats the level we have."""
        if closed == self.raw:
            return False
        held = t - self.raw_since  # how long the level that ends here lasted
        if self.shortest_ns is None or held < self.shortest_ns:
            self.shortest_ns = held
        self.raw = closed
        self.raw_since = t
        self.raw_changes += 1
        self._recent.append(t)
        return True

    def deadline(self) -> int | None:
        """When :meth:`settle` next has something to do."""
        if self.raw != self.stable:
            return self.raw_since + self.cfg.response_ms * MS
        return None

    def settle(self, now: int) -> bool:
        """Accept the raw level if it has been stable long enough; True if it changed."""
        if self.raw == self.stable or now - self.raw_since < self.cfg.response_ms * MS:
            return False
        self.stable = self.raw
        self.alarm_since = now if self.alarm else None
        self.settled_changes += 1
        self.alarms += self.alarm
        if self.alarm:
            self.last_alarm_ns = now
        return True

    def check_chatter(self, now: int) -> bool | None:
        """True when chatter starts, False when it ends, None if unchanged.

        Chatter: ``chatter_changes`` raw changes within ``chatter_window_s``. It
        ends once a whole window passes with fewer changes.
        """
        window = self.cfg.chatter_window_s * S
        full = len(self._recent) == self._recent.maxlen
        busy = (
            full
            and self._recent[-1] - self._recent[0] <= window
            and now - self._recent[0] <= window
        )
        if busy and not self.chattering:
            self.chattering = True
            return True
        if self.chattering and not (full and now - self._recent[0] <= window):
            self.chattering = False
            return False
        return None

    def chatter_deadline(self) -> int | None:
        if self.chattering and self._recent:
            return self._recent[0] + self.cfg.chatter_window_s * S + 1
        return None

    def check_stuck(self, now: int) -> bool | None:
        """True when the input has been in alarm longer than ``stuck_after_s``, False
        when that ends, None if unchanged."""
        limit = self.cfg.stuck_after_s * S
        stuck = bool(limit) and self.alarm_since is not None and now - self.alarm_since >= limit
        if stuck != self.stuck:
            self.stuck = stuck
            return stuck
        return None

    def stuck_deadline(self) -> int | None:
        if self.cfg.stuck_after_s and self.alarm_since is not None and not self.stuck:
            return self.alarm_since + self.cfg.stuck_after_s * S
        return None
