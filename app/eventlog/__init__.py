"""The durable event log: SQLite, one writer thread, commit before acknowledge.

Start-up::

    prepared = prepare_database(settings.data_dir / "alarmbridge.db", stamper=stamper)
    writer = EventWriter(prepared, stamper=stamper, on_commit=stream, on_fault=faults)
    writer.start()
    writer.submit(stamper.make(Kind.SYSTEM, "started", Cause.SYSTEM))
    ...
    writer.stop()
    prepared.engine.dispose()

Modules: :mod:`.schema` (tables), :mod:`.database` (connections, persistent
faults), :mod:`.startup` (check, recover, back up, migrate), :mod:`.writer`,
:mod:`.queries`, :mod:`.retention`.
"""

from app.eventlog.database import (
    CORRUPT_FAULT_KEY,
    EventLogError,
    InvalidCursorError,
    MigrationError,
    PersistentFault,
    active_faults,
    clear_persistent_fault,
    immediate,
    make_engine,
)
from app.eventlog.migration import head_revision
from app.eventlog.queries import (
    Page,
    count_events,
    events_after,
    iter_events,
    last_seq,
    newest,
)
from app.eventlog.retention import Eviction, RetentionPolicy, evict, eviction_event
from app.eventlog.startup import Prepared, prepare_database
from app.eventlog.writer import EventWriter

__all__ = [
    "CORRUPT_FAULT_KEY",
    "EventLogError",
    "EventWriter",
    "Eviction",
    "InvalidCursorError",
    "MigrationError",
    "Page",
    "PersistentFault",
    "Prepared",
    "RetentionPolicy",
    "active_faults",
    "clear_persistent_fault",
    "count_events",
    "events_after",
    "evict",
    "eviction_event",
    "head_revision",
    "immediate",
    "iter_events",
    "last_seq",
    "make_engine",
    "newest",
    "prepare_database",
]
