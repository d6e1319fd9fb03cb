"""Connections to the event log database, and persistent faults kept in it.

Every connection is set up the same way (WAL, ``synchronous=FULL``,
``busy_timeout=5000``, ``foreign_keys=ON``). pysqlite's own transaction handling
is switched off (``isolation_level=None``) and SQLAlchemy emits ``BEGIN`` itself,
so reads run in a deferred transaction and writes, through :func:`immediate`, in
``BEGIN IMMEDIATE``: the write lock is taken up front and a busy database is
waited for (``busy_timeout``) instead of failing half-way through.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    cast,
    create_engine,
    delete,
    event,
    select,
)
from sqlalchemy.engine import URL
from sqlalchemy.pool import ConnectionPoolEntry

from app.eventlog.errors import EventLogError as EventLogError
from app.eventlog.errors import InvalidCursorError as InvalidCursorError
from app.eventlog.errors import MigrationError as MigrationError
from app.eventlog.schema import meta
from app.sqlite import set_up

log = logging.getLogger(__name__)

BEGIN_OPTION = "alarmbridge_begin"  # execution option: "IMMEDIATE" for write transactions
FAULT_PREFIX = "fault."
CORRUPT_FAULT_KEY = "fault.eventlog-corrupt"
ALTERED_FAULT_KEY = "fault.eventlog-altered"


def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    set_up(dbapi_connection)  # _on_begin emits our own BEGIN


def _on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
    if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
        raise ValueError(f"bad {BEGIN_OPTION}: {mode!r}")
    connection.exec_driver_sql(f"BEGIN {mode}")


def _on_connect_reader(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # A read-only connection cannot set the journal mode; the writer has (WAL lets
    # it read with a read-only -shm file while the io process has the log open).
    set_up(dbapi_connection, read_only=True)


def make_engine(
    path: Path, *, must_exist: bool = False, read_only: bool = False, **kwargs: Any
) -> Engine:
    """An engine for the SQLite file at ``path``, every connection set up as above.

    Reads: ``with engine.connect() as conn`` (a deferred transaction, never
    blocking the writer in WAL mode). Writes: ``with immediate(engine) as conn``.
    ``must_exist``: never create the file (readers: only the io process makes it).
    ``read_only``: open it read-only (the web process: on the Pi it runs as a user
    that may read the event log and not write it); implies ``must_exist``.
    """
    if must_exist or read_only:
        url = URL.create(
            "sqlite+pysqlite",
            database=f"file:{quote(str(path.resolve()))}",
            query={"mode": "ro" if read_only else "rw", "uri": "true"},
        )
    else:
        url = URL.create("sqlite+pysqlite", database=str(path))
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _on_connect_reader if read_only else _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def use_immediate(connection: Connection) -> Connection:
    """Make every later transaction on ``connection`` start with ``BEGIN IMMEDIATE``."""
    return connection.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})


@contextmanager
def immediate(engine: Engine) -> Iterator[Connection]:
    """A connection in a ``BEGIN IMMEDIATE`` transaction, committed on success.

    Only the writer thread should write events; this is for the few other writes
    (clearing a persistent fault, startup) and for tests.
    """
    with engine.connect() as connection:
        use_immediate(connection)
        with connection.begin():
            yield connection


# ---------------------------------------------------------------- persistent faults


@dataclass(frozen=True, slots=True)
class PersistentFault:
    """A fault stored in the ``meta`` table: it stays active across restarts until cleared."""

    key: str  # e.g. "fault.eventlog-corrupt"
    detail: dict[str, Any]

    @property
    def code(self) -> str:
        """The fault code: the key without its ``fault.`` prefix."""
        return self.key.removeprefix(FAULT_PREFIX)


def set_persistent_fault(connection: Connection, key: str, detail: dict[str, Any]) -> None:
    """Record (or replace) a persistent fault, inside the caller's write transaction."""
    if not key.startswith(FAULT_PREFIX):
        raise ValueError(f"fault keys start with {FAULT_PREFIX!r}: {key!r}")
    value = json.dumps(detail, separators=(",", ":"), default=str)
    connection.execute(delete(meta).where(meta.c.key == key))
    connection.execute(meta.insert().values(key=key, value=value))


def active_faults(source: Engine | Connection) -> list[PersistentFault]:
    """Every persistent fault recorded in the database, by key."""
    # Read as bytes: a record with damaged bytes is still a fault to show, not a crash.
    query = select(meta.c.key, cast(meta.c.value, LargeBinary))
    query = query.where(meta.c.key.startswith(FAULT_PREFIX)).order_by(meta.c.key)
    if isinstance(source, Engine):
        with source.connect() as connection:
            rows = connection.execute(query).all()
    else:
        rows = source.execute(query).all()
    return [PersistentFault(key, _fault_detail(key, bytes(value))) for key, value in rows]


def _fault_detail(key: str, value: bytes) -> dict[str, Any]:
    try:
        detail = json.loads(value)
    except ValueError:
        detail = None
    if not isinstance(detail, dict):
        return {"message": f"{key.removeprefix(FAULT_PREFIX)}: its stored record is damaged"}
    return detail


def clear_persistent_fault(engine: Engine, key: str) -> bool:
    """Clear a persistent fault (an operator acknowledged it). True if it was active.

    The caller logs the clearing as an event (who cleared it) through the writer.
    """
    with immediate(engine) as connection:
        result = connection.execute(delete(meta).where(meta.c.key == key))
        return bool(result.rowcount)
