"""The writer: order, commit before acknowledge, group commit, sequence numbers."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from app.eventlog import EventWriter, Prepared, iter_events
from app.eventlog.queries import events_after, last_seq
from app.eventlog.writer import classify
from app.events import Cause, Event, EventStamper, Kind, NewEvent

from .conftest import MakeWriter, user_event


class Collector:
    """An ``on_commit`` that keeps every batch it is handed."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []
        self.lock = threading.Lock()

    def __call__(self, events: Sequence[Event]) -> None:
        with self.lock:
            self.batches.append(list(events))

    @property
    def events(self) -> list[Event]:
        with self.lock:
            return [e for batch in self.batches for e in batch]

    def users(self) -> list[Event]:
        return [e for e in self.events if e.kind == Kind.INPUT]


def numbers(events: Sequence[Event]) -> list[int]:
    return [e.detail["n"] for e in events if e.kind == Kind.INPUT and e.detail]


def test_startup_events_are_handed_on_first(
    prepared: Prepared, stamper: EventStamper, make_writer: MakeWriter
) -> None:
    collected = Collector()
    writer = make_writer(on_commit=collected)
    writer.submit(user_event(stamper, 1))
    assert writer.flush()
    assert [e.state for e in collected.events] == ["log-created", "active"]
    assert collected.batches[0] == list(prepared.events)


def test_order_across_threads_and_seqs_match_the_rows(
    engine: Engine, stamper: EventStamper, make_writer: MakeWriter
) -> None:
    collected = Collector()
    writer = make_writer(on_commit=collected, max_batch=64)
    order: list[int] = []
    order_lock = threading.Lock()
    per_thread = 400

    def produce(t: int) -> None:
        for i in range(per_thread):
            n = t * per_thread + i
            with order_lock:  # record the order submit() saw them in
                order.append(n)
                writer.submit(user_event(stamper, n, channel=f"in{t}"))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert writer.flush(timeout=10)
    assert writer.pending == 0

    handed = collected.events
    seqs = [e.seq for e in handed]
    assert seqs == sorted(set(seqs))  # strictly increasing, no duplicates
    assert seqs == list(range(1, len(seqs) + 1))  # and contiguous
    assert numbers(handed) == order  # committed in submit order, across threads
    # Every handed-on event is exactly the row stored under its seq.
    assert list(iter_events(engine)) == handed


def test_on_commit_runs_only_after_the_commit(
    db_path: Path, stamper: EventStamper, make_writer: MakeWriter
) -> None:
    seen_elsewhere: list[bool] = []

    def on_commit(events: Sequence[Event]) -> None:
        other = sqlite3.connect(db_path)  # a separate connection sees only committed rows
        try:
            seqs = [e.seq for e in events]
            found = other.execute(
                f"SELECT count(*) FROM events WHERE seq IN ({','.join('?' * len(seqs))})", seqs
            ).fetchone()[0]
        finally:
            other.close()
        seen_elsewhere.append(found == len(seqs))

    writer = make_writer(on_commit=on_commit)
    for n in range(300):
        writer.submit(user_event(stamper, n))
        if n % 50 == 0:
            time.sleep(0.01)
    assert writer.flush()
    assert seen_elsewhere
    assert all(seen_elsewhere)


def test_group_commit_batches(
    engine: Engine, stamper: EventStamper, make_writer: MakeWriter
) -> None:
    commits = 0

    def count(_connection: Connection) -> None:
        nonlocal commits
        commits += 1

    event.listen(engine, "commit", count)
    collected = Collector()
    writer = make_writer(on_commit=collected, max_batch=500)
    for n in range(2000):
        writer.submit(user_event(stamper, n))
    assert writer.flush()
    event.remove(engine, "commit", count)
    assert len(collected.users()) == 2000
    # One transaction per batch (plus retention's first check), not one per event.
    assert commits <= len(collected.batches) + 2
    assert len(collected.batches) < 2000
    assert max(len(batch) for batch in collected.batches) <= 500


def test_an_idle_writer_commits_at_once_and_groups_what_arrives_during_a_commit(
    stamper: EventStamper, make_writer: MakeWriter
) -> None:
    """Classic group commit: the first event of an idle writer is committed alone,
    without waiting for company; everything submitted while that commit is in
    progress (here: while its on_commit runs, after the commit) goes into the next
    commit, together."""
    batches: list[list[int]] = []
    in_commit = threading.Event()
    release = threading.Event()

    def on_commit(events: Sequence[Event]) -> None:
        ours = numbers(events)
        if not ours:
            return
        batches.append(ours)
        if len(batches) == 1:
            in_commit.set()
            release.wait(10)

    writer = make_writer(on_commit=on_commit, max_batch=500)
    writer.submit(user_event(stamper, 0))
    # No flush, no window to cut short: the idle writer commits the event by itself.
    assert in_commit.wait(10)
    for n in range(1, 51):
        writer.submit(user_event(stamper, n))
    release.set()
    assert writer.flush()
    assert batches == [[0], list(range(1, 51))]


def test_submit_does_not_wait_for_a_locked_database(
    db_path: Path, stamper: EventStamper, make_writer: MakeWriter
) -> None:
    """Another process holding the write lock stalls the writer, never submit()."""
    writer = make_writer()
    writer.submit(user_event(stamper, 0))
    assert writer.flush()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        slowest = 0.0
        for n in range(1, 200):
            started = time.perf_counter()
            writer.submit(user_event(stamper, n))
            slowest = max(slowest, time.perf_counter() - started)
        assert not writer.flush(timeout=0.3)
        assert writer.pending == 199
        assert slowest < 0.1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert writer.flush(timeout=10)


def test_flush_and_stop(engine: Engine, prepared: Prepared, stamper: EventStamper) -> None:
    writer = EventWriter(prepared, stamper=stamper)
    writer.start()
    writer.submit(user_event(stamper, 1))
    assert writer.flush()
    for n in range(2, 100):
        writer.submit(user_event(stamper, n))
    writer.stop()  # writes what is queued
    assert writer.pending == 0
    assert last_seq(engine) == 100
    writer.submit(user_event(stamper, 100))  # after stop: dropped, counted, no exception
    assert writer.dropped == 1


def test_malformed_event_is_recorded_not_fatal(
    engine: Engine, stamper: EventStamper, make_writer: MakeWriter
) -> None:
    writer = make_writer()
    bad: Any = NewEvent(
        kind="no-such-kind",  # type: ignore[arg-type]
        state="x",
        cause=Cause.SYSTEM,
        utc_us=0,
        mono_ns=0,
        boot_id="b",
        clock_synced=True,
    )
    writer.submit(user_event(stamper, 1))
    writer.submit(bad)
    writer.submit(user_event(stamper, 2))
    assert writer.flush()
    states = [e.state for e in events_after(engine, 1)]
    assert states == ["active", "event-rejected", "idle"]


def test_on_commit_errors_do_not_stop_the_writer(
    engine: Engine, stamper: EventStamper, make_writer: MakeWriter, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_events: Sequence[Event]) -> None:
        raise RuntimeError("subscriber bug")

    writer = make_writer(on_commit=broken)
    writer.submit(user_event(stamper, 1))
    assert writer.flush()
    writer.submit(user_event(stamper, 2))
    assert writer.flush()
    assert last_seq(engine) == 3
    assert "on_commit failed" in caplog.text


def test_buffer_limit_has_a_floor(prepared: Prepared, stamper: EventStamper) -> None:
    with pytest.raises(ValueError, match="at least 1000"):
        EventWriter(prepared, stamper=stamper, buffer_limit=999)


def test_classify_real_sqlite_errors(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    readonly = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        with pytest.raises(sqlite3.OperationalError) as raised:
            readonly.execute("INSERT INTO t VALUES (1)")
    finally:
        readonly.close()
    assert classify(raised.value) == (
        "io-error",
        "OperationalError: attempt to write a readonly database",
    )

    full = sqlite3.connect(path, isolation_level=None)
    try:
        full.execute("PRAGMA max_page_count = 1")
        with pytest.raises(sqlite3.OperationalError) as raised:
            full.execute("INSERT INTO t VALUES (zeroblob(100000))")
    finally:
        full.close()
    assert classify(raised.value) == ("disk-full", "database or disk is full")


def test_every_field_is_stored(
    engine: Engine, stamper: EventStamper, make_writer: MakeWriter
) -> None:
    writer = make_writer()
    writer.submit(stamper.make(Kind.OPERATOR, "manual-start", Cause.USER, source="alice",
                               channel="out1", dvr_channel="3", detail={"for_s": 30}))  # fmt: skip
    assert writer.flush()
    (stored,) = events_after(engine, 1)
    assert (stored.kind, stored.cause, stored.source, stored.dvr_channel, stored.detail) == (
        Kind.OPERATOR, Cause.USER, "alice", "3", {"for_s": 30}
    )  # fmt: skip
