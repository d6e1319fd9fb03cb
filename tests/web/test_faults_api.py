"""Clearing a fault that stays until someone acknowledges it, over the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.auth.store import AuthStore, Role
from app.eventlog.seqstate import LogState, SeqKeeper, state_path
from app.io.process import IoProcess
from app.settings import Settings
from app.web.app import create_app


@pytest.fixture
def missing_log_io(settings: Settings) -> Iterator[IoProcess]:
    """The io process on a data directory whose log held events up to seq 5 and is
    gone: it starts with a persistent eventlog-corrupt fault."""
    settings.data_dir.mkdir(parents=True)
    keeper = SeqKeeper(state_path(settings.db_path), LogState(acked=5, boot_id="earlier"))
    keeper.close(clean=True)
    process = IoProcess(settings)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_an_admin_clears_a_persistent_fault_and_it_is_logged(
    settings: Settings, missing_log_io: IoProcess, admin_token: str
) -> None:
    store = AuthStore(settings.auth_db_path)
    try:
        operator, _ = store.new_token("op", Role.OPERATOR, "admin")
    finally:
        store.close()
    with TestClient(create_app(settings)) as web:
        admin = {"Authorization": f"Bearer {admin_token}"}
        status = web.get("/api/v1/status", headers=admin).json()
        assert [f["code"] for f in status["faults"]] == ["eventlog-corrupt"]
        refused = web.post(
            "/api/v1/faults/eventlog-corrupt/clear", headers={"Authorization": f"Bearer {operator}"}
        )
        assert refused.status_code == 403
        unknown = web.post("/api/v1/faults/disk-full/clear", headers=admin)
        assert unknown.status_code == 400
        assert "only faults that stay until cleared" in unknown.json()["error"]
        cleared = web.post("/api/v1/faults/eventlog-corrupt/clear", headers=admin)
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["faults"] == []
        assert missing_log_io.writer.flush()
        rows = web.get("/api/v1/events?kind=fault", headers=admin).json()["events"]
        assert [(e["state"], e["detail"].get("cleared_by")) for e in rows][:1] == [
            ("cleared", "token:tests")
        ]
