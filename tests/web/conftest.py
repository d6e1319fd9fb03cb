"""The web app against a real io process (in this process, on simulated pins) and
a real SQLite file in a temporary data directory."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from app.io.process import IoProcess
from app.settings import Settings
from app.web import create_app


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``check`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return result


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", pins="mock", timezone="Europe/Brussels")


@pytest.fixture
def io(settings: Settings) -> Iterator[IoProcess]:
    process = IoProcess(settings)
    process.start()
    try:
        yield process
    finally:
        if hasattr(process, "runner") and process.runner is not None:
            process.stop()


@pytest.fixture
def client(settings: Settings, io: IoProcess) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


class Served:
    """The app on a real uvicorn server, in a thread, on a free local port."""

    def __init__(self, settings: Settings) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def served(settings: Settings, io: IoProcess) -> Iterator[Served]:
    with Served(settings) as server:
        yield server


def sse_messages(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream response into ``{"event", "id", "data"}`` dicts."""
    message: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in message:
                yield message
            message = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            message[key] = value.removeprefix(" ")
