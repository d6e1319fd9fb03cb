"""An operator's temporary overrides, in the engine: bypass an input for a while,
arm or disarm every alarm input for a while (app/overrides.py has the data).

Each is logged with who and until when (an ``operator`` row), takes effect at
once (an input in alarm lets its outputs go, or drives them), and ends by itself
at its time (a ``bypass-ended`` / ``arming-override-ended`` row with cause
``system``), or earlier by hand. ``on_overrides`` is told of every change, so
the io process can store them: they survive a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.clock import Clock
from app.config import InputKind
from app.engine.arming import Arming
from app.engine.inputs import InputChannel
from app.events import Cause, Kind
from app.overrides import MAX_S, MIN_S, ArmingOverride, Bypass, OverrideBook
from app.timefmt import utc_iso

US = 1_000_000


class Overrides(Arming):
    """The engine's overrides (a base of :class:`~app.engine.core.Engine`)."""

    clock: Clock
    running: bool
    on_overrides: Callable[[], None] | None = None  # told of every change (engine thread)

    def tick(self, now: int | None = None) -> int | None:  # the engine's
        raise NotImplementedError

    def restore_overrides(self, data: Any) -> None:
        """Before :meth:`start`: the overrides stored by an earlier run. Those whose
        time ran out while the io process was stopped end now (logged)."""
        self.overrides = OverrideBook.from_json(data)
        self._utc = self.clock.utc_us()
        self._end_expired(None, while_stopped=True)

    def _input(self, n: int) -> InputChannel:
        if not 1 <= n <= len(self.inputs):
            raise ValueError(f"there is no input {n}: inputs are 1 to {len(self.inputs)}")
        return self.inputs[n - 1]

    @staticmethod
    def _check_duration(duration_s: int) -> None:
        if not MIN_S <= duration_s <= MAX_S:
            raise ValueError(
                f"an override lasts from {MIN_S // 60} minute to {MAX_S // 3600} hours, "
                f"not {duration_s} s"
            )

    def _changed(self) -> None:
        if self.on_overrides is not None:
            self.on_overrides()

    def _acts_changed(self, ch: InputChannel, before: bool, now: int) -> None:
        """``ch`` acts (or not) since a bypass began or ended: drive or let go."""
        if ch.cfg.kind is InputKind.ARMED_STATE:
            self._update_panel(now, ch.name)
            return
        if not ch.alarm or self._acts(ch) == before:
            return
        for out in self._linked(ch):
            if not before:
                out.trigger(ch.name, Cause.INPUT, now)
            else:
                self._release(out, ch.name, now)

    # -- bypass ---------------------------------------------------------------

    def bypass_input(self, n: int, duration_s: int, user: str, reason: str = "") -> None:
        """Input ``n`` drives nothing for ``duration_s`` (its changes are still logged,
        an alarm as ``alarm-bypassed``). Again while bypassed: a new end time."""
        self._check_duration(duration_s)
        ch = self._input(n)
        now = self.clock.monotonic_ns()
        utc = self.clock.utc_us()
        before = self._acts(ch)
        until = utc + duration_s * US
        self.overrides.bypass[ch.name] = Bypass(until, user, utc, reason)
        self._event(
            Kind.OPERATOR,
            "bypass",
            Cause.USER,
            channel=ch.name,
            source=user,
            detail={"until": utc_iso(until), "for_s": duration_s, "reason": reason}
            | {"in_alarm": ch.alarm},
        )
        self._acts_changed(ch, before, now)
        self._changed()
        self.tick(now)

    def end_bypass(self, n: int, user: str) -> bool:
        """End input ``n``'s bypass now; False if it was not bypassed (nothing logged)."""
        ch = self._input(n)
        if ch.name not in self.overrides.bypass:
            return False
        now = self.clock.monotonic_ns()
        bypass = self.overrides.bypass.pop(ch.name)
        self._event(
            Kind.OPERATOR,
            "bypass-ended",
            Cause.USER,
            channel=ch.name,
            source=user,
            detail={"was_until": utc_iso(bypass.until_utc_us), "set_by": bypass.by},
        )
        self._acts_changed(ch, False, now)  # bypassed, it did not act
        self._changed()
        self.tick(now)
        return True

    # -- arming override ------------------------------------------------------

    def override_arming(self, armed: bool, duration_s: int, user: str) -> None:
        """Every alarm input armed (or disarmed) for ``duration_s``, whatever its
        schedule or the panel say; each change of arming is logged after it."""
        self._check_duration(duration_s)
        now = self.clock.monotonic_ns()
        utc = self.clock.utc_us()
        until = utc + duration_s * US
        self.overrides.arming = ArmingOverride(armed, until, user, utc)
        self._event(
            Kind.OPERATOR,
            "arming-override",
            Cause.USER,
            source=user,
            detail={"armed": armed, "until": utc_iso(until), "for_s": duration_s},
        )
        self._utc = utc
        self._rearm(now, Cause.USER, user)
        self._changed()
        self.tick(now)

    def end_arming_override(self, user: str) -> bool:
        """Back to the schedules and the panel now; False if there was no override."""
        ended = self.overrides.arming
        if ended is None:
            return False
        now = self.clock.monotonic_ns()
        self.overrides.arming = None
        self._event(
            Kind.OPERATOR,
            "arming-override-ended",
            Cause.USER,
            source=user,
            detail={"armed": ended.armed, "was_until": utc_iso(ended.until_utc_us)}
            | {"set_by": ended.by},
        )
        self._utc = self.clock.utc_us()
        self._rearm(now, Cause.USER, user)
        self._changed()
        self.tick(now)
        return True

    # -- the end of an override -----------------------------------------------

    def _expire_overrides(self, now: int) -> None:
        if self.overrides.bypass or self.overrides.arming is not None:
            self._end_expired(now)

    def _end_expired(self, now: int | None, *, while_stopped: bool = False) -> None:
        """Log and undo every override whose time is up (``now`` None: before start)."""
        gone, ended = self.overrides.expired(self._utc)
        why = "its time ran out" + (" while the io process was stopped" if while_stopped else "")
        for name, bypass in gone.items():
            self._event(
                Kind.OPERATOR,
                "bypass-ended",
                Cause.SYSTEM,
                channel=name,
                source=bypass.by,
                detail={"was_until": utc_iso(bypass.until_utc_us), "why": why},
            )
            ch = next((c for c in self.inputs if c.name == name), None)
            if ch is not None and now is not None:
                self._acts_changed(ch, False, now)  # bypassed, it did not act
        if ended is not None:
            self._event(
                Kind.OPERATOR,
                "arming-override-ended",
                Cause.SYSTEM,
                source=ended.by,
                detail={"armed": ended.armed, "was_until": utc_iso(ended.until_utc_us)}
                | {"why": why},
            )
        if gone or ended is not None:
            self._changed()

    def override_status(self) -> dict[str, Any]:
        """What status shows of the overrides (times in UTC microseconds)."""
        numbers = {ch.name: n for n, ch in enumerate(self.inputs, 1)}
        arming = self.overrides.arming
        return {
            "bypass": [
                {"input": numbers.get(name), "name": name}
                | _times(b.until_utc_us, b.since_utc_us)
                | {"by": b.by, "reason": b.reason}
                for name, b in self.overrides.bypass.items()
            ],
            "arming_override": None
            if arming is None
            else {"armed": arming.armed, "by": arming.by}
            | _times(arming.until_utc_us, arming.since_utc_us),
        }


def _times(until: int, since: int) -> dict[str, Any]:
    return {"until_utc_us": until, "until": utc_iso(until), "since": utc_iso(since)}
