"""The walk test (commissioning): an installer walks the site, opening each door
and crossing each PIR, and sees each input tick off with its contact's shortest
pulse and bounce count; then pulses each DVR channel in turn and confirms that
the recorder marked an alarm. The result is the hand-over report.

Nothing about the relays changes during a walk test: an input still drives its
linked outputs (the recorder should see the walk too, and that is part of the
test). The session is logged as ``walk-test-started`` and ``walk-test-ended``
(``operator`` rows); the ended row's detail is the whole report, so the report
is in the log, chained like every row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.clock import Clock
from app.engine.arming import Arming
from app.events import Cause, Kind
from app.recorders import profile
from app.timefmt import utc_iso

MS = 1_000_000
PULSE_MS = 5000  # how long a channel is pulsed for the recorder to see it


@dataclass
class _Baseline:
    raw: int
    settled: int
    alarms: int


@dataclass
class _Check:
    """One output's channel check: pulsed, then confirmed (or not) by a person."""

    pulsed_at: str | None = None
    pulsed_by: str | None = None
    marked: bool | None = None  # True: the recorder marked an alarm
    confirmed_at: str | None = None
    confirmed_by: str | None = None
    note: str = ""


@dataclass
class WalkSession:
    user: str
    started_utc_us: int
    inputs: dict[str, _Baseline] = field(default_factory=dict)
    first_alarm: dict[str, str] = field(default_factory=dict)  # input -> when (UTC ISO)
    checks: dict[int, _Check] = field(default_factory=dict)  # output number -> its check


class WalkTests(Arming):
    """The engine's walk test (a base of :class:`~app.engine.core.Engine`)."""

    clock: Clock
    walk: WalkSession | None = None

    def tick(self, now: int | None = None) -> int | None:  # the engine's
        raise NotImplementedError

    def manual_start(
        self, n: int, duration_ms: int | None, user: str, cause: Cause = Cause.USER
    ) -> None:  # the engine's
        raise NotImplementedError

    def _session(self) -> WalkSession:
        if self.walk is None:
            raise ValueError("no walk test is running: start one first")
        return self.walk

    def start_walk_test(self, user: str) -> None:
        """Start a walk test (one at a time); every input's counts start from now."""
        if self.walk is not None:
            raise ValueError(f"a walk test is already running, started by {self.walk.user}")
        utc = self.clock.utc_us()
        self.walk = WalkSession(user, utc)
        for ch in self.inputs:
            self.walk.inputs[ch.name] = _Baseline(ch.raw_changes, ch.settled_changes, ch.alarms)
            ch.shortest_ns = None
        self._event(
            Kind.OPERATOR,
            "walk-test-started",
            Cause.USER,
            source=user,
            detail={"inputs": [ch.name for ch in self.inputs], "linked_relays": "fire"},
        )

    def walk_pulse(self, n: int, user: str) -> None:
        """Pulse output ``n`` for :data:`PULSE_MS` so the recorder can mark it."""
        session = self._session()
        self.manual_start(n, PULSE_MS, user)
        check = session.checks.setdefault(n, _Check())
        check.pulsed_at, check.pulsed_by = utc_iso(self.clock.utc_us()), user
        check.marked = check.confirmed_at = check.confirmed_by = None

    def walk_confirm(self, n: int, marked: bool, user: str, note: str = "") -> None:
        """A person's answer to "did the recorder mark an alarm on this channel?"."""
        session = self._session()
        check = session.checks.get(n)
        if check is None or check.pulsed_at is None:
            raise ValueError(f"output {n} has not been pulsed in this walk test: pulse it first")
        out = self.outputs[n - 1]
        check.marked, check.note = marked, note
        check.confirmed_at, check.confirmed_by = utc_iso(self.clock.utc_us()), user
        self._event(
            Kind.OPERATOR,
            "walk-test-channel-ok" if marked else "walk-test-channel-failed",
            Cause.USER,
            channel=out.name,
            dvr_channel=out.cfg.dvr_channel or None,
            source=user,
            detail={"marked_alarm": marked, "note": note},
        )

    def end_walk_test(self, user: str) -> dict[str, Any]:
        """End the walk test; its report (also the detail of the row that ends it)."""
        self._session()
        report = self.walk_report() or {}
        report["ended"] = utc_iso(self.clock.utc_us())
        report["ended_by"] = user
        self.walk = None
        self._event(Kind.OPERATOR, "walk-test-ended", Cause.USER, source=user, detail=report)
        return report

    def walk_report(self) -> dict[str, Any] | None:
        """The walk test so far (None: none running): every input with what was seen,
        every output with its recorder setting and its channel check."""
        if self.walk is None:
            return None
        session = self.walk
        inputs = []
        for n, ch in enumerate(self.inputs, 1):
            base = session.inputs.get(ch.name, _Baseline(ch.raw_changes, ch.settled_changes, 0))
            alarms = ch.alarms - base.alarms
            if alarms and ch.name not in session.first_alarm and ch.last_alarm_ns is not None:
                ago_us = (self.clock.monotonic_ns() - ch.last_alarm_ns) // 1000
                session.first_alarm[ch.name] = utc_iso(self.clock.utc_us() - ago_us)
            raw = ch.raw_changes - base.raw
            inputs.append(
                {
                    "number": n,
                    "name": ch.name,
                    "enabled": ch.cfg.enabled,
                    "kind": str(ch.cfg.kind),
                    "contact_type": str(ch.cfg.contact),
                    "outputs": list(ch.cfg.outputs),
                    "tested": alarms > 0,
                    "alarms": alarms,
                    "first_alarm": session.first_alarm.get(ch.name),
                    "back_to_normal": alarms > 0 and not ch.alarm,
                    "changes": raw,
                    "bounces": max(0, raw - (ch.settled_changes - base.settled)),
                    "shortest_pulse_ms": None
                    if ch.shortest_ns is None or not raw
                    else round(ch.shortest_ns / MS, 1),
                    "alarm_now": ch.alarm,
                }
            )
        outputs = []
        for n, out in enumerate(self.outputs, 1):
            cfg = out.cfg
            check = session.checks.get(n, _Check())
            outputs.append(
                {
                    "number": n,
                    "name": cfg.name,
                    "dvr_channel": cfg.dvr_channel,
                    "valid_signal": cfg.valid_signal,
                    "recorder": cfg.recorder,
                    "recorder_setting": profile(cfg.recorder).advice(
                        cfg.valid_signal, cfg.dvr_channel
                    ),
                    "mode": cfg.mode,
                    "hold": cfg.hold,
                    "hold_ms": cfg.hold_ms,
                    "pulsed_at": check.pulsed_at,
                    "pulsed_by": check.pulsed_by,
                    "marked_alarm": check.marked,
                    "confirmed_at": check.confirmed_at,
                    "confirmed_by": check.confirmed_by,
                    "note": check.note,
                }
            )
        return {
            "started": utc_iso(session.started_utc_us),
            "started_by": session.user,
            "linked_relays": "fire during a walk test: the recorder sees the walk too",
            "inputs": inputs,
            "outputs": outputs,
        }
