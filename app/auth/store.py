"""``auth.db``: users, sessions, API tokens and login throttling.

Only the web process writes it (the io process never opens it), so it needs no
coordination with the event log's writer. Secrets are stored hashed: passwords
with argon2id, session ids and tokens (random, 256 bits) with SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.auth import throttle
from app.auth.throttle import Attempt
from app.clock import Clock, SystemClock
from app.sqlite import set_up

SCHEMA_VERSION = 1
US = 1_000_000
TOUCH_EVERY_US = 60 * US  # a session's last-seen time is written at most this often

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    password_changed_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    seen_us INTEGER NOT NULL,
    address TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    last_used_us INTEGER,
    revoked_us INTEGER
);
CREATE TABLE IF NOT EXISTS throttle (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    first_us INTEGER NOT NULL,
    blocked_until_us INTEGER NOT NULL
);
"""


class Role(StrEnum):
    VIEWER = "viewer"  # reads everything
    OPERATOR = "operator"  # and starts, stops and triggers outputs
    ADMIN = "admin"  # and changes the configuration, users and tokens

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class AuthError(ValueError):
    """A request about accounts that cannot be done; the message says why."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    password_hash: str
    created_us: int
    password_changed_us: int


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    created_us: int
    seen_us: int


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    role: Role
    prefix: str
    created_by: str  # the user who made it
    created_us: int
    last_used_us: int | None
    revoked_us: int | None
    maker_role: Role | None = None  # its maker's role now (None: the maker is gone)

    @property
    def effective_role(self) -> Role | None:
        """What it may do: its role, capped at its maker's current role (None:
        nothing, its maker is gone)."""
        if self.maker_role is None:
            return None
        return self.role if self.maker_role.allows(self.role) else self.maker_role


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


TOKEN_PREFIX = "abt_"


class AuthStore:
    """Every read and write of ``auth.db``. Thread-safe (one connection, a lock):
    the web process calls it from worker threads."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock | None = None,
        idle_us: int = 30 * 60 * US,
        max_age_us: int = 12 * 3600 * US,
    ) -> None:
        self.path = path
        self.clock = clock or SystemClock()
        self.idle_us = idle_us
        self.max_age_us = max_age_us
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        set_up(self._db)
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise AuthError(
                f"{path} is from a newer AlarmBridge (schema {version}): update the software"
            )
        self._db.executescript(SCHEMA)  # idempotent; runs in its own transaction
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def now(self) -> int:
        return self.clock.utc_us()

    # -- users ----------------------------------------------------------------

    @staticmethod
    def _user(row: tuple[Any, ...]) -> User:
        id_, name, role, password_hash, created, changed = row
        return User(
            int(id_),
            str(name),
            Role(str(role)),
            str(password_hash),
            int(created),
            int(changed),
        )

    _USER = "SELECT id, name, role, password_hash, created_us, password_changed_us FROM users"

    def has_users(self) -> bool:
        return bool(self._read("SELECT 1 FROM users LIMIT 1"))

    def user(self, name: str) -> User | None:
        rows = self._read(f"{self._USER} WHERE name = ?", name)
        return self._user(rows[0]) if rows else None

    def users(self) -> list[User]:
        return [self._user(r) for r in self._read(f"{self._USER} ORDER BY name")]

    def create_first_admin(self, name: str, password_hash: str) -> User | None:
        """The first account, an admin, only if there is no account at all (one
        transaction: of two concurrent setups, exactly one succeeds)."""
        now = self.now()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO users (name, role, password_hash, created_us, password_changed_us)"
                " SELECT ?, 'admin', ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM users)",
                (name, password_hash, now, now),
            )
            if cursor.rowcount != 1:
                return None
        return self.user(name)

    def add_user(self, name: str, role: Role, password_hash: str) -> User:
        now = self.now()
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO users (name, role, password_hash, created_us,"
                    " password_changed_us) VALUES (?, ?, ?, ?, ?)",
                    (name, str(role), password_hash, now, now),
                )
        except sqlite3.IntegrityError:
            raise AuthError(f"a user named {name!r} exists already") from None
        user = self.user(name)
        assert user is not None
        return user

    def _admins(self, db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT count(*) FROM users WHERE role = 'admin'").fetchone()[0])

    def set_role(self, name: str, role: Role) -> User:
        with self._write() as db:
            current = db.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
            if current is None:
                raise AuthError(f"there is no user {name!r}")
            if current[0] == "admin" and role is not Role.ADMIN and self._admins(db) == 1:
                raise AuthError(f"{name} is the only admin: make another user admin first")
            db.execute("UPDATE users SET role = ? WHERE name = ?", (str(role), name))
            # a changed role takes effect at once: end the user's sessions
            db.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)",
                (name,),
            )
        user = self.user(name)
        assert user is not None
        return user

    def set_password(self, name: str, password_hash: str) -> None:
        """A new password, and every session of the user ends."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE users SET password_hash = ?, password_changed_us = ? WHERE name = ?",
                (password_hash, self.now(), name),
            )
            if cursor.rowcount != 1:
                raise AuthError(f"there is no user {name!r}")
            db.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)",
                (name,),
            )

    def remove_user(self, name: str) -> None:
        """Remove a user: their sessions end and the API tokens they made are revoked."""
        with self._write() as db:
            current = db.execute("SELECT name, role FROM users WHERE name = ?", (name,)).fetchone()
            if current is None:
                raise AuthError(f"there is no user {name!r}")
            if current[1] == "admin" and self._admins(db) == 1:
                raise AuthError(f"{name} is the only admin and cannot be removed")
            db.execute("DELETE FROM users WHERE name = ?", (name,))
            db.execute(
                "UPDATE tokens SET revoked_us = ? WHERE created_by = ? COLLATE NOCASE"
                " AND revoked_us IS NULL",
                (self.now(), current[0]),
            )

    # -- sessions -------------------------------------------------------------

    def new_session(self, user: User, address: str) -> tuple[str, str]:
        """A new session for ``user``: (its id for the cookie, its CSRF token)."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.now()
        with self._write() as db:
            db.execute(
                "INSERT INTO sessions (id_hash, user_id, csrf, created_us, seen_us, address)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (digest(session_id), user.id, csrf, now, now, address[:64]),
            )
            # forget sessions that have expired, so the table stays small
            db.execute(
                "DELETE FROM sessions WHERE seen_us < ? OR created_us < ?",
                (now - self.idle_us, now - self.max_age_us),
            )
        return session_id, csrf

    def session(self, session_id: str, *, touch: bool = True) -> Session | None:
        """The live session with this id (None: unknown, ended or expired).
        ``touch=False`` looks without counting as use (a live stream's re-check
        must not keep an idle session alive)."""
        key = digest(session_id)
        rows = self._read(
            "SELECT s.csrf, s.created_us, s.seen_us, u.id, u.name, u.role, u.password_hash,"
            " u.created_us, u.password_changed_us"
            " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
            key,
        )
        if not rows:
            return None
        csrf, created, seen, *user_row = rows[0]
        now = self.now()
        created_us, seen_us = int(created), int(seen)
        if now - seen_us > self.idle_us or now - created_us > self.max_age_us:
            self.end_session(session_id)
            return None
        if touch and now - seen_us > TOUCH_EVERY_US:
            with self._write() as db:
                db.execute("UPDATE sessions SET seen_us = ? WHERE id_hash = ?", (now, key))
            seen_us = now
        return Session(self._user(tuple(user_row)), str(csrf), created_us, seen_us)

    def end_session(self, session_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", (digest(session_id),))

    def sessions_of(self, name: str) -> int:
        rows = self._read(
            "SELECT count(*) FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)",
            name,
        )
        return int(rows[0][0])

    # -- API tokens -----------------------------------------------------------

    _TOKEN = (
        "SELECT t.id, t.name, t.role, t.prefix, t.created_by, t.created_us, t.last_used_us,"
        " t.revoked_us, u.role FROM tokens t LEFT JOIN users u ON u.name = t.created_by"
    )

    @staticmethod
    def _token(row: tuple[Any, ...]) -> Token:
        id_, name, role, prefix, by, created, used, revoked, maker_role = row
        return Token(
            int(id_),
            str(name),
            Role(str(role)),
            str(prefix),
            str(by),
            int(created),
            None if used is None else int(used),
            None if revoked is None else int(revoked),
            None if maker_role is None else Role(str(maker_role)),
        )

    def new_token(
        self, name: str, role: Role, created_by: str, secret: str | None = None
    ) -> tuple[str, Token]:
        """A new token: (the secret, shown once; its record). ``secret``: provision
        one made elsewhere (at least 32 random characters after the prefix)."""
        if secret is None:
            secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        elif not secret.startswith(TOKEN_PREFIX) or len(secret) < len(TOKEN_PREFIX) + 32:
            raise AuthError(f"a token starts with {TOKEN_PREFIX} and has 32 characters more")
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO tokens (name, role, token_hash, prefix, created_by, created_us)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, str(role), digest(secret), secret[:10], created_by, self.now()),
            )
            token_id = cursor.lastrowid
        return secret, self._token(self._read(f"{self._TOKEN} WHERE t.id = ?", token_id)[0])

    def token(self, secret: str, *, touch: bool = True) -> Token | None:
        """The live token with this secret (None: unknown, revoked, or its maker
        is gone). Its ``effective_role`` is what it may do."""
        key = digest(secret)
        rows = self._read(f"{self._TOKEN} WHERE t.token_hash = ? AND t.revoked_us IS NULL", key)
        if not rows:
            return None
        token = self._token(rows[0])
        if token.effective_role is None:
            return None
        now = self.now()
        if not touch:
            return token
        if token.last_used_us is None or now - token.last_used_us > TOUCH_EVERY_US:
            with self._write() as db:
                db.execute("UPDATE tokens SET last_used_us = ? WHERE id = ?", (now, token.id))
        return token

    def tokens(self) -> list[Token]:
        return [self._token(r) for r in self._read(f"{self._TOKEN} ORDER BY t.id")]

    def revoke_token(self, token_id: int) -> Token:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE tokens SET revoked_us = ? WHERE id = ? AND revoked_us IS NULL",
                (self.now(), token_id),
            )
            if cursor.rowcount != 1:
                raise AuthError(f"there is no live token {token_id}")
        return self._token(self._read(f"{self._TOKEN} WHERE t.id = ?", token_id)[0])

    # -- throttling (app/auth/throttle.py) --------------------------------------

    def attempt(self, keys: list[str]) -> Attempt:
        """Reserve a login (or setup) attempt under ``keys`` before checking it:
        refused while any key is blocked, else counted as a failure until
        :meth:`succeeded` clears it."""
        with self._write() as db:
            return throttle.reserve(db, keys, self.now())

    def succeeded(self, keys: list[str]) -> None:
        with self._write() as db:
            throttle.clear(db, keys)
