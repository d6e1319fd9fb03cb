"""The one-time setup code: until the first admin exists, claiming the appliance
needs it, and only someone with the device can read it (the web process prints
it at start; ``alarmbridge setup-code`` prints it; it is kept in a file only the
service's user can read, and the SD image copies it to the boot partition)."""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from pathlib import Path

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand
GROUPS, GROUP = 4, 4  # 16 characters: 80 bits


def code_path(data_dir: Path) -> Path:
    return data_dir / "setup-code"


def normalise(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


def new_code() -> str:
    """
    >>> code = new_code()
    >>> len(code), code.count("-")
    (19, 3)
    """
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP))
    return "-".join(raw[i : i + GROUP] for i in range(0, len(raw), GROUP))


def ensure(data_dir: Path) -> str:
    """The current setup code, made (and stored, readable by this user only) if
    there is none yet."""
    path = code_path(data_dir)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    code = new_code()
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(code + "\n")
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(temp, path)  # never replaces a code another process wrote meanwhile
    except FileExistsError:
        pass
    finally:
        temp.unlink(missing_ok=True)
    return path.read_text().strip()


def matches(data_dir: Path, typed: str) -> bool:
    """Whether ``typed`` is the setup code (dashes, spaces and case do not matter)."""
    try:
        expected = code_path(data_dir).read_text().strip()
    except FileNotFoundError:
        return False
    return hmac.compare_digest(normalise(expected).encode(), normalise(typed).encode())


def close(data_dir: Path) -> None:
    """Setup is done: the code is gone for good."""
    with contextlib.suppress(FileNotFoundError):
        code_path(data_dir).unlink()


def current(auth_db: Path, data_dir: Path) -> str | None:
    """The setup code (made if there is none yet), or None once an admin exists
    (and then the code file is gone too)."""
    from app.auth.store import AuthStore

    store = AuthStore(auth_db)
    try:
        if store.has_users():
            close(data_dir)
            return None
        return ensure(data_dir)
    finally:
        store.close()
