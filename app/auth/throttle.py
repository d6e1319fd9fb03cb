"""Login throttling: failures counted per key (an account, an address), in auth.db.

An attempt is **reserved before** the password is checked: in one transaction it is
refused if any of its keys is blocked, or else counted as a failure at once (a
success then clears its keys). So parallel attempts cannot all slip past the
count while their password hashes are being checked: once a key has
``FREE_FAILURES`` failures, the next attempt blocks it and every later one is
refused at once, however many arrive together.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

US = 1_000_000
FREE_FAILURES = 5  # failed attempts per key before throttling starts
FAILURE_WINDOW_US = 15 * 60 * US  # failures older than this are forgotten
MAX_BLOCK_US = 15 * 60 * US


@dataclass(frozen=True)
class Attempt:
    """The answer to :func:`reserve`: go ahead (``wait_us`` 0) or wait."""

    wait_us: int
    #: the keys that refused it, each with the end of its block (UTC microseconds)
    blocked: dict[str, int] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.wait_us == 0


def block_for(failures: int) -> int:
    """How long a key with ``failures`` failures is blocked (microseconds).

    >>> [block_for(n) // US for n in (5, 6, 7, 8, 20)]
    [0, 1, 2, 4, 900]
    """
    if failures <= FREE_FAILURES:
        return 0
    return min(US << min(failures - FREE_FAILURES - 1, 40), MAX_BLOCK_US)


def reserve(db: sqlite3.Connection, keys: list[str], now: int) -> Attempt:
    """Refuse the attempt if a key is blocked; else count it as a failure under
    every key. Call inside a ``BEGIN IMMEDIATE`` transaction."""
    rows = {
        str(key): (int(failures), int(first), int(until))
        for key, failures, first, until in db.execute(
            "SELECT key, failures, first_us, blocked_until_us FROM throttle"
            f" WHERE key IN ({','.join('?' * len(keys))})",
            keys,
        )
    }
    blocked = {key: until for key, (_, _, until) in rows.items() if until > now}
    if blocked:
        return Attempt(max(blocked.values()) - now, blocked)
    for key in keys:
        failures, first, until = rows.get(key, (0, now, 0))
        if now - first > FAILURE_WINDOW_US and now >= until:
            failures, first = 0, now  # an old run of failures is forgiven
        failures += 1
        db.execute(
            "INSERT INTO throttle (key, failures, first_us, blocked_until_us)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
            " failures = excluded.failures, first_us = excluded.first_us,"
            " blocked_until_us = excluded.blocked_until_us",
            (key, failures, first, now + block_for(failures)),
        )
    return Attempt(0)


def clear(db: sqlite3.Connection, keys: list[str]) -> None:
    """A success: forget the keys' failures (the reserved attempt among them)."""
    db.executemany("DELETE FROM throttle WHERE key = ?", [(k,) for k in keys])
