"""Checking a password at the door, for the login API and the login form alike.

An argon2id check costs 64 MiB and about 0.1 s on a Pi 4, so an anonymous client
must not be able to start many at once. Two limits, both before any hashing:

* ``HashSlots`` (deps.py): at most ``HASH_SLOTS`` hashes at a time in the web process.
  An anonymous request that finds them all busy is refused at once (429), never
  queued; a logged-in admin's request (a new user, a password reset) waits.
* the throttle (app/auth/throttle.py): the attempt is reserved in auth.db first,
  so a burst of parallel guesses is counted as it arrives, not after its hashes.
"""

from __future__ import annotations

import asyncio

from app.auth import passwords
from app.auth.store import User
from app.web.audit import audit
from app.web.deps import WebState
from app.web.errors import ApiError
from app.web.security import AccessError


def throttled(wait_us: int) -> ApiError:
    seconds = max(1, -(-wait_us // 1_000_000))
    error = ApiError(f"too many failed attempts: try again in {seconds} s", status=429)
    error.headers = {"Retry-After": str(seconds)}
    return error


async def check_login(state: WebState, name: str, password: str, address: str) -> User:
    """The user, if ``password`` is theirs; else 401 (wrong), 429 (throttled or
    busy). Every failure is logged; refusals are counted (app/web/audit.py)."""
    store = state.auth
    keys = [f"user:{name.lower()}", f"address:{address}"]
    async with state.hashing.slot(wait=False):
        attempt = await asyncio.to_thread(store.attempt, keys)
        if not attempt.allowed:
            state.throttle_report.refused(attempt.blocked, address)
            raise throttled(attempt.wait_us)
        user = await asyncio.to_thread(store.user, name)
        stored = user.password_hash if user is not None else passwords.dummy_hash()
        good = await asyncio.to_thread(passwords.verify, stored, password)
    if user is None or not good:
        await audit(state.io, "login-failed", name, address)
        raise AccessError("wrong user name or password", 401)
    await asyncio.to_thread(store.succeeded, keys)
    await audit(state.io, "login", user.name, address)
    return user
