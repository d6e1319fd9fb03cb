"""Opening the event log at service start: check, recover, back up, migrate.

:func:`prepare_database` is called once, before the writer starts:

1. ``PRAGMA quick_check`` on an existing file. A corrupt file (quick_check not
   "ok", "file is not a database", a truncated file) is moved aside to
   ``<name>.corrupt-<UTC>`` (with its ``-wal``/``-shm``) and a new log is started
   whose first event is SYSTEM "log-recovered"; a persistent fault
   (``fault.eventlog-corrupt``) stays active until an operator clears it.
2. An existing file below the newest schema revision is copied first (SQLite's
   backup API) to ``<name>.pre-<rev>-<UTC>.bak``, then upgraded by Alembic.

The startup events (log-created / log-recovered / log-migrated) are committed
here, in the same transaction as the change they describe, so that a crash
cannot leave a new or recovered log that does not say so. They are returned in
:attr:`Prepared.events`; :class:`~app.eventlog.writer.EventWriter` hands them to
its ``on_commit`` first, so they are streamed like every other event.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from app.eventlog.database import (
    BUSY_TIMEOUT_MS,
    CORRUPT_FAULT_KEY,
    EventLogError,
    MigrationError,
    PersistentFault,
    active_faults,
    make_engine,
    set_persistent_fault,
    use_immediate,
)
from app.eventlog.rows import insert_events
from app.events import Cause, Event, EventStamper, Kind

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
EVENTLOG_CHANNEL = "eventlog"
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_SIDECARS = ("-wal", "-shm")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A database ready for the writer."""

    engine: Engine
    path: Path
    revision: str  # the schema revision the database is now at (head)
    events: tuple[Event, ...]  # startup events, already committed, oldest first
    faults: tuple[PersistentFault, ...]  # persistent faults active now


def alembic_config(
    migrations_dir: Path | None = None, connection: Connection | None = None
) -> Config:
    """An Alembic config for the migrations, optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir or MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision(migrations_dir: Path | None = None) -> str:
    """The newest schema revision this version of the code knows."""
    head = ScriptDirectory.from_config(alembic_config(migrations_dir)).get_current_head()
    if head is None:
        raise MigrationError("no migrations found")
    return head


def prepare_database(
    path: Path,
    *,
    stamper: EventStamper,
    migrations_dir: Path | None = None,
) -> Prepared:
    """Check, recover, back up and migrate the log at ``path``; return it ready for use.

    Raises :class:`MigrationError` when the file cannot be upgraded (for example,
    it was written by a newer version: restore the ``.bak`` made before that
    upgrade, or install the newer version again) and :class:`EventLogError` when
    it cannot be opened at all (permissions, locked by another process).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _finish_interrupted_recovery(path)
    head = head_revision(migrations_dir)
    events: list[Event] = []
    existed = path.exists()
    if existed:
        problem = _integrity_problem(path)
        if problem is not None:
            events = _recover(path, problem, stamper=stamper, migrations_dir=migrations_dir)
    engine = make_engine(path)
    try:
        if not events:
            events = _migrate(
                engine, path, existed=existed, stamper=stamper, migrations_dir=migrations_dir
            )
        faults = tuple(active_faults(engine))
    except BaseException:
        engine.dispose()
        raise
    return Prepared(engine, path, head, tuple(events), faults)


# ------------------------------------------------------------------------- checks


def _integrity_problem(path: Path) -> str | None:
    """None if ``path`` passes ``PRAGMA quick_check``, else what is wrong with it."""
    try:
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            rows = connection.execute("PRAGMA quick_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _CORRUPT_CODES:
            return str(exc)
        raise EventLogError(f"cannot open the event log {path}: {exc}") from exc
    if rows == [("ok",)]:
        return None
    return "; ".join(str(row[0]) for row in rows)[:2000]


def _salvage_last_seq(path: Path) -> int | None:
    """The last sequence number of a damaged log, if it can still be read."""
    try:
        uri = f"file:{quote(str(path))}?mode=ro"
        connection = sqlite3.connect(uri, uri=True, timeout=1.0)
        try:
            row = connection.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return None
    return int(row[0]) if row and isinstance(row[0], int) else None


# ----------------------------------------------------------------------- recovery


def utc_stamp(utc_us: int) -> str:
    """``yyyymmddTHHMMSSZ`` for a UTC time in microseconds."""
    return datetime.fromtimestamp(utc_us // 1_000_000, UTC).strftime("%Y%m%dT%H%M%SZ")


def _staging(path: Path) -> Path:
    return path.with_name(path.name + ".new")


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _free_name(base: Path) -> Path:
    candidate, n = base, 0
    while candidate.exists() or _sidecar(candidate, "-wal").exists():
        n += 1
        candidate = base.with_name(f"{base.name}.{n}")
    return candidate


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_db_files(path: Path) -> None:
    for suffix in _SIDECARS:
        _sidecar(path, suffix).unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def _finish_interrupted_recovery(path: Path) -> None:
    """Complete or undo a recovery that a crash interrupted (see :func:`_recover`)."""
    staging = _staging(path)
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
            _fsync_dir(path.parent)
            return
    _remove_db_files(staging)  # recovery had not moved the damaged file: start again


def _recover(
    path: Path, problem: str, *, stamper: EventStamper, migrations_dir: Path | None
) -> list[Event]:
    """Move a corrupt log aside and put a new one, saying so, in its place.

    The new log is built completely under ``<name>.new`` (schema, first event,
    persistent fault, checkpointed into one file) before the damaged file is
    moved; then it is renamed into place. A crash at any point leaves either the
    damaged file (recovery runs again) or a complete new log.
    """
    moved = _free_name(path.with_name(f"{path.name}.corrupt-{utc_stamp(stamper.clock.utc_us())}"))
    last_seq = _salvage_last_seq(path)
    staging = _staging(path)
    _remove_db_files(staging)
    engine = make_engine(staging)
    try:
        with engine.connect() as connection:
            use_immediate(connection)
            with connection.begin():
                revision = _upgrade(connection, migrations_dir)
                if last_seq:  # keep numbering after the old log: a seq is never reused
                    connection.exec_driver_sql(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)",
                        (last_seq,),
                    )
                detail: dict[str, Any] = {
                    "moved_to": moved.name,
                    "error": problem,
                    "previous_last_seq": last_seq,
                    "revision": revision,
                }
                event = stamper.make(
                    Kind.SYSTEM,
                    "log-recovered",
                    Cause.SYSTEM,
                    channel=EVENTLOG_CHANNEL,
                    detail=detail,
                )
                events = insert_events(connection, [event])
                set_persistent_fault(
                    connection,
                    CORRUPT_FAULT_KEY,
                    {
                        "code": CORRUPT_FAULT_KEY.removeprefix("fault."),
                        "message": f"The event log was damaged ({problem[:200]}); it was moved "
                        f"to {moved.name} and a new log was started.",
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
    for suffix in _SIDECARS:  # WAL first: a stale WAL must never meet the new file
        _sidecar(staging, suffix).unlink(missing_ok=True)
        if _sidecar(path, suffix).exists():
            os.replace(_sidecar(path, suffix), _sidecar(moved, suffix))
    os.replace(path, moved)
    _fsync_dir(path.parent)
    os.replace(staging, path)
    _fsync_dir(path.parent)
    return events


# ---------------------------------------------------------------------- migration


def _upgrade(connection: Connection, migrations_dir: Path | None) -> str:
    """Upgrade to head inside the caller's transaction; return the head revision."""
    config = alembic_config(migrations_dir, connection)
    command.upgrade(config, "head")
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _backup(connection: Connection, target: Path) -> None:
    """A consistent copy of the database behind ``connection`` (SQLite's backup API)."""
    source = connection.connection.dbapi_connection
    assert isinstance(source, sqlite3.Connection)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()


def _migrate(
    engine: Engine,
    path: Path,
    *,
    existed: bool,
    stamper: EventStamper,
    migrations_dir: Path | None,
) -> list[Event]:
    """Upgrade an existing or new (empty) log to head; back it up first if it has data."""
    script = ScriptDirectory.from_config(alembic_config(migrations_dir))
    head = script.get_current_head()
    with engine.connect() as connection:
        use_immediate(connection)
        with connection.begin():
            current = MigrationContext.configure(connection).get_current_revision()
            tables = inspect(connection).get_table_names()
        if current == head:
            return []
        if current is not None:
            try:
                script.get_revision(current)
            except Exception as exc:
                raise MigrationError(
                    f"{path} is at schema revision {current!r}, which this version does "
                    "not know (written by a newer version?). Install that version again "
                    "or restore the .bak copy made before it upgraded the file."
                ) from exc
        backup = None
        if tables:  # (outside a transaction: the backup API reads the source itself)
            stamp = utc_stamp(stamper.clock.utc_us())
            backup = _free_name(path.with_name(f"{path.name}.pre-{current or 'base'}-{stamp}.bak"))
            try:
                _backup(connection, backup)
            except sqlite3.Error as exc:
                _remove_db_files(backup)
                raise MigrationError(
                    f"could not copy {path} to {backup.name} before upgrading it: {exc}"
                ) from exc
        with connection.begin():
            if MigrationContext.configure(connection).get_current_revision() != current:
                raise MigrationError(f"{path} changed while it was being copied; try again")
            try:
                revision = _upgrade(connection, migrations_dir)
            except Exception as exc:
                raise MigrationError(
                    f"upgrading {path} from {current or 'an empty file'} to {head} failed "
                    f"({exc}); it is unchanged"
                    + (f", and a copy is in {backup.name}" if backup else "")
                ) from exc
            if current is None:
                # A file that existed but held no tables (a crash during the very first
                # start) is initialised in place: it held no events to lose.
                detail: dict[str, Any] = {"revision": revision, "found_empty_file": existed}
                state = "log-created"
            else:
                detail = {"from": current, "to": revision, "backup": backup and backup.name}
                state = "log-migrated"
            event = stamper.make(
                Kind.SYSTEM, state, Cause.SYSTEM, channel=EVENTLOG_CHANNEL, detail=detail
            )
            return insert_events(connection, [event])
