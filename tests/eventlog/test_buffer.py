"""The writer's queue on its own: bounded, oldest kept, drops recorded in place."""

from __future__ import annotations

import threading

from app.eventlog.buffer import EventBuffer, Gap, Item, Own
from app.events import EventStamper, NewEvent

from .conftest import user_event


def test_overflow_keeps_the_oldest_and_records_each_run_of_drops(stamper: EventStamper) -> None:
    buffer = EventBuffer(limit=1000, max_batch=5000)
    events = [user_event(stamper, n) for n in range(1600)]
    for event in events[:1500]:
        buffer.put(event)
    own = user_event(stamper, -1)
    buffer.put_own(own)  # the writer's own events are never dropped
    for event in events[1500:]:
        buffer.put(event)
    assert buffer.dropped == 600
    items = buffer.take()
    assert items is not None
    assert items[:1000] == events[:1000]
    first_gap, own_item, second_gap = items[1000:]
    assert isinstance(first_gap, Gap)
    assert (first_gap.count, first_gap.first, first_gap.last) == (500, events[1000], events[1499])
    assert isinstance(own_item, Own)
    assert own_item.event is own
    assert isinstance(second_gap, Gap)
    assert (second_gap.count, second_gap.first, second_gap.last) == (100, events[1500], events[-1])
    assert buffer.pending == 1003

    buffer.done(items)  # committed: room again
    assert buffer.pending == 0
    buffer.put(events[0])
    assert buffer.take() == [events[0]]


def test_take_returns_what_is_queued_up_to_max_batch(stamper: EventStamper) -> None:
    buffer = EventBuffer(limit=1000, max_batch=10)
    events: list[NewEvent] = [user_event(stamper, n) for n in range(25)]
    for event in events:
        buffer.put(event)
    assert buffer.take() == events[:10]
    assert buffer.take() == events[10:20]
    assert buffer.take() == events[20:]


def test_an_idle_take_returns_the_first_event_alone_and_groups_what_comes_meanwhile(
    stamper: EventStamper,
) -> None:
    """Classic group commit: a writer waiting on an empty queue is handed the first
    event at once, without waiting for others; what is queued while that batch is
    being written is the next batch, all of it."""
    buffer = EventBuffer(limit=1000, max_batch=100)
    events: list[NewEvent] = [user_event(stamper, n) for n in range(6)]
    taken: list[list[Item] | None] = []
    first_taken = threading.Event()
    release = threading.Event()

    def writer() -> None:
        taken.append(buffer.take())  # waits on the empty queue
        first_taken.set()
        release.wait(10)  # "the commit is in progress"
        taken.append(buffer.take())

    thread = threading.Thread(target=writer)
    thread.start()
    buffer.put(events[0])
    assert first_taken.wait(10)
    for event in events[1:]:  # arrive during the first batch's commit
        buffer.put(event)
    release.set()
    thread.join(10)
    assert taken == [events[:1], events[1:]]


def test_flush_waits_for_done_and_reports_failures(stamper: EventStamper) -> None:
    buffer = EventBuffer(limit=1000, max_batch=10)
    buffer.put(user_event(stamper, 1))
    results: list[bool] = []
    flusher = threading.Thread(target=lambda: results.append(buffer.flush(10.0)))
    flusher.start()
    items = buffer.take()
    assert items is not None
    buffer.attempt_failed(buffer.begin_attempt())
    flusher.join()
    assert results == [False]  # a failed write ends the wait at once

    attempt = buffer.begin_attempt()  # under way when the next flush starts
    results.clear()
    flusher = threading.Thread(target=lambda: results.append(buffer.flush(10.0)))
    flusher.start()
    buffer.attempt_failed(attempt)  # ... so its failure does not count
    buffer.done(items)  # the retry succeeds
    flusher.join()
    assert results == [True]


def test_after_close_events_are_dropped_and_take_ends(stamper: EventStamper) -> None:
    buffer = EventBuffer(limit=1000, max_batch=10)
    buffer.put(user_event(stamper, 1))
    buffer.close()
    buffer.put(user_event(stamper, 2))
    assert buffer.dropped == 1
    assert buffer.take() == [user_event(stamper, 1)]
    assert buffer.take() is None
