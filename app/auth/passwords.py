"""Passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's second choice),
a minimum length and a short list of common passwords refused."""

from __future__ import annotations

import functools
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256  # hashing is deliberately slow: no megabyte passwords

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4


@functools.cache
def _common() -> frozenset[str]:
    text = resources.files("app.auth").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def problems(password: str, name: str = "") -> list[str]:
    """Why ``password`` is refused for user ``name`` (empty: it is fine).

    >>> problems("short")
    ['a password needs at least 12 characters (this one has 5)']
    >>> problems("Password1234")
    ['this password is on the list of common passwords: choose another']
    >>> problems("a long enough one")
    []
    """
    found = []
    if len(password) < MIN_LENGTH:
        found.append(
            f"a password needs at least {MIN_LENGTH} characters (this one has {len(password)})"
        )
    elif len(password) > MAX_LENGTH:
        found.append(f"a password can have at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in _common():
        found.append("this password is on the list of common passwords: choose another")
    elif name and name.lower() in lowered:
        found.append("a password must not contain the user's name")
    return found


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


#: verified against when a user does not exist, so a wrong name costs the same time:
#: the hash of a random password nobody kept, made once with the hasher's parameters
#: (a test checks they still are). A literal, not made at import: a hash takes a few
#: hundred milliseconds and 64 MiB, which the web process's start need not pay.
DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$Hozp9dT+16d8soJpPSLrUA$83g/y3Vu+tPeI+lgDYFCy/nTdYUTL48nsdILgUO95Is"  # noqa: E501


def dummy_hash() -> str:
    """:data:`DUMMY_HASH` (what a login for an unknown user is verified against)."""
    return DUMMY_HASH
