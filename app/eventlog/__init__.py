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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: where each name lives: imported on first use (PEP 562), so that importing one
#: module of the package (the web process: the queries) does not import the writer,
#: the start-up code and Alembic with it
_WHERE = {
    "CORRUPT_FAULT_KEY": "database",
    "EventLogError": "database",
    "InvalidCursorError": "database",
    "MigrationError": "database",
    "PersistentFault": "database",
    "active_faults": "database",
    "clear_persistent_fault": "database",
    "immediate": "database",
    "make_engine": "database",
    "head_revision": "migration",
    "Page": "queries",
    "count_events": "queries",
    "events_after": "queries",
    "iter_events": "queries",
    "last_seq": "queries",
    "newest": "queries",
    "Eviction": "retention",
    "RetentionPolicy": "retention",
    "evict": "retention",
    "eviction_event": "retention",
    "Prepared": "startup",
    "prepare_database": "startup",
    "EventWriter": "writer",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'app.eventlog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"app.eventlog.{where}"), name)
    globals()[name] = value
    return value


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
