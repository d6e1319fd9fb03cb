"""A damaged log is moved aside, a new one says so first, and a fault stays until cleared."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from app.eventlog import (
    CORRUPT_FAULT_KEY,
    EventWriter,
    active_faults,
    clear_persistent_fault,
    prepare_database,
)
from app.eventlog.queries import events_after
from app.events import EventStamper
from tests.faults.damage import (
    damage_header,
    damage_index,
    damage_pages,
    truncate_half,
    truncate_inside_header,
)

from .conftest import user_event


def make_log(path: Path, stamper: EventStamper, count: int = 2000) -> int:
    """A log with ``count`` events, closed (checkpointed into one file). Its last seq."""
    prepared = prepare_database(path, stamper=stamper)
    writer = EventWriter(prepared, stamper=stamper)
    writer.start()
    for n in range(count):
        writer.submit(user_event(stamper, n, pad="y" * 100))
    assert writer.flush(timeout=10)
    writer.stop()
    prepared.engine.dispose()
    assert not Path(f"{path}-wal").exists()
    return count + 1


@pytest.mark.parametrize(
    "damage", [damage_header, damage_pages, damage_index, truncate_half, truncate_inside_header]
)
def test_damaged_log_is_moved_aside_and_a_new_one_says_so(
    damage: Callable[[Path], None], db_path: Path, stamper: EventStamper
) -> None:
    old_last = make_log(db_path, stamper)
    damage(db_path)
    damaged = db_path.read_bytes()

    prepared = prepare_database(db_path, stamper=stamper)
    try:
        moved = db_path.with_name("alarmbridge.db.corrupt-20260101T000000Z")
        assert moved.exists()
        assert moved.read_bytes() == damaged  # kept as it was, for a post-mortem
        (first,) = prepared.events
        assert first.state == "log-recovered"
        assert first.channel == "eventlog"
        assert first.detail is not None
        assert first.detail["moved_to"] == moved.name
        assert first.detail["error"]
        # The first event of the new log, whatever number it got.
        assert events_after(prepared.engine, 0) == [first]
        if first.detail["previous_last_seq"] is not None:  # numbering carries on
            assert first.detail["previous_last_seq"] == old_last
            assert first.seq == old_last + 1
        (fault,) = prepared.faults
        assert fault.key == CORRUPT_FAULT_KEY
        assert fault.code == "eventlog-corrupt"
        assert fault.detail["moved_to"] == moved.name
        assert "moved" in fault.detail["message"]
    finally:
        prepared.engine.dispose()

    # The fault survives a restart, until an operator clears it.
    again = prepare_database(db_path, stamper=stamper)
    try:
        assert again.events == ()
        assert [f.key for f in again.faults] == [CORRUPT_FAULT_KEY]
        assert clear_persistent_fault(again.engine, CORRUPT_FAULT_KEY)
        assert not clear_persistent_fault(again.engine, CORRUPT_FAULT_KEY)
        assert active_faults(again.engine) == []
    finally:
        again.engine.dispose()
    assert prepare_database(db_path, stamper=stamper).faults == ()


def test_readable_damage_keeps_the_numbering(db_path: Path, stamper: EventStamper) -> None:
    old_last = make_log(db_path, stamper)
    damage_index(db_path)  # the table, and sqlite_sequence, are still readable
    prepared = prepare_database(db_path, stamper=stamper)
    prepared.engine.dispose()
    (first,) = prepared.events
    assert first.detail is not None
    assert first.detail["previous_last_seq"] == old_last
    assert first.seq == old_last + 1  # a sequence number is never reused


def test_recovery_interrupted_after_moving_the_damaged_file(
    db_path: Path, stamper: EventStamper
) -> None:
    make_log(db_path, stamper, count=10)
    damage_header(db_path)
    prepared = prepare_database(db_path, stamper=stamper)
    prepared.engine.dispose()
    # As if the power failed between moving the damaged file and renaming the new one:
    db_path.rename(db_path.with_name(db_path.name + ".new"))

    resumed = prepare_database(db_path, stamper=stamper)
    try:
        assert not db_path.with_name(db_path.name + ".new").exists()
        assert [f.key for f in resumed.faults] == [CORRUPT_FAULT_KEY]
        assert [e.state for e in events_after(resumed.engine, 0)] == ["log-recovered"]
    finally:
        resumed.engine.dispose()


def test_recovery_interrupted_before_moving_the_damaged_file(
    db_path: Path, stamper: EventStamper
) -> None:
    make_log(db_path, stamper, count=10)
    damage_header(db_path)
    stale = db_path.with_name(db_path.name + ".new")
    stale.write_bytes(b"half-built new log")
    prepared = prepare_database(db_path, stamper=stamper)
    try:
        assert not stale.exists()
        assert [e.state for e in prepared.events] == ["log-recovered"]
        assert len(list(db_path.parent.glob("*.corrupt-*"))) == 1
    finally:
        prepared.engine.dispose()


def test_second_corruption_in_the_same_second_gets_its_own_name(
    db_path: Path, stamper: EventStamper
) -> None:
    make_log(db_path, stamper, count=10)
    for _ in range(2):
        damage_header(db_path)
        prepare_database(db_path, stamper=stamper).engine.dispose()
    names = sorted(p.name for p in db_path.parent.glob("*.corrupt-*") if "-wal" not in p.name)
    names = [n for n in names if not n.endswith("-shm")]
    assert names == [
        "alarmbridge.db.corrupt-20260101T000000Z",
        "alarmbridge.db.corrupt-20260101T000000Z.1",
    ]


def test_a_writer_works_on_the_recovered_log(db_path: Path, stamper: EventStamper) -> None:
    make_log(db_path, stamper, count=10)
    truncate_half(db_path)
    prepared = prepare_database(db_path, stamper=stamper)
    writer = EventWriter(prepared, stamper=stamper)
    writer.start()
    try:
        writer.submit(user_event(stamper, 1))
        assert writer.flush()
    finally:
        writer.stop()
        prepared.engine.dispose()
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        states = [r[0] for r in connection.execute("SELECT state FROM events ORDER BY seq")]
    connection.close()
    assert states == ["log-recovered", "active"]
