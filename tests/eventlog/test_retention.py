"""Retention: oldest first, only beyond max_events, never the kept ones, never silently."""

from __future__ import annotations

from sqlalchemy import Engine

from app.clock import ManualClock
from app.eventlog import RetentionPolicy, count_events, evict, immediate, last_seq
from app.eventlog.queries import events_after
from app.eventlog.retention import US_PER_DAY
from app.eventlog.rows import insert_events
from app.events import Cause, Event, EventStamper, Kind, NewEvent
from tests.support import wait_for

from .conftest import MakeWriter, user_event

CREATED = 1_767_225_600_000_000  # the ManualClock's time: when log-created (seq 1) was logged
NOW = CREATED + 1000 * US_PER_DAY  # "now" for these tests: seq 1 is 1000 days old


def old_event(n: int, days_ago: float) -> NewEvent:
    return NewEvent(
        kind=Kind.INPUT,
        state="active",
        cause=Cause.INPUT,
        utc_us=NOW - round(days_ago * US_PER_DAY),
        mono_ns=n,
        boot_id="b",
        clock_synced=True,
        channel="in1",
        source=f"u{n}",
    )


def fill(engine: Engine, ages_in_days: list[float]) -> None:
    with immediate(engine) as connection:  # (after the log-created event, seq 1)
        insert_events(connection, [old_event(n, age) for n, age in enumerate(ages_in_days)])


def test_nothing_happens_below_max_events(engine: Engine) -> None:
    fill(engine, [400.0] * 50)
    assert evict(engine, now_us=NOW, keep_events=0, keep_days=0, max_events=51) is None
    assert count_events(engine) == 51


def test_oldest_go_first_down_to_max_events(engine: Engine) -> None:
    fill(engine, [500.0 - n for n in range(100)])  # seq 2..101, all older than a year
    eviction = evict(engine, now_us=NOW, keep_events=10, keep_days=365, max_events=60)
    assert eviction is not None
    assert (eviction.count, eviction.first_seq, eviction.last_seq) == (41, 1, 41)
    assert eviction.remaining == 60
    assert eviction.first_utc_us == NOW - 1000 * US_PER_DAY  # seq 1, log-created
    assert eviction.last_utc_us == NOW - 461 * US_PER_DAY
    assert [e.seq for e in events_after(engine, 0, limit=1)] == [42]


def test_the_newest_keep_events_are_kept(engine: Engine) -> None:
    fill(engine, [400.0] * 100)
    eviction = evict(engine, now_us=NOW, keep_events=80, keep_days=0, max_events=10)
    assert eviction is not None
    assert eviction.count == 21
    assert count_events(engine) == 80


def test_events_younger_than_keep_days_are_kept(engine: Engine) -> None:
    fill(engine, [400.0] * 30 + [100.0] * 30)
    eviction = evict(engine, now_us=NOW, keep_events=0, keep_days=365, max_events=0)
    assert eviction is not None
    assert (eviction.first_seq, eviction.last_seq) == (1, 31)


def test_eviction_stops_at_the_first_young_event(engine: Engine) -> None:
    """A clock set wrong mid-log cannot get younger events evicted past it."""
    fill(engine, [400.0, 0.0] + [400.0] * 20)  # seq 3 young, then 20 "old" stamps after it
    eviction = evict(engine, now_us=NOW, keep_events=0, keep_days=365, max_events=0)
    assert eviction is not None
    assert (eviction.first_seq, eviction.last_seq) == (1, 2)
    assert count_events(engine) == 21


def test_max_delete_caps_one_call(engine: Engine) -> None:
    fill(engine, [400.0] * 100)
    first = evict(engine, now_us=NOW + 1, keep_events=0, keep_days=0, max_events=0, max_delete=30)
    second = evict(engine, now_us=NOW + 1, keep_events=0, keep_days=0, max_events=0, max_delete=30)
    assert first is not None
    assert second is not None
    assert (first.first_seq, first.last_seq, second.first_seq, second.last_seq) == (1, 30, 31, 60)


def test_sequence_numbers_are_never_reused(
    engine: Engine, stamper: EventStamper, make_writer: MakeWriter
) -> None:
    fill(engine, [400.0] * 10)
    assert last_seq(engine) == 11
    assert evict(engine, now_us=NOW + 1, keep_events=0, keep_days=0, max_events=0) is not None
    assert count_events(engine) == 0
    writer = make_writer()
    writer.submit(user_event(stamper, 1))
    assert writer.flush()
    assert [e.seq for e in events_after(engine, 0)] == [12]


def test_the_writer_evicts_and_logs_it(
    engine: Engine, stamper: EventStamper, clock: ManualClock, make_writer: MakeWriter
) -> None:
    fill(engine, [400.0] * 200)
    clock.advance(1000 * 86_400)  # the writer's clock is at NOW too
    policy = RetentionPolicy(keep_events=20, keep_days=365, max_events=100, max_delete=1000)
    writer = make_writer(retention=policy)
    writer.submit(user_event(stamper, 1))
    assert writer.flush()

    def notices() -> list[Event]:  # queued after the first commit, written after that
        return [e for e in events_after(engine, 0) if e.state == "evicted"]

    assert wait_for(lambda: bool(notices()))
    (notice,) = notices()
    assert notice.kind == Kind.SYSTEM
    assert notice.detail is not None
    assert notice.detail["reason"] == "capacity"
    assert notice.detail["count"] == 102  # 202 events before the notice; back to 100
    assert notice.detail["first_seq"] == 1
    assert count_events(engine) == 101  # and the notice itself
