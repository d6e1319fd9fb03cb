"""A damaged or lost event log, found at start and recovered without silent loss.

:func:`probe` reads the log read-only (``quick_check`` and its last sequence
number) before anything could checkpoint or reset its write-ahead log.
:func:`recover` moves what was found aside as it was and puts a new log in its
place whose first event, SYSTEM "log-recovered", says what happened and which
numbers it does not hold (ADR 0003, ADR 0008).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from app.eventlog.chain import set_anchor
from app.eventlog.database import (
    CORRUPT_FAULT_KEY,
    EventLogError,
    make_engine,
    set_persistent_fault,
    use_immediate,
)
from app.eventlog.files import (
    SIDECARS,
    free_name,
    fsync_dir,
    remove_db_files,
    sidecar,
    staging_path,
    utc_stamp,
)
from app.eventlog.migration import EVENTLOG_CHANNEL, upgrade
from app.eventlog.rows import insert_chained
from app.events import Cause, Event, EventStamper, Kind
from app.sqlite import BUSY_TIMEOUT_MS

_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


def probe(path: Path) -> tuple[int | None, str | None]:
    """``PRAGMA quick_check`` and the last sequence number of the log at ``path``,
    read-only: a read-only connection reads the write-ahead log as it is, and
    never checkpoints or resets it, so a damaged one is still there to keep.

    Returns (last seq or None if the file holds no log, None) for a sound file and
    (None, what is wrong) for a damaged one.
    """
    try:
        connection = sqlite3.connect(_ro_uri(path), uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            rows = connection.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                return None, "; ".join(str(row[0]) for row in rows)[:2000]
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
            ).fetchone()
            if not found:
                return None, None
            row = connection.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _CORRUPT_CODES:
            return None, str(exc)
        raise EventLogError(f"cannot open the event log {path}: {exc}") from exc
    return (int(row[0]) if row and isinstance(row[0], int) else 0), None


def _integrity_problem(path: Path) -> str | None:
    """None if ``path`` passes ``PRAGMA quick_check``, else what is wrong with it."""
    return probe(path)[1]


def _ro_uri(path: Path) -> str:
    return f"file:{quote(str(path))}?mode=ro"


def salvage_last_seq(path: Path) -> int | None:
    """The last sequence number of a damaged log, if it can still be read."""
    try:
        connection = sqlite3.connect(_ro_uri(path), uri=True, timeout=1.0)
        try:
            row = connection.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return None
    return int(row[0]) if row and isinstance(row[0], int) else None


def finish_interrupted_recovery(path: Path) -> None:
    """Complete or undo a recovery that a crash interrupted (see :func:`recover`)."""
    staging = staging_path(path)
    if not staging.exists():
        return
    if not path.exists() and _integrity_problem(staging) is None:
        connection = sqlite3.connect(staging)
        try:
            marked = connection.execute(
                "SELECT 1 FROM meta WHERE key = ?", (CORRUPT_FAULT_KEY,)
            ).fetchone()
        except sqlite3.Error:
            marked = None
        finally:
            connection.close()
        if marked:  # the damaged file was moved aside; the new log is complete
            os.replace(staging, path)
            fsync_dir(path.parent)
            return
    remove_db_files(staging)  # recovery had not moved the damaged file: start again


def recover(
    path: Path,
    problem: str,
    *,
    stamper: EventStamper,
    migrations_dir: Path | None,
    last_seq: int,
    lost: tuple[int, int] | None,
    seed: bool = False,
    previous_hash: bytes | None = None,
) -> list[Event]:
    """Move a damaged log aside and put a new one, saying so, in its place.

    ``last_seq``: numbering goes on above it. ``lost``: the sequence numbers
    (first, last) that were committed and are not in the new log, if known
    (for a file moved aside whole: all of them, though some may be read from it).
    ``seed``: the file itself is sound (only its write-ahead log was damaged or
    removed): the new log starts as a copy of everything still readable in it.
    ``previous_hash``: the newest chain hash known (kept beside the log): a new
    log's first row is chained to it, a new segment linked to the old.

    The new log is built completely under ``<name>.new`` (schema, first event,
    persistent fault, checkpointed into one file) before the damaged files are
    moved; then it is renamed into place. A crash at any point leaves either the
    damaged file (recovery runs again) or a complete new log.
    """
    moved = None
    if path.exists():
        stamp = utc_stamp(stamper.clock.utc_us())
        moved = free_name(path.with_name(f"{path.name}.corrupt-{stamp}"))
    staging = staging_path(path)
    remove_db_files(staging)
    kept = 0
    if seed:
        source = sqlite3.connect(_ro_uri(path), uri=True)
        copy = sqlite3.connect(staging)
        try:
            source.backup(copy)
            with contextlib.suppress(sqlite3.OperationalError):  # no events table at all
                kept = int(copy.execute("SELECT count(*) FROM events").fetchone()[0])
        finally:
            copy.close()
            source.close()
    engine = make_engine(staging)
    try:
        with engine.connect() as connection:
            use_immediate(connection)
            with connection.begin():
                revision = upgrade(connection, migrations_dir)
                if last_seq:  # keep numbering after the old log: a seq is never reused
                    set_sequence(connection, last_seq)
                detail: dict[str, Any] = {
                    "moved_to": moved.name if moved else None,
                    "error": problem,
                    "previous_last_seq": last_seq or None,
                    "revision": revision,
                }
                if seed:
                    detail["events_kept"] = kept
                if lost is not None:
                    detail.update(
                        lost_from_seq=lost[0], lost_to_seq=lost[1], lost=lost[1] - lost[0] + 1
                    )
                if previous_hash is not None:
                    detail["previous_hash"] = previous_hash.hex()
                event = stamper.make(
                    Kind.SYSTEM,
                    "log-recovered",
                    Cause.SYSTEM,
                    channel=EVENTLOG_CHANNEL,
                    detail=detail,
                )
                events, _ = insert_chained(connection, [event], previous=previous_hash)
                if previous_hash is not None and not seed:  # a new segment, linked to the old
                    set_anchor(connection, events[0].seq - 1, previous_hash)
                what = f"it was moved to {moved.name}" if moved else "there was no file"
                kept_text = (
                    f"a new log was started with the {kept} events still readable"
                    if seed
                    else "a new log was started"
                )
                lost_text = (
                    f" Events {lost[0]} to {lost[1]} are not in the new log." if lost else ""
                )
                set_persistent_fault(
                    connection,
                    CORRUPT_FAULT_KEY,
                    {
                        "code": CORRUPT_FAULT_KEY.removeprefix("fault."),
                        "message": f"The event log was damaged ({problem[:200]}); {what} and "
                        f"{kept_text}.{lost_text}",
                        "seq": events[0].seq,
                        **detail,
                    },
                )
            # Outside any transaction (the raw connection: SQLAlchemy would BEGIN first).
            raw = connection.connection.dbapi_connection
            assert raw is not None
            busy = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy:
                raise EventLogError(f"could not checkpoint {staging}")
    finally:
        engine.dispose()
    for suffix in SIDECARS:  # WAL first: a stale WAL must never meet the new file
        sidecar(staging, suffix).unlink(missing_ok=True)
        if moved is not None and sidecar(path, suffix).exists():
            os.replace(sidecar(path, suffix), sidecar(moved, suffix))
    if moved is not None:
        os.replace(path, moved)
        fsync_dir(path.parent)
    os.replace(staging, path)
    fsync_dir(path.parent)
    return events


def set_sequence(connection: Connection, seq: int) -> None:
    """Make the next event's number ``seq + 1`` (never lower than it is)."""
    if connection.exec_driver_sql(
        "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'events'", (seq,)
    ).rowcount:
        return
    connection.exec_driver_sql(
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", (seq,)
    )
