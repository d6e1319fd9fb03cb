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

import contextlib
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
from sqlalchemy import Connection, Engine, inspect, select

from app.eventlog.chain import last_hash, set_anchor
from app.eventlog.database import (
    ALTERED_FAULT_KEY,
    CORRUPT_FAULT_KEY,
    EventLogError,
    MigrationError,
    PersistentFault,
    active_faults,
    immediate,
    make_engine,
    set_persistent_fault,
    use_immediate,
)
from app.eventlog.rows import insert_chained, insert_events
from app.eventlog.schema import events as events_table
from app.eventlog.seqstate import LogState, SeqKeeper, read_state, state_path
from app.events import Cause, Event, EventStamper, Kind, NewEvent
from app.sqlite import BUSY_TIMEOUT_MS

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
    keeper: SeqKeeper | None = None  # the high-water mark, for the writer


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
    state, state_problem = read_state(state_path(path))
    floor = state.floor(stamper.boot_id) if state is not None else 0
    acked = state.acked if state is not None else 0
    chain = bytes.fromhex(state.hash) if state is not None and state.hash else None
    events: list[Event] = []
    existed = path.exists()
    if not existed and acked > 0:
        events = _recover(
            path,
            f"the event log file is missing, but it held events up to seq {acked}",
            stamper=stamper,
            migrations_dir=migrations_dir,
            last_seq=floor,
            lost=(1, acked),
            previous_hash=chain,
        )
    elif existed:
        last, problem = _probe(path)
        if problem is None and last is None and acked > 0:
            last = 0  # no log in the file at all
            if path.stat().st_size == 0 and not _sidecar(path, "-wal").exists():
                problem = f"the event log file is empty, but it held events up to seq {acked}"
        if problem is not None:
            salvaged = _salvage_last_seq(path) if last is None else last
            events = _recover(
                path,
                problem,
                stamper=stamper,
                migrations_dir=migrations_dir,
                last_seq=max(salvaged or 0, floor),
                lost=(1, max(salvaged or 0, acked)) if (salvaged or acked) else None,
                previous_hash=chain,
            )
        elif last is not None and last < acked:
            events = _recover(
                path,
                f"the log ends at seq {last} but events up to seq {acked} were committed: "
                "its write-ahead log was damaged or removed",
                stamper=stamper,
                migrations_dir=migrations_dir,
                last_seq=floor,
                lost=(last + 1, acked),
                seed=True,
                previous_hash=chain,
            )
    engine = make_engine(path)
    try:
        if not events:
            events = _migrate(
                engine, path, existed=existed, stamper=stamper, migrations_dir=migrations_dir
            )
        more, last_seq, chained = _reconcile(engine, state, state_problem, floor, stamper)
        events += more
        faults = tuple(active_faults(engine))
        keeper = SeqKeeper(
            state_path(path),
            LogState(
                acked=last_seq, boot_id=stamper.boot_id, hash=chained.hex() if chained else ""
            ),
        )
    except BaseException:
        engine.dispose()
        raise
    return Prepared(engine, path, head, tuple(events), faults, keeper)


def _reconcile(
    engine: Engine,
    state: LogState | None,
    state_problem: str | None,
    floor: int,
    stamper: EventStamper,
) -> tuple[list[Event], int, bytes | None]:
    """Numbering goes on above ``floor``; events the last run could not write are
    logged; a log changed while stopped is a fault. Returns the events logged here,
    the last sequence number used and the newest chain hash."""
    with immediate(engine) as connection:
        last = _sequence(connection)
        notices: list[NewEvent] = []
        if floor > last:
            _set_sequence(connection, floor)
            notices.append(
                _notice(
                    stamper,
                    "seq-skipped",
                    {
                        "from": last + 1,
                        "to": floor,
                        "reason": "the last run stopped without closing the log in an earlier "
                        "boot (a power cut?): numbers it may have handed on are not reused",
                    },
                )
            )
        if state is not None and state.lost:
            notices.append(_notice(stamper, "events-lost", state.lost))
        if state_problem is not None:
            notices.append(_notice(stamper, "state-rebuilt", {"error": state_problem}))
        if state is not None and _altered(connection, state, stamper.boot_id):
            set_persistent_fault(
                connection,
                ALTERED_FAULT_KEY,
                {
                    "code": ALTERED_FAULT_KEY.removeprefix("fault."),
                    "message": f"Event {state.acked} is not the one that was written (its hash "
                    "differs from the copy kept beside the log): the log was changed while the "
                    "appliance was stopped. 'alarmbridge events verify' finds the first "
                    "changed event.",
                    "seq": state.acked,
                },
            )
        committed, chained = insert_chained(connection, notices)
        if chained is None:
            chained = last_hash(connection)
        return committed, committed[-1].seq if committed else max(last, floor), chained


def _altered(connection: Connection, state: LogState, boot_id: str) -> bool:
    """Whether the row the state file last recorded no longer has the hash recorded
    (checked when that record is exact: a clean stop, or a crash in this boot)."""
    if not state.hash or not (state.clean or state.boot_id == boot_id):
        return False
    found = connection.execute(
        select(events_table.c.hash).where(events_table.c.seq == state.acked)
    ).scalar()
    return found is not None and bytes(found).hex() != state.hash


def _notice(stamper: EventStamper, state: str, detail: dict[str, Any]) -> NewEvent:
    return stamper.make(Kind.SYSTEM, state, Cause.SYSTEM, channel=EVENTLOG_CHANNEL, detail=detail)


def _sequence(connection: Connection) -> int:
    """The last sequence number the log has used (0 for none)."""
    value = connection.exec_driver_sql(
        "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
    ).scalar()
    return int(value or 0)


def _set_sequence(connection: Connection, seq: int) -> None:
    """Make the next event's number ``seq + 1`` (never lower than it is)."""
    if connection.exec_driver_sql(
        "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'events'", (seq,)
    ).rowcount:
        return
    connection.exec_driver_sql(
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", (seq,)
    )


# ------------------------------------------------------------------------- checks


def _probe(path: Path) -> tuple[int | None, str | None]:
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
    return _probe(path)[1]


def _ro_uri(path: Path) -> str:
    return f"file:{quote(str(path))}?mode=ro"


def _salvage_last_seq(path: Path) -> int | None:
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
        moved = _free_name(path.with_name(f"{path.name}.corrupt-{stamp}"))
    staging = _staging(path)
    _remove_db_files(staging)
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
                revision = _upgrade(connection, migrations_dir)
                if last_seq:  # keep numbering after the old log: a seq is never reused
                    _set_sequence(connection, last_seq)
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
    for suffix in _SIDECARS:  # WAL first: a stale WAL must never meet the new file
        _sidecar(staging, suffix).unlink(missing_ok=True)
        if moved is not None and _sidecar(path, suffix).exists():
            os.replace(_sidecar(path, suffix), _sidecar(moved, suffix))
    if moved is not None:
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
