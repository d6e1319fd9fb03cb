"""The app factory: ``create_app(settings)`` wires everything through the lifespan.

No import-time state: tests build as many apps as they like, each with its own
data directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.pool import NullPool

from app import __version__
from app.eventlog.database import make_engine
from app.io.protocol import Client
from app.settings import Settings
from app.web import api, errors, pages
from app.web.deps import WebState
from app.web.live import LiveFeed

HERE = Path(__file__).parent

DESCRIPTION = """The AlarmBridge JSON API: live status, configuration, manual start and
stop, the event log (pages, exports, a live stream of server-sent events) and, on
simulated pins, the simulation controls. Errors are JSON: `{"error": "...",
"problems": [{"field": ..., "message": ...}]}`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    templates = pages.make_templates(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # NullPool: each read opens the file afresh, so a database the io process
        # has recovered (moved aside and recreated) is seen at once.
        db = make_engine(settings.db_path, must_exist=True, poolclass=NullPool)
        client = Client(settings.socket_path, timeout=5.0)
        feed = LiveFeed(client, db, settings.db_path)
        app.state.web = WebState(settings, client, db, feed, templates)
        await feed.start()
        try:
            yield
        finally:
            await feed.stop()
            db.dispose()

    app = FastAPI(
        title="AlarmBridge",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # our own /docs page: Swagger UI needs a CDN a LAN appliance lacks
        redoc_url=None,
    )
    errors.install(app, templates)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


__all__ = ["create_app"]
