"""One read connection per thread, kept open between reads, for a process that
reads the event log often (the web process's worker threads).

Opening the SQLite file costs more than a small query on it (the pragmas, the
schema read, the ``-shm`` mapping), so each thread keeps its connection. Two
things make that safe:

- Each read is its own transaction, rolled back when the read is done: no
  connection holds a snapshot between reads, so the writer's checkpoints go on.
- The file's identity (``st_dev``, ``st_ino``) is checked before every read and
  the connection reopened when it changed: a log the io process has recovered
  (the damaged file moved aside, a new one renamed into place, ADR 0003) is seen
  by the next read, as with a fresh connection per read.

A connection on which the database failed is closed and reopened on the thread's
next read; any other error in the caller (a bad cursor, say) only ends the read.
Connections of threads that have ended are closed when another thread opens one,
and all of them by :meth:`ThreadReaders.close`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

Identity = tuple[int, int]


def file_identity(path: Path) -> Identity | None:
    """``(st_dev, st_ino)`` of ``path``; None if it does not exist (or cannot be read)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


class _Held:
    __slots__ = ("connection", "identity", "thread")

    def __init__(self, connection: Connection, identity: Identity | None) -> None:
        self.connection = connection
        self.identity = identity
        self.thread = weakref.ref(threading.current_thread())


class ThreadReaders:
    """Per-thread read connections to the event log at ``path``, made by ``engine``
    (an engine whose connections may be closed from another thread: pysqlite's
    default for a file)."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[_Held] = []  # guarded by _lock
        self._closed = False  # guarded by _lock

    @property
    def open_count(self) -> int:
        """How many connections are held now (every thread's)."""
        with self._lock:
            return len(self._all)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """This thread's connection, for one read (its transaction ends with the block)."""
        identity = file_identity(self.path)
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and (held.identity != identity or held.connection.invalidated):
            self._drop(held)  # the file was replaced (a recovered log), or the link broke
            held = None
        current = self._open(identity) if held is None else held
        try:
            yield current.connection
        except (SQLAlchemyError, sqlite3.Error):  # the database failed: a fresh connection
            self._drop(current)
            raise
        finally:
            if getattr(self._local, "held", None) is current:  # (not dropped above)
                self._end_read(current)

    def _end_read(self, held: _Held) -> None:
        try:
            held.connection.rollback()  # end the read: no snapshot kept between reads
        except Exception:
            log.warning("event log: ending a read failed; reopening", exc_info=True)
            self._drop(held)

    def _open(self, identity: Identity | None) -> _Held:
        with self._lock:
            if self._closed:
                raise RuntimeError("the event log's readers are closed")
            ended = [h for h in self._all if not _alive(h)]
            self._all = [h for h in self._all if _alive(h)]
        for old in ended:
            _close(old)
        # The identity was read before the file is opened: if the file is replaced in
        # between, the next read sees a different identity and opens it again.
        held = _Held(self.engine.connect(), identity)
        with self._lock:
            self._all.append(held)
        self._local.held = held
        return held

    def _drop(self, held: _Held) -> None:
        if getattr(self._local, "held", None) is held:
            del self._local.held
        with self._lock:
            if held in self._all:
                self._all.remove(held)
        _close(held)

    def close(self) -> None:
        """Close every thread's connection; reads after this raise."""
        with self._lock:
            self._closed = True
            held, self._all = self._all, []
        for one in held:
            _close(one)


def _alive(held: _Held) -> bool:
    thread = held.thread()
    return thread is not None and thread.is_alive()


def _close(held: _Held) -> None:
    try:
        held.connection.invalidate()  # discarded, never back in a pool: it may be stale
        held.connection.close()
    except Exception:
        log.warning("event log: closing a read connection failed", exc_info=True)
