"""The web app against a real io process (in this process, on simulated pins) and
a real SQLite file in a temporary data directory."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
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
