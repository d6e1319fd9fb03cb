"""The writer's commit histograms (app.eventlog.commitstats): the buckets, the JSON
the io status carries, and what a real writer on a real SQLite file records."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import Engine, func, select

from app.eventlog.commitstats import EVENTS_BOUNDS, SECONDS_BOUNDS, CommitStats, Histogram
from app.eventlog.schema import events
from app.events import EventStamper
from tests.eventlog.conftest import MakeWriter, user_event


def test_a_value_on_a_bound_counts_in_that_bucket_and_above_the_last_in_the_extra_one() -> None:
    stats = CommitStats()
    stats.record(0.001, 1)  # on the bound: "le 0.001"
    stats.record(0.0011, 2)
    stats.record(60.0, 501)  # above every bound
    seconds, counts = stats.snapshot.seconds, stats.snapshot.events
    assert seconds.counts[SECONDS_BOUNDS.index(0.001)] == 1
    assert seconds.counts[SECONDS_BOUNDS.index(0.0025)] == 1
    assert seconds.counts[-1] == 1
    assert counts.counts[EVENTS_BOUNDS.index(1.0)] == 1
    assert counts.counts[EVENTS_BOUNDS.index(2.0)] == 1
    assert counts.counts[-1] == 1
    assert seconds.count == counts.count == 3
    assert seconds.total == pytest.approx(60.0021)
    assert counts.total == 504
    cumulative = seconds.cumulative()
    assert cumulative[-1] == (math.inf, 3)
    assert [n for _, n in cumulative] == sorted(n for _, n in cumulative)


def test_the_snapshot_is_taken_whole_and_survives_json() -> None:
    stats = CommitStats()
    before = stats.snapshot
    stats.record(0.004, 7)
    assert before.seconds.count == 0  # a reader's snapshot never changes under it
    again = Histogram.from_json(stats.snapshot.to_json()["seconds"])
    assert again == stats.snapshot.seconds


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bounds": [1, 2], "counts": [0, 0], "sum": 0}, "one count per bound"),
        ({"bounds": [2, 1], "counts": [0, 0, 0], "sum": 0}, "bounds increase"),
        ({"bounds": [1, 2], "counts": [0, -1, 0], "sum": 0}, "one count per bound"),
    ],
)
def test_a_histogram_that_does_not_add_up_is_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Histogram.from_json(data)


def test_a_real_writer_records_every_commit_and_every_event(
    make_writer: MakeWriter, stamper: EventStamper, engine: Engine
) -> None:
    writer = make_writer()
    assert writer.commits.snapshot.events.count == 0  # start-up events: not the writer's
    for n in range(1, 301):
        writer.submit(user_event(stamper, n))
    assert writer.flush(timeout=10)
    snapshot = writer.commits.snapshot
    with engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(events)).scalar_one()
    assert snapshot.events.total == 300  # every event, in some commit
    assert rows >= 300
    assert 1 <= snapshot.seconds.count == snapshot.events.count <= 300
    assert snapshot.seconds.total > 0
