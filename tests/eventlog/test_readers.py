"""One read connection per thread: kept between reads, never holding a snapshot,
reopened when the file is replaced (a recovered log) or the connection failed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from app.eventlog import EventWriter, make_engine, prepare_database
from app.eventlog.queries import events_after, last_seq, newest
from app.eventlog.readers import ThreadReaders, file_identity
from app.events import EventStamper
from tests.faults.damage import damage_header

from .conftest import MakeWriter, user_event


def write(writer: EventWriter, stamper: EventStamper, *numbers: int) -> None:
    for n in numbers:
        writer.submit(user_event(stamper, n))
    assert writer.flush()


@contextmanager
def open_readers(db_path: Path) -> Iterator[ThreadReaders]:
    """Per-thread readers of ``db_path``, closed with their engine afterwards."""
    readers = ThreadReaders(make_engine(db_path, read_only=True), db_path)
    try:
        yield readers
    finally:
        readers.close()
        readers.engine.dispose()


def test_a_thread_keeps_its_connection_and_sees_each_new_commit(
    make_writer: MakeWriter, db_path: Path, stamper: EventStamper
) -> None:
    writer = make_writer()
    write(writer, stamper, 1)
    with open_readers(db_path) as readers:
        with readers.connection() as first:
            before = last_seq(first)
        write(writer, stamper, 2, 3)  # committed between two reads on the same connection
        with readers.connection() as second:
            assert second is first
            assert last_seq(second) == before + 2
        assert readers.open_count == 1


def test_one_connection_per_thread_and_those_of_ended_threads_are_closed(
    make_writer: MakeWriter, db_path: Path, stamper: EventStamper
) -> None:
    writer = make_writer()
    write(writer, stamper, 1)
    seen: list[int] = []
    start = threading.Barrier(3)
    with open_readers(db_path) as readers:

        def read() -> None:
            start.wait(5)  # all three alive at once: three different threads
            with readers.connection() as connection:
                seen.append(id(connection))
                start.wait(5)

        threads = [threading.Thread(target=read) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(set(seen)) == 3
        assert readers.open_count == 3
        with readers.connection():  # a new thread's open sweeps the ended ones
            pass
        assert readers.open_count == 1
    assert readers.open_count == 0


def test_a_recovered_log_is_seen_by_the_next_read(db_path: Path, stamper: EventStamper) -> None:
    prepared = prepare_database(db_path, stamper=stamper)
    writer = EventWriter(prepared, stamper=stamper)
    writer.start()
    write(writer, stamper, *range(50))
    writer.stop()
    prepared.engine.dispose()
    with open_readers(db_path) as readers:
        with readers.connection() as connection:
            assert len(newest(connection, limit=100).events) == 51  # log-created and ours
        old_identity = file_identity(db_path)

        damage_header(db_path)
        recovered = prepare_database(db_path, stamper=stamper)  # moved aside, a new log
        recovered.engine.dispose()
        assert file_identity(db_path) != old_identity

        with readers.connection() as connection:
            states = [e.state for e in events_after(connection, 0)]
        assert states == ["log-recovered"]
        assert readers.open_count == 1  # the old connection was closed, not kept beside


def test_a_failed_read_reopens_the_connection(
    make_writer: MakeWriter, db_path: Path, stamper: EventStamper
) -> None:
    writer = make_writer()
    write(writer, stamper, 1)
    with open_readers(db_path) as readers:
        with pytest.raises(OperationalError, match="no_such_table"):  # noqa: SIM117
            with readers.connection() as connection:
                connection.exec_driver_sql("SELECT * FROM no_such_table")
        assert readers.open_count == 0
        with readers.connection() as again:
            assert again is not connection
            assert last_seq(again) >= 2


def test_an_error_of_the_caller_keeps_the_connection(
    make_writer: MakeWriter, db_path: Path, stamper: EventStamper
) -> None:
    writer = make_writer()
    write(writer, stamper, 1)
    with open_readers(db_path) as readers:
        with pytest.raises(ValueError, match="not a valid cursor"):  # noqa: SIM117
            with readers.connection() as connection:
                newest(connection, cursor="!!")
        with readers.connection() as again:
            assert again is connection  # kept, and its read ended: it sees new commits
            before = last_seq(again)
        write(writer, stamper, 2)
        with readers.connection() as third:
            assert last_seq(third) == before + 1
        assert readers.open_count == 1
