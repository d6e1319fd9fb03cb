"""One output's state machine: the camera "Alarm Out" menu, done properly.

An output is *active* while something wants it: a linked input (follow-source),
a fixed hold, the post-alarm hold after a linked input clears (follow-hold), a
manual start or its schedule. While active its *signal* is on
(switch mode) or alternates (pulse mode). The relay carries the signal as
"valid signal close" (energised = contact closed) or "open" (released = open).
Times are ``monotonic_ns``; nothing here reads a clock or touches a pin.
"""

from __future__ import annotations

from typing import Any

from app.config import OutputConfig
from app.events import Cause

MS = 1_000_000
FOREVER = 2**62


class OutputChannel:
    """
    >>> out = OutputChannel("OUT1", OutputConfig(name="OUT1", hold="fixed", hold_ms=100))
    >>> out.trigger("IN1", Cause.INPUT, now=0); out.update(0)
    True
    >>> out.signal, out.update(100 * MS), out.signal
    (True, True, False)

    In pulse mode it counts the pulses it gave, for the log:

    >>> out = OutputChannel("O", OutputConfig(name="O", mode="pulse", hold="fixed",
    ...                     hold_ms=1000, pulse_on_ms=100, pulse_off_ms=100))
    >>> out.trigger("IN1", Cause.INPUT, now=0)
    >>> for t in range(0, 1001, 100):
    ...     _ = out.update(t * MS)
    >>> out.active, out.pulses
    (False, 5)
    """

    def __init__(self, name: str, cfg: OutputConfig) -> None:
        self.name = name
        self.cfg = cfg
        self.sources: set[str] = set()  # follow-source: linked inputs now in alarm
        self.suppressed = False  # stopped by hand while its sources were still in alarm
        self.auto_until = 0  # fixed hold, or follow-hold's post-alarm time: its end
        self.manual_until = 0  # manual start: end (FOREVER = until stopped)
        self.scheduled = False  # timed output: inside a schedule window
        self.gap_until = 0  # the minimum off-gap: no new activation before this
        self.restart_pending = False
        self.active = False
        self.started_at = 0
        self.signal = False
        self.cause = Cause.SYSTEM
        self.source: str | None = None
        self.pulses = 0  # pulse mode: how many pulses the last activation gave
        self._given = 0  # pulse mode: pulses of this activation so far (relay on-edges)

    @property
    def energised(self) -> bool:
        """Whether the relay coil should be energised now."""
        return self.signal if self.cfg.valid_signal == "close" else not self.signal

    @property
    def latched(self) -> bool:
        """Started by hand until stopped (survives a restart)."""
        return self.manual_until == FOREVER

    def status(self, now: int) -> dict[str, Any]:
        """What status shows of this output (the engine adds its relay)."""
        return {
            "name": self.name,
            "dvr_channel": self.cfg.dvr_channel,
            "active": self.active,
            "mode": self.cfg.mode,
            "hold": self.cfg.hold,
            "schedule": self.cfg.schedule,
            "scheduled": self.scheduled,
            "latched": self.latched,
            "holding": self.holding(now),
            "time_left_ms": self.time_left_ms(now),
            "until_stopped": self.active
            and (self.manual_until == FOREVER or self.auto_until == FOREVER),
            "cause": str(self.cause) if self.active else None,
            "source": self.source if self.active else None,
        }

    def holding(self, now: int) -> bool:
        """In follow-hold's post-alarm time: its inputs cleared, the hold runs on."""
        return (
            self.active
            and self.cfg.hold == "follow-hold"
            and not self.sources
            and self.auto_until > now
        )

    def reconfigure(self, cfg: OutputConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name  # a rename shows in the next event

    def mark(self, cause: Cause, source: str | None) -> None:
        """Record why it is active, unless it is already."""
        if not self.active:
            self.cause, self.source = cause, source

    def trigger(self, source: str, cause: Cause, now: int) -> None:
        """A linked input went into alarm (while it acts)."""
        self.mark(cause, source)
        if self.cfg.hold != "fixed":  # follow, follow-hold: on while any input is in alarm
            already = bool(self.sources) and not self.suppressed
            if self.cfg.hold == "follow-hold":
                already = already or self.auto_until > now
                self.auto_until = 0  # following again: the hold starts when it clears
            self.sources.add(source)
            self.suppressed = False
            if already and self.cfg.retrigger == "restart":
                self.restart_pending = True
            return
        end = FOREVER if self.cfg.hold_ms == 0 else now + self.cfg.hold_ms * MS
        if self.auto_until <= now:
            self.auto_until = end
        elif self.cfg.retrigger == "extend":
            self.auto_until = max(self.auto_until, end)
        elif self.cfg.retrigger == "restart":
            self.auto_until = end
            self.restart_pending = True

    def release(self, source: str, now: int) -> bool:
        """A linked input left alarm (or stopped acting). True if that started
        follow-hold's post-alarm time (not after a stop by hand)."""
        following = source in self.sources and not self.suppressed
        self.sources.discard(source)
        if self.sources:
            return False
        self.suppressed = False
        if following and self.cfg.hold == "follow-hold":
            self.auto_until = now + self.cfg.hold_ms * MS
            return True
        return False

    def manual_start(
        self, duration_ms: int | None, cause: Cause, source: str | None, now: int
    ) -> None:
        self.mark(cause, source)
        end = FOREVER if duration_ms is None else now + duration_ms * MS
        self.manual_until = max(self.manual_until, end) if self.manual_until > now else end
        self.suppressed = False

    def manual_stop(self) -> None:
        """Stop every activation now; follow-source waits for its inputs' next alarm."""
        self.manual_until = 0
        self.auto_until = 0
        self.suppressed = bool(self.sources)
        self.restart_pending = False

    def wanted(self, now: int) -> bool:
        follow = bool(self.sources) and not self.suppressed
        return follow or self.auto_until > now or self.manual_until > now or self.scheduled

    def update(self, now: int) -> bool:
        """Bring ``active`` and ``signal`` up to ``now``; True if ``active`` changed."""
        was = self.active
        if self.restart_pending:
            self.restart_pending = False
            if self.active:
                self.active = False
                self.gap_until = now + self.cfg.min_off_ms * MS
        want = self.wanted(now)
        if want and not self.active and now >= self.gap_until:
            self.active = True
            self.started_at = now
            self._given = 0
        elif not want and self.active:
            self.pulses = self._given
            self.active = False
            self.gap_until = now + self.cfg.min_off_ms * MS
        signal, self.signal = self.signal, self._pattern(now)
        if self.signal and not signal and self.cfg.mode == "pulse":
            self._given += 1  # counted as the relay is driven: what the DVR saw
        return self.active != was

    def _pulse(self, now: int) -> tuple[bool, int | None]:
        """Pulse mode: whether the signal is on at ``now``, and when it next toggles."""
        on = self.cfg.pulse_on_ms * MS
        period = on + self.cfg.pulse_off_ms * MS
        k, phase = divmod(now - self.started_at, period)
        if self.cfg.pulse_count and k >= self.cfg.pulse_count:
            return False, None
        return phase < on, self.started_at + k * period + (on if phase < on else period)

    def _pattern(self, now: int) -> bool:
        if not self.active:
            return False
        return self.cfg.mode == "switch" or self._pulse(now)[0]

    def deadline(self, now: int) -> int | None:
        """The next instant at which :meth:`update` may change something."""
        times = [t for t in (self.auto_until, self.manual_until) if now < t < FOREVER]
        if self.wanted(now) and not self.active and self.gap_until > now:
            times.append(self.gap_until)
        if self.active and self.cfg.mode == "pulse":
            toggle = self._pulse(now)[1]
            if toggle is not None:
                times.append(toggle)
        return min(times) if times else None

    def time_left_ms(self, now: int) -> int | None:
        """Milliseconds until a timed activation ends (None: not timed, or idle)."""
        ends = [t for t in (self.auto_until, self.manual_until) if t > now]
        if not self.active or not ends or max(ends) >= FOREVER or self.sources or self.scheduled:
            return None
        return (max(ends) - now) // MS
