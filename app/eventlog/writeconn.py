"""The writer's connection: opened lazily, reopened after an I/O error, and sized
for the disk it is on.

Kept apart from :mod:`app.eventlog.writer` (which decides *what* to commit and
*when*): this module knows how the one write connection is held, how a failed
write is classified (disk full or I/O error), how the write-ahead log is kept to
a share of the free space, and the ``max_page_count`` cap used by fault drills.
Everything here except :meth:`WriterConnection.set_max_page_count` runs on the
writer thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from sqlalchemy import Connection, Engine

from app.eventlog.database import use_immediate

log = logging.getLogger(__name__)

WAL_MIN_PAGES = 16
WAL_MAX_PAGES = 1000  # SQLite's default
WAL_TUNE_INTERVAL_S = 1.0  # statvfs is cheap; the budget follows the free space
_SQLITE_FULL = 13
DISK_FULL = "disk-full"
IO_ERROR = "io-error"


def file_size(path: Path) -> int:
    """The size of ``path`` in bytes, 0 if it does not exist."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def classify(exc: BaseException) -> tuple[str, str]:
    """The fault code ("disk-full" or "io-error") and message for a failed write."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlite_errorcode", None)
    message = str(orig) or type(orig).__name__
    if (code is not None and code & 0xFF == _SQLITE_FULL) or "disk is full" in message:
        return DISK_FULL, message
    return IO_ERROR, f"{type(orig).__name__}: {message}"


class WriterConnection:
    """The event log's one write connection (``BEGIN IMMEDIATE``), on the writer thread."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._max_pages: int | None = None  # guarded by _lock
        self._pages_changed = False  # guarded by _lock
        # Writer thread only:
        self._conn: Connection | None = None
        self._default_max_pages = 0
        self._next_tune = 0.0
        self._wal: Path | None = None

    @property
    def is_open(self) -> bool:
        """Whether the connection is open now."""
        return self._conn is not None

    def set_max_page_count(self, pages: int | None) -> None:
        """Cap the database size (``PRAGMA max_page_count``) before the next write;
        None restores the default. Any thread."""
        with self._lock:
            self._max_pages = pages
            self._pages_changed = True

    def get(self) -> Connection:
        """The connection, opened (and its cap applied) if need be."""
        if self._conn is None:
            self._conn = use_immediate(self._engine.connect())
            self._default_max_pages = self.pragma("PRAGMA max_page_count")
            with self._lock:
                self._pages_changed = self._max_pages is not None
            self.tune_wal()
        with self._lock:
            changed, pages = self._pages_changed, self._max_pages
            self._pages_changed = False
        if changed:
            limit = self._default_max_pages if pages is None else int(pages)
            self.pragma(f"PRAGMA max_page_count = {limit}")
        return self._conn

    def pragma(self, sql: str) -> int:
        """Run a PRAGMA outside any transaction (SQLAlchemy would BEGIN first)."""
        return int(self._pragma_text(sql))

    def _pragma_text(self, sql: str, column: int = 0) -> str:
        assert self._conn is not None
        raw = self._conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            return str(cursor.execute(sql).fetchone()[column])
        finally:
            cursor.close()

    def close(self) -> None:
        """Close the connection (the next :meth:`get` opens a new one)."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.warning("event log: closing the writer's connection failed", exc_info=True)
            self._conn = None

    def reset_after_failure(self, *, keep: bool) -> None:
        """Roll back after a failed write; close unless ``keep`` (and still usable)."""
        connection = self._conn
        if connection is None:
            return
        try:
            connection.rollback()
        except Exception:
            keep = False
        if not keep or connection.invalidated:
            self.close()  # an I/O error may need a fresh connection (and file handle)

    def checkpoint(self) -> bool:
        """Fold the write-ahead log into the database and truncate it (after a write
        failed for space). True if that freed space."""
        if self._wal is None:
            return False
        before = file_size(self._wal)
        try:
            self.get()
            busy = self.pragma("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception:
            log.warning("event log: checkpoint to make room failed", exc_info=True)
            self.reset_after_failure(keep=True)
            return False
        freed = before - file_size(self._wal)
        if freed > 0:
            log.warning("event log: disk full; the write-ahead log was cut by %d bytes", freed)
        return not busy and freed > 0

    def tune_if_due(self) -> None:
        """:meth:`tune_wal` at most every ``WAL_TUNE_INTERVAL_S`` (after a commit)."""
        if time.monotonic() >= self._next_tune and self._conn is not None:
            try:
                self.tune_wal()
            except Exception:
                log.warning("event log: sizing the write-ahead log failed", exc_info=True)

    def tune_wal(self) -> None:
        """Keep the write-ahead log to an eighth of the space it may use, so that on a
        small disk it cannot fill it (SQLite's default lets it grow to 4 MB first)."""
        assert self._conn is not None
        if self._wal is None:
            name = self._pragma_text("PRAGMA database_list", column=2)
            self._wal = Path(name + "-wal") if name else None
        if self._wal is None:
            return
        try:
            disk = os.statvfs(self._wal.parent)
        except OSError:
            return
        page = self.pragma("PRAGMA page_size")
        room = disk.f_bavail * disk.f_frsize + file_size(self._wal)
        pages = max(WAL_MIN_PAGES, min(WAL_MAX_PAGES, room // 8 // page))
        self.pragma(f"PRAGMA wal_autocheckpoint = {pages}")
        self.pragma(f"PRAGMA journal_size_limit = {pages * page}")
        self._next_tune = time.monotonic() + WAL_TUNE_INTERVAL_S
