"""A sequence number handed on is never reused, and a committed event never vanishes
without a trace: damaged or removed write-ahead logs, cut or emptied files, power
cuts and events that could not be written before a stop (issue #15, items 1-3)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from app.clock import ManualClock
from app.eventlog import CORRUPT_FAULT_KEY, EventWriter, Prepared, active_faults, prepare_database
from app.eventlog.seqstate import RECORD, LogState, SeqKeeper, read_state, state_path
from app.events import Event, EventStamper
from tests.faults.damage import WAL_DAMAGE, truncate_to, wal_of

from .conftest import user_event

Damage = Callable[[Path], None]


def crash(db: Path, count: int = 100, boot_id: str = "boot-test") -> int:
    """A writer commits ``count`` events to ``db`` and is killed (SIGKILL); the last
    sequence number it handed on."""
    db.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "tests.eventlog.crash_child", str(db), str(count), boot_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -9, done.stderr
    return int(done.stdout.split()[-1])


def seqs(db: Path) -> list[int]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        return [int(r[0]) for r in connection.execute("SELECT seq FROM events ORDER BY seq")]


def write(prepared: Prepared, stamper: EventStamper, count: int) -> list[Event]:
    """Commit ``count`` events through a writer on ``prepared``, stopped cleanly."""
    got: list[Event] = []
    writer = EventWriter(prepared, stamper=stamper, on_commit=got.extend)
    writer.start()
    for n in range(count):
        writer.submit(user_event(stamper, n))
    assert writer.flush(timeout=10)
    writer.stop()
    return [e for e in got if e.channel == "in1"]


def test_a_crash_in_the_same_boot_goes_on_without_a_gap(
    db_path: Path, stamper: EventStamper
) -> None:
    acked = crash(db_path)
    assert wal_of(db_path).exists()  # the events are only in the write-ahead log
    prepared = prepare_database(db_path, stamper=stamper)
    try:
        assert prepared.events == ()  # nothing to say
        assert not active_faults(prepared.engine)
        [first, *_] = write(prepared, stamper, 3)
        assert first.seq == acked + 1
    finally:
        prepared.engine.dispose()


@pytest.mark.parametrize("damage", WAL_DAMAGE.values(), ids=WAL_DAMAGE.keys())
def test_a_damaged_write_ahead_log_is_kept_aside_said_and_numbers_go_on(
    damage: Damage, db_path: Path, stamper: EventStamper
) -> None:
    acked = crash(db_path)
    original_db = db_path.read_bytes()
    damage(db_path)
    damaged_wal = wal_of(db_path).read_bytes() if wal_of(db_path).exists() else None

    prepared = prepare_database(db_path, stamper=stamper)
    try:
        [recovered] = prepared.events
        detail = recovered.detail or {}
        assert recovered.state == "log-recovered"
        assert detail["lost_to_seq"] == acked
        assert 1 <= detail["lost_from_seq"] <= acked
        assert detail["lost"] == acked - detail["lost_from_seq"] + 1
        assert "write-ahead log" in detail["error"]
        # The damaged files, kept as they were.
        moved = db_path.with_name(detail["moved_to"])
        assert moved.read_bytes() == original_db
        if damaged_wal is not None:
            assert wal_of(moved).read_bytes() == damaged_wal
        # Everything still readable is kept, and only that is missing.
        assert seqs(db_path) == [*range(1, detail["lost_from_seq"]), recovered.seq]
        assert detail["events_kept"] == detail["lost_from_seq"] - 1
        assert recovered.seq == acked + 1
        assert [f.key for f in active_faults(prepared.engine)] == [CORRUPT_FAULT_KEY]
        [first, *_] = write(prepared, stamper, 3)
        assert first.seq == acked + 2  # never a number that was handed on
    finally:
        prepared.engine.dispose()


def make_closed_log(db_path: Path, stamper: EventStamper, count: int = 500) -> int:
    """A log closed cleanly (one file); its last sequence number."""
    prepared = prepare_database(db_path, stamper=stamper)
    try:
        events = write(prepared, stamper, count)
    finally:
        prepared.engine.dispose()
    assert not wal_of(db_path).exists()
    return events[-1].seq


@pytest.mark.parametrize("size", [0, 50, 4096, -4096, "half"])
def test_a_cut_or_emptied_log_is_a_fault_and_numbers_go_on(
    size: int | str, db_path: Path, stamper: EventStamper
) -> None:
    last = make_closed_log(db_path, stamper)
    full = db_path.stat().st_size
    length = full // 2 if size == "half" else size
    assert isinstance(length, int)
    truncate_to(length)(db_path)
    length = length if length >= 0 else full + length

    prepared = prepare_database(db_path, stamper=stamper)
    try:
        recovered = prepared.events[0]
        assert recovered.state == "log-recovered"
        assert recovered.seq == last + 1
        assert [f.key for f in active_faults(prepared.engine)] == [CORRUPT_FAULT_KEY]
        assert db_path.with_name(recovered.detail["moved_to"]).stat().st_size == length  # type: ignore[index]
        if size == 0:
            assert recovered.detail["lost_from_seq"] == 1  # type: ignore[index]
            assert recovered.detail["lost_to_seq"] == last  # type: ignore[index]
        [first, *_] = write(prepared, stamper, 2)
        assert first.seq > last
    finally:
        prepared.engine.dispose()


def test_a_missing_log_file_is_a_fault_and_numbers_go_on(
    db_path: Path, stamper: EventStamper
) -> None:
    last = make_closed_log(db_path, stamper)
    db_path.unlink()

    prepared = prepare_database(db_path, stamper=stamper)
    try:
        [recovered] = prepared.events
        assert recovered.state == "log-recovered"
        assert "missing" in recovered.detail["error"]  # type: ignore[index]
        assert recovered.detail["moved_to"] is None  # type: ignore[index]
        assert (recovered.detail["lost_from_seq"], recovered.detail["lost_to_seq"]) == (1, last)  # type: ignore[index]
        assert recovered.seq == last + 1
        assert [f.key for f in active_faults(prepared.engine)] == [CORRUPT_FAULT_KEY]
    finally:
        prepared.engine.dispose()


def test_after_an_unclean_stop_in_an_earlier_boot_reserved_numbers_are_skipped(
    db_path: Path, clock: ManualClock
) -> None:
    acked = crash(db_path, boot_id="boot-before-the-power-cut")
    state, _ = read_state(state_path(db_path))
    assert state is not None and not state.clean and state.reserved > acked

    stamper = EventStamper("boot-after", clock)
    prepared = prepare_database(db_path, stamper=stamper)
    try:
        [skipped] = prepared.events
        assert skipped.state == "seq-skipped"
        assert skipped.detail == {
            "from": acked + 1,
            "to": state.reserved,
            "reason": skipped.detail["reason"],  # type: ignore[index]
        }
        assert skipped.seq == state.reserved + 1
        assert not active_faults(prepared.engine)  # nothing was lost
    finally:
        prepared.engine.dispose()


def test_events_that_could_not_be_written_before_a_stop_are_logged_at_the_next_start(
    db_path: Path, stamper: EventStamper, clock: ManualClock
) -> None:
    prepared = prepare_database(db_path, stamper=stamper)
    writer = EventWriter(prepared, stamper=stamper, retry_interval_s=0.05)
    writer.set_max_page_count(1)  # the disk is full
    writer.start()
    big = "x" * 5000  # every event needs new pages
    first = user_event(stamper, 0, pad=big)
    writer.submit(first)
    clock.advance(5.0)
    for n in range(1, 7):
        writer.submit(user_event(stamper, n, pad=big))
    assert not writer.flush(timeout=2)
    writer.stop(timeout=0.3)
    prepared.engine.dispose()

    prepared = prepare_database(db_path, stamper=stamper)
    try:
        lost = [e for e in prepared.events if e.state == "events-lost"]
        assert len(lost) == 1
        detail = lost[0].detail or {}
        assert detail["count"] == 7
        assert detail["first_utc_us"] == first.utc_us
        assert detail["last_utc_us"] == first.utc_us + 5_000_000
        assert "stopped" in detail["reason"]
        assert read_state(state_path(db_path))[0].lost is None  # type: ignore[union-attr]
    finally:
        prepared.engine.dispose()
    again = prepare_database(db_path, stamper=stamper)  # said once, not at every start
    again.engine.dispose()
    assert again.events == ()


def test_a_damaged_state_file_is_rebuilt_from_the_log_and_said(
    db_path: Path, stamper: EventStamper
) -> None:
    last = make_closed_log(db_path, stamper)
    path = state_path(db_path)
    path.write_bytes(b"x" * RECORD)
    prepared = prepare_database(db_path, stamper=stamper)
    try:
        [rebuilt] = prepared.events
        assert rebuilt.state == "state-rebuilt"
        assert "damaged" in rebuilt.detail["error"]  # type: ignore[index]
        assert rebuilt.seq == last + 1
        assert not active_faults(prepared.engine)
    finally:
        prepared.engine.dispose()


def test_the_state_record_round_trips_and_refuses_damage(tmp_path: Path) -> None:
    path = tmp_path / "x.state"
    keeper = SeqKeeper(path, LogState(acked=7, boot_id="b"), block=10)
    assert read_state(path)[0] == LogState(acked=7, reserved=17, clean=False, boot_id="b")
    keeper.before_commit(5)  # within the reservation: nothing synced
    keeper.committed(12)
    keeper.extend_ahead()  # 5 left of 10: reserve more
    assert read_state(path)[0] == LogState(acked=12, reserved=22, clean=False, boot_id="b")
    keeper.before_commit(30)  # a burst past the reservation: reserved first
    assert read_state(path)[0].reserved == 52  # type: ignore[union-attr]
    keeper.close(clean=True, lost={"count": 1})
    assert read_state(path)[0] == LogState(12, 12, True, "b", {"count": 1})
    assert path.stat().st_size == RECORD
    data = bytearray(path.read_bytes())
    data[40] ^= 1
    path.write_bytes(bytes(data))
    state, problem = read_state(path)
    assert state is None and problem is not None and "damaged" in problem
