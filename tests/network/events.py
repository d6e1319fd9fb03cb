"""Committed events as the engine logs them (states, causes, details), for the
destinations' tests."""

from __future__ import annotations

from typing import Any

from app.events import Cause, Event, Kind
from app.network.destination import Delivery

DEVICE = "ab-test01"
T0_US = 1_796_601_600_000_000  # 2026-12-07T00:00:00Z = 01:00 in Brussels


def event(seq: int, kind: Kind, state: str, cause: Cause = Cause.SYSTEM, **fields: Any) -> Delivery:
    e = Event(
        kind=kind,
        state=state,
        cause=cause,
        utc_us=T0_US + seq * 1_000_000,
        mono_ns=seq * 1_000_000_000,
        boot_id="boot-1",
        clock_synced=fields.pop("clock_synced", True),
        seq=seq,
        **fields,
    )
    return Delivery(f"{DEVICE}-{seq}", e)


def alarm(seq: int, channel: str = "Front door", kind: str = "alarm") -> Delivery:
    detail = {"contact": "closed", "contact_type": "NO", "kind": kind}
    return event(seq, Kind.INPUT, "alarm", Cause.INPUT, channel=channel, detail=detail)


def output_on(seq: int, channel: str, dvr: str | None, source: str, cause: Cause) -> Delivery:
    return event(
        seq,
        Kind.OUTPUT,
        "active",
        cause,
        channel=channel,
        dvr_channel=dvr,
        source=source,
        detail={"relay": "energised"},
    )


def fault(seq: int, state: str = "raised", code: str = "stuck") -> Delivery:
    detail = {"code": code, "message": "input Back door has not changed for 24 hours"}
    return event(seq, Kind.FAULT, state, channel="Back door", detail=detail)


def trigger(seq: int, user: str = "alice", outputs: list[str] | None = None) -> Delivery:
    detail = {"outputs": outputs or ["Cam 3 relay"], "duration_ms": 30000}
    return event(seq, Kind.OPERATOR, "manual-trigger", Cause.USER, source=user, detail=detail)
