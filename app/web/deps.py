"""What every route needs, set up once by the app factory and found on ``app.state``."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from pydantic import BeforeValidator
from sqlalchemy import Engine

from app.auth.store import AuthStore
from app.eventlog.readers import ThreadReaders
from app.io.commands import Command, GetStatus, R
from app.io.protocol import Client
from app.settings import Settings
from app.web.audit import ThrottleReport
from app.web.errors import ApiError, NotFoundError
from app.web.live import LiveFeed
from app.web.models import Status, status_from_io

HASH_SLOTS = 2  # argon2id: 64 MiB each


class HashSlots:
    """A bound on concurrent password hashes (thread-safe: hashes run in threads)."""

    def __init__(self, size: int = HASH_SLOTS) -> None:
        self.size = size
        self._free = threading.BoundedSemaphore(size)

    def take(self) -> bool:
        """A slot if one is free now (False: none)."""
        return self._free.acquire(blocking=False)

    def give_back(self) -> None:
        self._free.release()

    @asynccontextmanager
    async def slot(self, *, wait: bool) -> AsyncIterator[None]:
        """Hold a slot for the block; without ``wait``, 429 at once if none is free."""
        while not self.take():
            if not wait:
                error = ApiError(
                    "the appliance is busy checking other logins: try again", status=429
                )
                error.headers = {"Retry-After": "1"}
                raise error
            await asyncio.sleep(0.05)  # cancellable, unlike a thread blocked on the semaphore
        try:
            yield
        finally:
            self.give_back()


@dataclass
class WebState:
    settings: Settings
    client: Client
    db: Engine
    feed: LiveFeed
    templates: Jinja2Templates
    auth: AuthStore
    readers: ThreadReaders  # the event log, one read connection per worker thread
    config_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    hashing: HashSlots = field(default_factory=HashSlots)
    throttle_report: ThrottleReport = field(init=False)

    def __post_init__(self) -> None:
        self.throttle_report = ThrottleReport(self.io, self.auth.now)

    async def io(self, command: Command[R]) -> R:
        """Send ``command`` to the io process (in a worker thread: the client blocks)."""
        return await asyncio.to_thread(self.client.send, command)

    async def status(self) -> Status:
        return status_from_io(await self.io(GetStatus()))

    def read_db(self) -> Engine:
        """The event log for reading; a clear 503 before the io process has made it."""
        if not self.settings.db_path.exists():
            raise ApiError(
                "there is no event log yet: the io process creates it when it first starts",
                status=503,
            )
        return self.db


def get_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


State = Annotated[WebState, Depends(get_state)]


def _plain_digits(value: object) -> object:
    """A number in a path or query as plain digits: not "3\\n", " 3", "+3", "3.0" or "03"."""
    if isinstance(value, str) and not re.fullmatch(r"0|[1-9][0-9]{0,18}", value):
        raise ValueError("must be a whole number written in plain digits")
    return value


#: an integer in a URL (path or query), strictly: plain digits only
WholeNumber = Annotated[int, BeforeValidator(_plain_digits)]


def _true_or_false(value: object) -> object:
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("must be true or false")
    return value


#: a switch in a URL's query, strictly: ``true`` or ``false`` (not yes, on, 1...)
Switch = Annotated[bool, BeforeValidator(_true_or_false)]


def check_number(noun: str, n: int, count: int) -> None:
    """A 404 that says what exists, unless 1 <= ``n`` <= ``count``."""
    if not 1 <= n <= count:
        raise NotFoundError(f"{noun} {n} does not exist: this board has {noun}s 1-{count}")
