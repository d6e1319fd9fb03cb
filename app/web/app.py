"""The app factory: ``create_app(settings)`` wires everything through the lifespan.

No import-time state: tests build as many apps as they like, each with its own
data directory.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.pool import NullPool

from app import __version__
from app.auth import setup_code
from app.auth.store import AuthStore
from app.clock import Clock
from app.eventlog.database import make_engine
from app.eventlog.readers import ThreadReaders
from app.io.protocol import Client
from app.settings import Settings
from app.web import (
    access_pages,
    api,
    errors,
    integrations_page,
    log_pages,
    metrics,
    pages,
    walktest_pages,
)
from app.web.deps import WebState
from app.web.limits import BodyGuard
from app.web.live import LiveFeed
from app.web.security import Guard, Viewer

HERE = Path(__file__).parent

DESCRIPTION = """The AlarmBridge JSON API: live status, configuration, manual start and
stop, the event log (pages, exports, a live stream of server-sent events) and, on
simulated pins, the simulation controls. Errors are JSON: `{"error": "...",
"problems": [{"field": ..., "message": ...}]}`."""


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The web app. ``clock``: the accounts' clock (sessions, tokens, throttling)."""
    settings = settings or Settings()
    templates = pages.make_templates(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # NullPool: each read opens the file afresh, so a database the io process
        # has recovered (moved aside and recreated) is seen at once.
        db = make_engine(settings.db_path, read_only=True, poolclass=NullPool)
        # The events API's hot path keeps one connection per worker thread instead,
        # reopened when the file's identity changes (ThreadReaders).
        readers = ThreadReaders(db, settings.db_path)
        client = Client(settings.socket_path, timeout=settings.io_timeout_s)
        feed = LiveFeed(client, db, settings.db_path)
        auth = AuthStore(
            settings.auth_db_path,
            clock=clock,
            idle_us=settings.session_idle_minutes * 60_000_000,
            max_age_us=settings.session_max_hours * 3600_000_000,
        )
        web = app.state.web = WebState(settings, client, db, feed, templates, auth, readers)
        if not auth.has_users():
            announce_setup(settings)
        await feed.start()
        web.throttle_report.start()
        try:
            yield
        finally:
            await web.throttle_report.stop()
            await feed.stop()
            readers.close()
            db.dispose()
            auth.close()

    app = FastAPI(
        title="AlarmBridge",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # our own /docs page: Swagger UI needs a CDN a LAN appliance lacks
        redoc_url=None,
        openapi_url=None,  # served below, to logged-in users only
    )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(who: Viewer) -> JSONResponse:
        return JSONResponse(app.openapi())

    app.add_middleware(BodyGuard)  # inside Guard: Host and origin are checked first
    app.add_middleware(Guard, allowed_hosts=set(settings.allowed_hosts))
    errors.install(app, templates)
    app.include_router(api.router)
    app.include_router(metrics.router)
    app.include_router(access_pages.public)
    app.include_router(access_pages.router)
    app.include_router(pages.router)
    app.include_router(log_pages.router)
    app.include_router(walktest_pages.router)  # the walk test (commissioning)
    app.include_router(integrations_page.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


def announce_setup(settings: Settings) -> None:
    """Until the first admin exists, say how to claim the appliance (on the
    console and in the journal, which only someone with the device can read)."""
    code = setup_code.ensure(settings.web_state_dir)
    text = (
        f"AlarmBridge is not set up yet. Open {settings.local_url}/setup "
        f"and enter the setup code {code} (also in {setup_code.code_path(settings.web_state_dir)}, "
        "or run 'alarmbridge setup-code')."
    )
    print(text, file=sys.stderr, flush=True)


__all__ = ["create_app"]
