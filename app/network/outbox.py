"""The network process's own SQLite file (``network.db``): one cursor per destination.

The event log is the outbox: nothing is copied out of it. What this file keeps, per
destination, is the last seq the destination acknowledged (and when), the last error,
and the events it can no longer get (removed by the log's retention before it took
them: ``lost``). A cursor only moves forward when the peer has taken a batch, in the
same transaction as its time, so a crash (kill -9, power cut) at any point resends at
most the batch in flight: at least once, never a gap.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from app.sqlite import set_up

SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,            -- the last seq acknowledged (or skipped by filter)
    delivered_us INTEGER,            -- when the last batch was acknowledged (UTC us)
    delivered_seq INTEGER,           -- the last seq actually sent and acknowledged
    error TEXT,                      -- the last error, NULL once a batch got through
    error_us INTEGER,
    lost_from INTEGER,               -- the last range the log removed before delivery
    lost_to INTEGER,
    lost_total INTEGER NOT NULL DEFAULT 0,
    created_us INTEGER NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Cursor:
    name: str
    seq: int
    delivered_us: int | None
    delivered_seq: int | None
    error: str | None
    error_us: int | None
    lost_from: int | None
    lost_to: int | None
    lost_total: int


def _now_us() -> int:
    return time.time_ns() // 1000


class Outbox:
    """The cursors, in ``path`` (made on first use). One connection, one thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False)
        set_up(self._db)
        self._db.execute(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def find(self, name: str) -> Cursor | None:
        """``name``'s cursor, None if it has none yet (this never makes one)."""
        row = self._db.execute(
            "SELECT name, seq, delivered_us, delivered_seq, error, error_us, lost_from, "
            "lost_to, lost_total FROM cursors WHERE name = ?",
            (name,),
        ).fetchone()
        return None if row is None else Cursor(*row)

    def cursor(self, name: str, *, start_at: int) -> Cursor:
        """``name``'s cursor; a new destination starts at ``start_at`` (the log's end:
        it gets what happens from now on; 'replay' sends older events). Only the
        delivery loop makes a cursor, once it knows where to start: a cursor made is
        kept, whatever ``start_at`` a later call gives."""
        self._db.execute(
            "INSERT OR IGNORE INTO cursors (name, seq, created_us) VALUES (?, ?, ?)",
            (name, start_at, _now_us()),
        )
        found = self.find(name)
        assert found is not None
        return found

    def advance(self, name: str, seq: int, *, delivered_seq: int | None) -> None:
        """The peer took everything up to ``seq`` (``delivered_seq``: the last one it was
        actually sent, None when the batch was all filtered out)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if delivered_seq is None:
                self._db.execute("UPDATE cursors SET seq = max(seq, ?) WHERE name = ?", (seq, name))
            else:
                self._db.execute(
                    "UPDATE cursors SET seq = max(seq, ?), delivered_seq = ?, delivered_us = ?, "
                    "error = NULL, error_us = NULL WHERE name = ?",
                    (seq, delivered_seq, _now_us(), name),
                )

    def failed(self, name: str, error: str) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "UPDATE cursors SET error = ?, error_us = ? WHERE name = ?",
                (error[:500], _now_us(), name),
            )

    def lost(self, name: str, first: int, last: int) -> None:
        """Events ``first..last`` were removed from the log before ``name`` got them:
        recorded, and the cursor moves past them."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "UPDATE cursors SET lost_from = ?, lost_to = ?, "
                "lost_total = lost_total + ?, seq = max(seq, ?) WHERE name = ?",
                (first, last, last - first + 1, last, name),
            )

    def rewind(self, name: str, seq: int) -> None:
        """Send again from after ``seq`` (the 'replay from' action)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE cursors SET seq = ? WHERE name = ?", (seq, name))

    def forget(self, name: str) -> None:
        """Drop ``name``'s cursor (a destination removed from the settings): one added
        later under that name starts at the log's end, like any new destination."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM cursors WHERE name = ?", (name,))
