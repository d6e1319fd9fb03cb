"""The tamper-evident chain (issue #15, stretch): each row's hash covers the row and
the hash before it; a changed, removed or inserted row breaks the chain at that
row; a log rewritten to hide it no longer ends on the hash kept beside it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command

from app.clock import ManualClock
from app.eventlog import (
    EventWriter,
    Prepared,
    active_faults,
    evict,
    make_engine,
    prepare_database,
)
from app.eventlog.chain import GENESIS, Verification, link, verify
from app.eventlog.database import ALTERED_FAULT_KEY, immediate
from app.eventlog.migration import alembic_config
from app.eventlog.seqstate import read_state, state_path
from app.events import EventStamper
from tests.io.conftest import cli

from .conftest import user_event


def write(prepared: Prepared, stamper: EventStamper, count: int) -> None:
    writer = EventWriter(prepared, stamper=stamper)
    writer.start()
    for n in range(count):
        writer.submit(user_event(stamper, n))
    assert writer.flush(timeout=10)
    writer.stop()


def check(db: Path) -> Verification:
    engine = make_engine(db, read_only=True)
    try:
        with engine.connect() as connection:
            return verify(connection)
    finally:
        engine.dispose()


def closed_log(db: Path, stamper: EventStamper, count: int = 300) -> None:
    prepared = prepare_database(db, stamper=stamper)
    try:
        write(prepared, stamper, count)
    finally:
        prepared.engine.dispose()


def sql(db: Path, statement: str, *args: object) -> None:
    with closing(sqlite3.connect(db)) as connection:
        connection.execute(statement, args)
        connection.commit()


def test_every_row_is_chained_and_the_newest_hash_is_kept_beside_the_log(
    db_path: Path, stamper: EventStamper
) -> None:
    closed_log(db_path, stamper)
    found = check(db_path)
    assert found.ok and found.checked == 301 and (found.first_seq, found.last_seq) == (1, 301)
    with closing(sqlite3.connect(db_path)) as connection:
        connection.row_factory = sqlite3.Row
        first = dict(connection.execute("SELECT * FROM events WHERE seq = 1").fetchone())
    assert first["hash"] == link(GENESIS, first)  # anyone can recompute it
    state, _ = read_state(state_path(db_path))
    assert state is not None and found.last_hash is not None
    assert state.hash == found.last_hash.hex()
    said = cli(db_path.parent, "events", "verify")
    assert said.stdout.startswith("chain ok: 301 events, 1 to 301")
    assert "the same as the copy kept beside the log" in said.stdout


@pytest.mark.parametrize(
    ("change", "broken"),
    [
        ("UPDATE events SET state = 'tampered' WHERE seq = 120", 120),
        ("UPDATE events SET detail = '{\"n\":0}' WHERE seq = 200", 200),
        ("DELETE FROM events WHERE seq = 150", 151),
        ("UPDATE events SET seq = 1000 WHERE seq = 301", None),  # renumbered: see below
    ],
)
def test_a_changed_or_removed_row_breaks_the_chain_at_that_row(
    db_path: Path, stamper: EventStamper, change: str, broken: int | None
) -> None:
    closed_log(db_path, stamper)
    sql(db_path, change)
    found = check(db_path)
    assert not found.ok
    assert found.broken_seq == (broken or 1000)
    said = cli(db_path.parent, "events", "verify", check=False)
    assert said.returncode == 3
    assert f"seq {found.broken_seq} does not match its hash" in said.stderr


def test_a_log_rewritten_to_hide_a_change_is_found_at_start_and_by_verify(
    db_path: Path, stamper: EventStamper
) -> None:
    closed_log(db_path, stamper)
    # Change the newest row and recompute its hash as someone with the file could.
    with closing(sqlite3.connect(db_path)) as connection:
        connection.row_factory = sqlite3.Row
        before = dict(connection.execute("SELECT hash FROM events WHERE seq = 300").fetchone())
        row = dict(connection.execute("SELECT * FROM events WHERE seq = 301").fetchone())
        row["state"] = "rewritten"
        connection.execute(
            "UPDATE events SET state = ?, hash = ? WHERE seq = 301",
            (row["state"], link(before["hash"], row)),
        )
        connection.commit()
    assert check(db_path).ok  # the chain itself holds...
    said = cli(db_path.parent, "events", "verify", check=False)
    assert said.returncode == 3  # ...but not against the copy beside the log
    assert "differs from the copy kept beside the log" in said.stderr
    prepared = prepare_database(db_path, stamper=stamper)
    try:
        assert [f.key for f in active_faults(prepared.engine)] == [ALTERED_FAULT_KEY]
    finally:
        prepared.engine.dispose()


def test_eviction_keeps_the_chain_checkable_from_the_first_row_kept(
    db_path: Path, stamper: EventStamper, clock: ManualClock
) -> None:
    closed_log(db_path, stamper, count=1200)
    engine = make_engine(db_path)
    try:
        later = clock.utc_us() + 10**9  # every event is older than keep_days=0
        eviction = evict(engine, now_us=later, keep_events=1000, keep_days=0, max_events=1000)
        assert eviction is not None and eviction.last_seq == 201
    finally:
        engine.dispose()
    found = check(db_path)
    assert found.ok and found.first_seq == 202 and found.checked == 1000


def test_a_new_log_after_damage_is_a_linked_segment(db_path: Path, stamper: EventStamper) -> None:
    closed_log(db_path, stamper)
    old = read_state(state_path(db_path))[0]
    assert old is not None
    db_path.unlink()  # the log is gone; its newest hash is kept beside it
    prepared = prepare_database(db_path, stamper=stamper)
    try:
        [recovered] = prepared.events
        assert recovered.detail is not None
        assert recovered.detail["previous_hash"] == old.hash
        write(prepared, stamper, 5)
    finally:
        prepared.engine.dispose()
    found = check(db_path)
    assert found.ok and found.first_seq == 302 and found.checked == 6


def test_rows_from_before_the_chain_are_not_checked_and_the_chain_starts_after(
    db_path: Path, stamper: EventStamper
) -> None:
    db_path.parent.mkdir(parents=True)
    engine = make_engine(db_path)
    try:
        with immediate(engine) as connection:
            command.upgrade(alembic_config(connection=connection), "0001")
            for n in range(3):
                connection.exec_driver_sql(
                    "INSERT INTO events (utc_us, mono_ns, boot_id, clock_synced, kind, state, "
                    "cause) VALUES (?, ?, 'old', 1, 'system', ?, 'system')",
                    (n, n, f"old-{n}"),
                )
    finally:
        engine.dispose()
    prepared = prepare_database(db_path, stamper=stamper)  # upgrades, with a backup
    try:
        assert [e.state for e in prepared.events] == ["log-migrated"]
        write(prepared, stamper, 4)
    finally:
        prepared.engine.dispose()
    found = check(db_path)
    assert found.ok and (found.first_seq, found.checked) == (4, 5)
