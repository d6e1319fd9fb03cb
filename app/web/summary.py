"""One line saying what an event means, for the event tables (the API carries it
as ``summary``): the detail a person looking for footage needs first."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from app.timefmt import local_text, parse_moment
from app.web import commission
from app.web.changes import change_summary

_CAUSES = {
    "schedule": "its schedule",
    "input": "the panel",
    "config": "a configuration change",
    "user": "a configuration change",  # rows logged before cause "config" existed
}


_ANNOTATIONS = ("network-action", "snapshot", "recorders-skipped")  # docs/recorders.md


def _annotation(name: str, state: str, detail: dict[str, Any]) -> str:
    """
    >>> _annotation("NVR", "network-action", {"event": 7, "ok": True, "summary": "OK"})
    'for event 7: NVR done: OK'
    >>> _annotation("Gate", "snapshot", {"event": 7, "ok": False, "summary": "HTTP 401"})
    'for event 7: Gate failed: HTTP 401'
    """
    result = "skipped" if state == "recorders-skipped" else "done" if detail.get("ok") else "failed"
    said = str(detail.get("summary") or "")
    return f"for event {detail['event']}: {name} {result}" + (f": {said}" if said else "")


def _local(iso: str, tz: tzinfo) -> str:
    return local_text(parse_moment(iso, tz), tz)


def summary(event: dict[str, Any], tz: tzinfo) -> str:
    """
    >>> from zoneinfo import ZoneInfo
    >>> summary({"kind": "system", "state": "clock-step", "cause": "system",
    ...          "detail": {"old": "2026-01-01T07:00:00.000Z",
    ...                     "new": "2026-01-01T08:30:00.000Z", "step_s": 5400}},
    ...         ZoneInfo("Europe/Brussels"))
    'clock stepped from 2026-01-01 08:00:00 to 2026-01-01 09:30:00 (+5400 s)'
    """
    kind, state, cause = event["kind"], event["state"], event["cause"]
    detail: dict[str, Any] = event.get("detail") or {}
    text = ""
    mine = commission.summary(event, tz)  # bypass, overrides, holds, the walk test (#19)
    if mine is not None:
        text = mine
    elif kind == "system" and state == "clock-step":
        text = (
            f"clock stepped from {_local(detail['old'], tz)} to {_local(detail['new'], tz)} "
            f"({detail['step_s']:+g} s)"
        )
        skipped = detail.get("skipped") or detail.get("replayed")
        if skipped:
            text += f"; schedules re-evaluated: {', '.join(sorted(skipped))}"
    elif kind == "input" and state in ("armed", "disarmed") and cause in _CAUSES:
        text = f"by {_CAUSES[cause]}"
        if cause == "schedule" and event.get("source"):
            text = f"by schedule {event['source']}"
        if detail.get("in_alarm"):
            text += " while in alarm"
    elif kind == "input" and state == "alarm-not-armed":
        text = "not armed: its outputs were not driven"
    elif kind == "fault":
        text = str(detail.get("message", ""))
    elif kind == "security":
        extra = {k: v for k, v in detail.items() if k != "address"}
        text = ", ".join(f"{k} {v}" for k, v in extra.items())
        if detail.get("address"):
            text += (" " if text else "") + f"from {detail['address']}"
    elif kind == "config" and state == "changed":
        text = change_summary(detail, event.get("source"))
    elif kind == "system" and state in _ANNOTATIONS and "event" in detail:
        text = _annotation(event.get("source") or "", state, detail)
    elif kind == "output" and state == "idle" and "pulses" in detail:
        n = detail["pulses"]
        text = f"after {n} pulse{'' if n == 1 else 's'}"
    if detail.get("clock_step") and not text.startswith("clock"):
        text = (text + "; " if text else "") + "after a clock step"
    return text
