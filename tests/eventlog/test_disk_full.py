"""Disk full: fault raised, events buffered (bounded) and flushed in order, fault cleared.

A full disk is made with SQLite's own page limit (``PRAGMA max_page_count`` on the
writer's connection, via ``EventWriter.set_max_page_count``): the file cannot grow
and every write that needs a new page fails with SQLITE_FULL, as on a full disk.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine

from app.clock import ManualClock
from app.eventlog import EventWriter, RetentionPolicy
from app.eventlog.queries import events_after
from app.events import Event, EventStamper, Kind
from tests.support import wait_for

from .conftest import MakeWriter, user_event
from .test_writer import Collector, numbers

PAD = "x" * 400  # big rows fill pages quickly

Fault = tuple[str, bool, str]


def all_events(engine: Engine) -> list[Event]:
    return events_after(engine, 0, limit=100_000)


def fill_until_fault(
    writer: EventWriter, stamper: EventStamper, clock: ManualClock, first: int
) -> tuple[int, float]:
    """Submit padded events until the writer reports the disk full. (next n, slowest submit)"""
    n, slowest = first, 0.0
    while writer.fault is None:
        assert n < first + 20_000, "the page limit never filled the database"
        started = time.perf_counter()
        writer.submit(user_event(stamper, n, pad=PAD))
        slowest = max(slowest, time.perf_counter() - started)
        clock.advance(0.001)
        n += 1
        if n % 20 == 0:
            time.sleep(0.002)
    return n, slowest


def test_disk_full_buffers_drops_newest_and_recovers_in_order(
    engine: Engine, db_path: Path, stamper: EventStamper, clock: ManualClock,
    make_writer: MakeWriter,
) -> None:  # fmt: skip
    faults: list[Fault] = []
    collected = Collector()
    writer = make_writer(
        on_commit=collected,
        on_fault=lambda *fault: faults.append(fault),
        buffer_limit=1000,
        max_batch=100,
        retry_interval_s=0.05,
    )
    for n in range(10):
        writer.submit(user_event(stamper, n))
        clock.advance(0.001)
    assert writer.flush()

    writer.set_max_page_count(1)  # capped at the size it has now
    n, slowest = fill_until_fault(writer, stamper, clock, 10)
    assert wait_for(lambda: bool(faults))  # (on_fault runs just after .fault is set)
    assert faults == [("disk-full", True, "database or disk is full")]
    assert not writer.flush(timeout=5)  # reports the failing disk, does not hang

    # Keep submitting well past the buffer: submit() never blocks, the oldest are kept.
    submitted_at: dict[int, int] = {}
    for _ in range(1500):
        started = time.perf_counter()
        writer.submit(user_event(stamper, n, pad=PAD))
        slowest = max(slowest, time.perf_counter() - started)
        submitted_at[n] = clock.utc_us()
        clock.advance(0.001)
        n += 1
    # submit() would block until the disk frees (forever, here) if it waited on it; it
    # takes microseconds, but a loaded CI machine can stall a thread for 0.1 s
    assert slowest < 1.0
    assert writer.dropped > 0
    assert writer.pending >= 1000
    assert writer.fault == "disk-full"
    dropped = writer.dropped
    kept_up_to = n - dropped  # the newest `dropped` events were the ones dropped

    writer.set_max_page_count(None)  # space again: the writer retries at once
    assert writer.flush(timeout=10)
    assert wait_for(lambda: len(faults) == 2)
    assert faults[1] == ("disk-full", False, "writing to the event log works again")
    assert writer.fault is None
    for m in range(n, n + 5):  # and it carries on normally
        writer.submit(user_event(stamper, m))
    assert writer.flush()

    stored = all_events(engine)
    assert stored == collected.events  # everything committed was handed on, in order
    assert numbers(stored) == [*range(kept_up_to), *range(n, n + 5)]

    states = [(e.kind, e.state) for e in stored]
    raised = states.index((Kind.FAULT, "raised"))
    lost = states.index((Kind.SYSTEM, "events-lost"))
    cleared = states.index((Kind.FAULT, "cleared"))
    assert 10 < raised < lost < cleared
    assert stored[raised].detail == {"code": "disk-full", "message": "database or disk is full"}
    assert stored[cleared].detail is not None
    assert stored[cleared].detail["code"] == "disk-full"
    # The lost events are reported exactly: how many and between which times.
    detail = stored[lost].detail
    assert detail is not None
    assert detail["count"] == dropped
    assert detail["first_utc_us"] == submitted_at[kept_up_to]
    assert detail["last_utc_us"] == submitted_at[n - 1]
    # The notice sits where the lost events would have been; the backlog precedes the clear.
    assert numbers(stored[:lost])[-1] == kept_up_to - 1
    assert numbers(stored[cleared:]) == list(range(n, n + 5))

    with sqlite3.connect(db_path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()


def test_disk_full_evicts_what_retention_allows_first(
    engine: Engine, stamper: EventStamper, clock: ManualClock, make_writer: MakeWriter
) -> None:
    faults: list[Fault] = []
    policy = RetentionPolicy(keep_events=50, keep_days=0, max_events=1_000_000)
    writer = make_writer(
        on_fault=lambda *fault: faults.append(fault), retention=policy, retry_interval_s=0.05
    )
    for n in range(400):
        writer.submit(user_event(stamper, n, pad=PAD))
        clock.advance(1)
    assert writer.flush()
    assert not [e for e in all_events(engine) if e.state == "evicted"]  # not over max_events

    writer.set_max_page_count(1)
    for n in range(400, 600):
        writer.submit(user_event(stamper, n, pad=PAD))
        clock.advance(1)
    assert writer.flush(timeout=10)
    assert writer.flush()  # and the writer's own "evicted" notice, queued meanwhile

    assert faults == []  # room was made, no fault
    stored = all_events(engine)
    evictions = [e for e in stored if e.state == "evicted"]
    assert evictions
    first = evictions[0].detail
    assert first is not None
    assert first["reason"] == "disk-full"
    assert first["first_seq"] == 1  # oldest first
    assert numbers(stored)[-200:] == list(range(400, 600))  # nothing new was lost
    assert len([e for e in stored if e.kind == Kind.INPUT]) >= policy.keep_events


def test_disk_full_with_nothing_to_evict_raises_the_fault(
    stamper: EventStamper, clock: ManualClock, make_writer: MakeWriter
) -> None:
    faults: list[Fault] = []
    writer = make_writer(
        on_fault=lambda *fault: faults.append(fault),
        retention=RetentionPolicy(keep_events=100_000),
        retry_interval_s=0.05,
    )
    writer.set_max_page_count(1)
    fill_until_fault(writer, stamper, clock, 0)
    assert wait_for(lambda: bool(faults))
    assert [f[:2] for f in faults] == [("disk-full", True)]
    writer.set_max_page_count(None)
    assert writer.flush(timeout=10)
    assert wait_for(lambda: len(faults) == 2)
    assert writer.dropped == 0
