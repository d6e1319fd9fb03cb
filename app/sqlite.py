"""How every SQLite connection of the appliance is set up (the event log's and the
accounts'), in one place: write-ahead logging, ``synchronous=FULL`` (NORMAL can
lose the last commits on a power cut), a 5 s busy timeout, foreign keys on, and
pysqlite's own transaction handling off (the callers emit ``BEGIN`` themselves)."""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


def set_up(connection: sqlite3.Connection, *, read_only: bool = False) -> None:
    """Apply the pragmas to a new connection. ``read_only``: a reader that may not
    set the journal mode (the writer has), and never writes (``query_only``)."""
    connection.isolation_level = None
    cursor = connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if read_only:
            cursor.execute("PRAGMA query_only = ON")
            return
        mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("sqlite: journal_mode is %s, not wal", mode)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
