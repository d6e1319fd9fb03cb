"""Arming: which alarm inputs act now (by schedule, panel or both), and what
happens when that changes. A base of :class:`~app.engine.core.Engine`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from app.config import ArmedBy, InputKind
from app.engine.inputs import InputChannel
from app.engine.outputs import OutputChannel
from app.engine.schedules import ScheduleBook
from app.events import Cause, EventStamper, Kind, NewEvent
from app.overrides import OverrideBook

log = logging.getLogger(__name__)


class Arming:
    """The engine's arming logic; the engine sets these attributes."""

    inputs: list[InputChannel]
    outputs: list[OutputChannel]
    schedules: ScheduleBook
    stamper: EventStamper
    emit: Callable[[NewEvent], None]
    panel_armed: bool
    overrides: OverrideBook  # bypassed inputs, an arming override (app/engine/overrides.py)
    _utc: int  # the wall clock as of this tick
    _after_step: bool  # this tick follows a step of the wall clock
    #: during a tick: its events (what to stamp), stamped and emitted at its end
    _held: list[tuple[Kind, str, Cause, dict[str, Any]]] | None = None

    def _event(self, kind: Kind, state: str, cause: Cause, **kw: Any) -> None:
        if self._held is not None:
            self._held.append((kind, state, cause, kw))
            return
        try:
            self.emit(self.stamper.make(kind, state, cause, **kw))
        except Exception:  # the relay path never fails because of the log
            log.exception("emitting an event failed")

    def _bypassed(self, ch: InputChannel) -> bool:
        return ch.name in self.overrides.bypass

    def _expire_overrides(self, now: int) -> None:
        """End the overrides whose time is up (app/engine/overrides.py)."""

    def _armed(self, ch: InputChannel) -> bool:
        if self.overrides.arming is not None:  # an operator's override, for a while
            return self.overrides.arming.armed
        by = ch.cfg.armed_by
        scheduled = self.schedules.is_active(ch.cfg.schedule, self._utc)
        if by is ArmedBy.SCHEDULE:
            return scheduled
        if by is ArmedBy.PANEL:
            return self.panel_armed
        return scheduled and self.panel_armed

    def _acts(self, ch: InputChannel) -> bool:
        kind = ch.cfg.kind
        if not ch.cfg.enabled or kind is InputKind.ARMED_STATE or self._bypassed(ch):
            return False
        return kind is not InputKind.ALARM or self._armed(ch)

    def _linked(self, ch: InputChannel) -> Iterable[OutputChannel]:
        return (self.outputs[n - 1] for n in ch.cfg.outputs)

    def _arming_of(self, ch: InputChannel) -> bool | None:
        """Armed now, for an enabled alarm input; None for every other input."""
        if ch.cfg.kind is not InputKind.ALARM or not ch.cfg.enabled:
            return None
        return self._armed(ch)

    def _rearm(self, now: int, cause: Cause, source: str | None, drive: bool = True) -> None:
        """Log every alarm input whose arming changed; one already in alarm then
        drives its outputs (armed) or lets them go (disarmed).

        After a configuration change (``cause`` config, ``source`` who made it) an
        input whose schedule now decides its arming names the schedule as the
        cause; otherwise (the panel decides) the change itself is the cause.
        Overrides whose time is up end first."""
        self._expire_overrides(now)
        for ch in self.inputs:
            armed = self._arming_of(ch)
            if armed == ch.armed:
                continue
            was, ch.armed = ch.armed, armed
            if armed is None or was is None:  # became or stopped being an alarm input
                continue
            detail: dict[str, Any] = {
                "schedule": ch.cfg.schedule,
                "armed_by": str(ch.cfg.armed_by),
                "in_alarm": ch.alarm,
            }
            if self._after_step:
                detail["clock_step"] = True
            if cause is Cause.USER:  # only an operator's arming override re-arms by hand
                detail["override"] = "set" if self.overrides.arming is not None else "ended"
            why, by = cause, source
            by_schedule = ch.cfg.armed_by is not ArmedBy.PANEL
            if cause is Cause.CONFIG:
                if by_schedule and armed == self.schedules.is_active(ch.cfg.schedule, self._utc):
                    why, by = Cause.SCHEDULE, ch.cfg.schedule
            elif by is None and by_schedule:
                by = ch.cfg.schedule
            self._event(
                Kind.INPUT,
                "armed" if armed else "disarmed",
                why,
                channel=ch.name,
                source=by,
                detail=detail,
            )
            if drive and ch.alarm and not self._bypassed(ch):
                for out in self._linked(ch):
                    if armed:
                        out.trigger(ch.name, cause, now)
                    else:
                        self._release(out, ch.name, now)

    def _release(self, out: OutputChannel, source: str, now: int) -> None:
        """``source`` no longer drives ``out``; log a follow-hold's post-alarm time."""
        if out.release(source, now):
            self._event(
                Kind.OUTPUT,
                "holding",
                Cause.INPUT,
                channel=out.name,
                dvr_channel=out.cfg.dvr_channel or None,
                source=source,
                detail={"hold_ms": out.cfg.hold_ms, "after": "the alarm cleared"},
            )

    def _update_panel(self, now: int, source: str | None = None) -> None:
        """Follow the panel's armed-state inputs; with ``source`` (the input that
        changed), re-arm the inputs armed by the panel."""
        self.panel_armed = any(
            ch.alarm and ch.cfg.enabled and not self._bypassed(ch)
            for ch in self.inputs
            if ch.cfg.kind is InputKind.ARMED_STATE
        )
        if source is not None:
            self._rearm(now, Cause.INPUT, source)
