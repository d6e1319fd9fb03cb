"""Serving the web app with uvicorn (``alarmbridge web``)."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from fastapi import FastAPI

from app.settings import Settings
from app.web.tls import tls_files


def server_config(
    app: FastAPI, settings: Settings, tls: tuple[Path, Path] | None
) -> uvicorn.Config:
    """uvicorn's settings for the appliance.

    No forwarded header is believed unless ``trusted_proxies`` names the proxy:
    uvicorn's own default trusts ``X-Forwarded-For`` from 127.0.0.1, which would
    let any local client choose the address that login throttling counts and the
    audit log records.
    """
    proxies = settings.trusted_proxies
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        server_header=False,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=list(proxies) if proxies else None,
        timeout_graceful_shutdown=1,  # live streams never end by themselves
        ssl_certfile=None if tls is None else str(tls[0]),
        ssl_keyfile=None if tls is None else str(tls[1]),
    )


def serve(settings: Settings) -> None:
    from app.web import create_app
    from app.web.tls import fingerprint

    tls = tls_files(settings)
    config = server_config(create_app(settings), settings, tls)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    scheme = "http" if tls is None else "https"
    print(f"AlarmBridge web UI on {scheme}://{host}:{settings.port}/", flush=True)
    if tls is not None:
        print(f"TLS certificate {tls[0]}, SHA-256 {fingerprint(tls[0])}", flush=True)
    uvicorn.Server(config).run()
