"""Fixtures for the event log: a fresh, migrated database file per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from app.clock import ManualClock
from app.eventlog import EventWriter, Prepared, prepare_database
from app.events import Cause, EventStamper, Kind, NewEvent
from tests.support import wait_for as wait_for  # for tests that import it from here

MakeWriter = Callable[..., EventWriter]


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when told."""
    return ManualClock()


@pytest.fixture
def stamper(clock: ManualClock) -> EventStamper:
    """Stamps events with boot id "boot-test" and the manual clock."""
    return EventStamper("boot-test", clock)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where this test's database lives (the data directory does not exist yet)."""
    return tmp_path / "data" / "alarmbridge.db"


@pytest.fixture
def prepared(db_path: Path, stamper: EventStamper) -> Iterator[Prepared]:
    """A new database, migrated to head by ``prepare_database``."""
    result = prepare_database(db_path, stamper=stamper)
    try:
        yield result
    finally:
        result.engine.dispose()


@pytest.fixture
def engine(prepared: Prepared) -> Engine:
    """The engine of :func:`prepared`."""
    return prepared.engine


@pytest.fixture
def make_writer(prepared: Prepared, stamper: EventStamper) -> Iterator[MakeWriter]:
    """Make started writers on the test database; each is stopped at the end of the test."""
    writers: list[EventWriter] = []

    def make(**kwargs: Any) -> EventWriter:
        kwargs.setdefault("stamper", stamper)
        writer = EventWriter(kwargs.pop("db", prepared), **kwargs)
        writers.append(writer)
        writer.start()
        return writer

    yield make
    for writer in writers:
        writer.stop(timeout=5.0)


def user_event(stamper: EventStamper, n: int, *, channel: str = "in1", **extra: Any) -> NewEvent:
    """An INPUT event numbered ``n`` (in ``source``, as "u<n>") for order checks."""
    return stamper.make(
        Kind.INPUT,
        "active" if n % 2 else "idle",
        Cause.INPUT,
        channel=channel,
        source=f"u{n}",
        detail={"n": n, **extra},
    )
