"""The web app against a real io process (in this process, on simulated pins) and
a real SQLite file in a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.auth.passwords import hash_password
from app.auth.store import AuthStore, Role
from app.io.process import IoProcess
from app.settings import Settings
from app.web import create_app
from tests.support import wait_for as wait_for  # for tests that import it from here


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        pins="mock",
        timezone="Europe/Brussels",
        allowed_hosts=["testserver"],  # the TestClient's Host
    )


ADMIN = ("admin", "a long admin passphrase")


@pytest.fixture
def admin_token(settings: Settings) -> str:
    """An admin account and an admin API token, made on the device as an installer
    would (the first through setup, here straight into the accounts database)."""
    store = AuthStore(settings.auth_db_path)
    try:
        store.create_first_admin(ADMIN[0], hash_password(ADMIN[1]))
        secret, _ = store.new_token("tests", Role.ADMIN, ADMIN[0])
    finally:
        store.close()
    return secret


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
def client(settings: Settings, io: IoProcess, admin_token: str) -> Iterator[TestClient]:
    """A client with an admin API token (the access rules have their own tests)."""
    with TestClient(
        create_app(settings), headers={"Authorization": f"Bearer {admin_token}"}
    ) as test_client:
        yield test_client
