"""Queries: keyset paging, filters, streaming, and that the indexes are used."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event

from app.clock import ManualClock
from app.eventlog import (
    InvalidCursorError,
    count_events,
    immediate,
    iter_events,
    last_seq,
    make_engine,
    newest,
    prepare_database,
)
from app.eventlog.queries import events_after
from app.eventlog.rows import insert_events
from app.events import Cause, Event, EventStamper, Kind, NewEvent


def add(engine: Engine, events: Sequence[NewEvent]) -> list[Event]:
    with immediate(engine) as connection:
        return insert_events(connection, events)


def make(kind: Kind, utc_us: int, channel: str | None, n: int = 0) -> NewEvent:
    return NewEvent(
        kind=kind,
        state="s",
        cause=Cause.INPUT,
        utc_us=utc_us,
        mono_ns=n,
        boot_id="b",
        clock_synced=True,
        channel=channel,
        detail={"n": n},
    )


def all_pages(engine: Engine, limit: int, **filters: Any) -> Iterator[list[Event]]:
    cursor = None
    while True:
        page = newest(engine, limit=limit, cursor=cursor, **filters)
        assert len(page.events) <= limit
        yield page.events
        if page.next_cursor is None:
            return
        assert len(page.events) == limit
        cursor = page.next_cursor


def expected(
    events: Sequence[Event],
    *,
    channel: str | None = None,
    kinds: Sequence[Kind] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> list[Event]:
    chosen = [
        e
        for e in events
        if (channel is None or e.channel == channel)
        and (kinds is None or e.kind in kinds)
        and (since_us is None or e.utc_us >= since_us)
        and (until_us is None or e.utc_us < until_us)
    ]
    return sorted(chosen, key=lambda e: (e.utc_us, e.seq), reverse=True)


@pytest.fixture
def filled(engine: Engine) -> list[Event]:
    """300 events on three channels, several per microsecond (ties broken by seq)."""
    kinds = [Kind.INPUT, Kind.OUTPUT, Kind.SYSTEM]
    channels = ["in1", "in2", None]
    batch = [make(kinds[n % 3], 1_000 + n // 4, channels[n % 5 % 3], n) for n in range(300)]
    return [*events_after(engine, 0), *add(engine, batch)]


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"channel": "in1"},
        {"channel": "in2", "kinds": [Kind.OUTPUT]},
        {"kinds": [Kind.INPUT, "system"]},
        {"since_us": 1_010, "until_us": 1_050},
        {"channel": "in1", "since_us": 1_020},
        {"channel": "nope"},
    ],
)
@pytest.mark.parametrize("limit", [1, 7, 100])
def test_keyset_pages_cover_everything_once_newest_first(
    engine: Engine, filled: list[Event], filters: dict[str, Any], limit: int
) -> None:
    pages = list(all_pages(engine, limit, **filters))
    got = [e for page in pages for e in page]
    assert got == expected(filled, **filters)
    assert count_events(engine, **filters) == len(got)


def test_events_logged_between_pages_do_not_shift_the_pages(
    engine: Engine, filled: list[Event]
) -> None:
    first = newest(engine, channel="in1", limit=10)
    add(engine, [make(Kind.INPUT, 5_000 + n, "in1") for n in range(10)])  # newer events arrive
    assert first.next_cursor is not None
    second = newest(engine, channel="in1", limit=10, cursor=first.next_cursor)
    assert second.events == expected(filled, channel="in1")[10:20]


def test_iter_events_streams_in_chunks(engine: Engine, filled: list[Event]) -> None:
    oldest_first = list(reversed(expected(filled)))
    assert list(iter_events(engine, chunk_size=7)) == oldest_first
    assert list(iter_events(engine, ascending=False, chunk_size=50)) == expected(filled)
    assert list(iter_events(engine, channel="in2", kinds=[Kind.INPUT], chunk_size=3)) == list(
        reversed(expected(filled, channel="in2", kinds=[Kind.INPUT]))
    )


def test_seq_order_helpers(engine: Engine, filled: list[Event]) -> None:
    assert last_seq(engine) == filled[-1].seq
    assert events_after(engine, filled[-4].seq) == filled[-3:]
    assert events_after(engine, 0, limit=2) == filled[:2]


def test_bad_cursor_and_limit_are_refused(engine: Engine) -> None:
    for cursor in ["", "not-a-cursor", "MTIz", "!!!"]:
        with pytest.raises(InvalidCursorError):
            newest(engine, cursor=cursor)
    with pytest.raises(ValueError, match="limit"):
        newest(engine, limit=0)


def plan_of_newest(engine: Engine, **filters: Any) -> str:
    """The ``EXPLAIN QUERY PLAN`` of the SELECT that :func:`newest` runs."""
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_a: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        newest(engine, **filters)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    ((statement, parameters),) = captured
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(str(row[-1]) for row in rows)


def test_query_plans_use_the_indexes(engine: Engine) -> None:
    cursor = newest(engine, limit=1).next_cursor or "MTAwMDox"  # any valid position
    plan = plan_of_newest(engine, channel="in1", since_us=5, until_us=10_000, cursor=cursor)
    assert "USING INDEX ix_events_channel_utc_us_seq (channel=? AND utc_us>? AND utc_us<?)" in (
        plan
    )
    assert "TEMP B-TREE" not in plan  # no sort: the index gives the order
    plan = plan_of_newest(engine, since_us=5, cursor=cursor)
    assert "USING INDEX ix_events_utc_us_seq" in plan
    assert "TEMP B-TREE" not in plan


# ------------------------------------------------------------------ property test


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database, copied for each Hypothesis example."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    prepared = prepare_database(path, stamper=EventStamper("boot", ManualClock()))
    prepared.engine.dispose()
    return path


event_specs = st.lists(
    st.tuples(
        st.sampled_from([Kind.INPUT, Kind.OUTPUT, Kind.FAULT]),
        st.integers(0, 15),  # few distinct times: many ties
        st.sampled_from(["a", "b", None]),
    ),
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(
    specs=event_specs,
    limit=st.integers(1, 9),
    channel=st.sampled_from([None, "a", "b"]),
    kinds=st.one_of(st.none(), st.lists(st.sampled_from(list(Kind)), min_size=1, unique=True)),
    since_us=st.one_of(st.none(), st.integers(0, 15)),
    until_us=st.one_of(st.none(), st.integers(0, 16)),
)
def test_paging_property(
    template: Path,
    specs: list[tuple[Kind, int, str | None]],
    limit: int,
    channel: str | None,
    kinds: list[Kind] | None,
    since_us: int | None,
    until_us: int | None,
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "db.sqlite"
        shutil.copyfile(template, path)
        engine = make_engine(path)
        try:
            stored = [
                *events_after(engine, 0),
                *add(engine, [make(k, t, c, n) for n, (k, t, c) in enumerate(specs)]),
            ]
            filters: dict[str, Any] = {
                "channel": channel, "kinds": kinds, "since_us": since_us, "until_us": until_us,
            }  # fmt: skip
            got = [e for page in all_pages(engine, limit, **filters) for e in page]
            assert got == expected(stored, **filters)
            assert list(iter_events(engine, chunk_size=limit, **filters)) == got[::-1]
        finally:
            engine.dispose()
