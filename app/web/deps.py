"""What every route needs, set up once by the app factory and found on ``app.state``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from app.auth.store import AuthStore
from app.io.protocol import Client
from app.settings import Settings
from app.web.errors import ApiError, NotFoundError
from app.web.live import LiveFeed
from app.web.models import Status, status_from_io


@dataclass
class WebState:
    settings: Settings
    client: Client
    db: Engine
    feed: LiveFeed
    templates: Jinja2Templates
    auth: AuthStore
    config_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def io(self, cmd: str, **args: Any) -> Any:
        """Ask the io process (in a worker thread: the client blocks)."""
        return await asyncio.to_thread(self.client.request, cmd, **args)

    async def status(self) -> Status:
        return status_from_io(await self.io("status"))

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


def check_number(noun: str, n: int, count: int) -> None:
    """A 404 that says what exists, unless 1 <= ``n`` <= ``count``."""
    if not 1 <= n <= count:
        raise NotFoundError(f"{noun} {n} does not exist: this board has {noun}s 1-{count}")
