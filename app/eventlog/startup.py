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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from app.eventlog.chain import last_hash
from app.eventlog.database import (
    ALTERED_FAULT_KEY,
    PersistentFault,
    active_faults,
    immediate,
    make_engine,
    set_persistent_fault,
)
from app.eventlog.files import sidecar
from app.eventlog.migration import EVENTLOG_CHANNEL, head_revision, migrate
from app.eventlog.recovery import (
    finish_interrupted_recovery,
    probe,
    recover,
    salvage_last_seq,
    set_sequence,
)
from app.eventlog.rows import insert_chained
from app.eventlog.schema import events as events_table
from app.eventlog.seqstate import LogState, SeqKeeper, read_state, state_path
from app.events import Cause, Event, EventStamper, Kind, NewEvent


@dataclass(frozen=True, slots=True)
class Prepared:
    """A database ready for the writer."""

    engine: Engine
    path: Path
    revision: str  # the schema revision the database is now at (head)
    events: tuple[Event, ...]  # startup events, already committed, oldest first
    faults: tuple[PersistentFault, ...]  # persistent faults active now
    keeper: SeqKeeper | None = None  # the high-water mark, for the writer


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
    finish_interrupted_recovery(path)
    head = head_revision(migrations_dir)
    state, state_problem = read_state(state_path(path))
    floor = state.floor(stamper.boot_id) if state is not None else 0
    acked = state.acked if state is not None else 0
    chain = bytes.fromhex(state.hash) if state is not None and state.hash else None
    events: list[Event] = []
    existed = path.exists()
    if not existed and acked > 0:
        events = recover(
            path,
            f"the event log file is missing, but it held events up to seq {acked}",
            stamper=stamper,
            migrations_dir=migrations_dir,
            last_seq=floor,
            lost=(1, acked),
            previous_hash=chain,
        )
    elif existed:
        last, problem = probe(path)
        if problem is None and last is None and acked > 0:
            last = 0  # no log in the file at all
            if path.stat().st_size == 0 and not sidecar(path, "-wal").exists():
                problem = f"the event log file is empty, but it held events up to seq {acked}"
        if problem is not None:
            salvaged = salvage_last_seq(path) if last is None else last
            events = recover(
                path,
                problem,
                stamper=stamper,
                migrations_dir=migrations_dir,
                last_seq=max(salvaged or 0, floor),
                lost=(1, max(salvaged or 0, acked)) if (salvaged or acked) else None,
                previous_hash=chain,
            )
        elif last is not None and last < acked:
            events = recover(
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
            events = migrate(
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
            set_sequence(connection, floor)
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
