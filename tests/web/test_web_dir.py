"""The web process's own directory (``web_dir``) and its read-only view of the event
log: on the Pi the two processes run as different users, and the network-facing one
may read the log but not write it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from app.auth import setup_code
from app.io.process import IoProcess
from app.settings import Settings
from app.web import create_app
from tests.support import wait_for

ORIGIN = {"Origin": "http://testserver"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Overrides conftest's: the web process's files in their own directory (the
    conftest ``io`` fixture runs the io process with these settings)."""
    return Settings(
        data_dir=tmp_path / "data",
        web_dir=tmp_path / "web",
        pins="mock",
        timezone="Europe/Brussels",
        allowed_hosts=["testserver"],
    )


def test_accounts_and_the_setup_code_live_in_the_web_dir(settings: Settings, io: IoProcess) -> None:
    with TestClient(create_app(settings)) as client:
        web, data = settings.web_state_dir, settings.data_dir
        assert web == settings.web_dir
        code = setup_code.code_path(web).read_text().strip()
        assert not setup_code.code_path(data).exists()
        made = client.post(
            "/api/v1/setup",
            json={"code": code, "name": "owner", "password": "stable cardboard lantern"},
            headers=ORIGIN,
        )
        assert made.status_code == 201, made.text
        assert (web / "auth.db").is_file()
        assert not (data / "auth.db").exists()
        assert not setup_code.code_path(web).exists()
        # the claim reached the event log through the io process, and the web reads it
        events = wait_for(
            lambda: client.get("/api/v1/events", params={"kind": "security"}).json()["events"]
        )
        assert [(e["state"], e["source"]) for e in events] == [("setup", "owner")]


def test_the_web_process_cannot_write_the_event_log(settings: Settings, io: IoProcess) -> None:
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.web.db  # type: ignore[attr-defined]
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM events").scalar_one() > 0
            with pytest.raises(OperationalError, match=r"readonly|read-only"):
                connection.exec_driver_sql("DELETE FROM events")


def test_cli_setup_code_reads_the_web_dir(settings: Settings, io: IoProcess) -> None:
    env = {**os.environ, "ALARMBRIDGE_WEB_DIR": str(settings.web_dir)}
    printed = subprocess.run(
        [sys.executable, "-m", "app.cli", "setup-code", "--data-dir", str(settings.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert printed == setup_code.code_path(settings.web_state_dir).read_text().strip()
    assert not setup_code.code_path(settings.data_dir).exists()
