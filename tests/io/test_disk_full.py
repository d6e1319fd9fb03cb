"""A full disk: relays keep switching, events wait in memory and flush in order."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from app.io.process import IoProcess
from app.settings import Settings
from tests.io.conftest import wait_for


@pytest.fixture
def io(tmp_path: Path) -> Iterator[IoProcess]:
    process = IoProcess(Settings(data_dir=tmp_path / "data", pins="mock"))
    process.start()
    yield process
    process.stop()


def _status(io: IoProcess) -> dict[str, Any]:
    return io.status()


def test_relays_keep_switching_while_the_log_cannot_grow(io: IoProcess) -> None:
    assert io.sim is not None
    config = io.engine.config.model_copy(deep=True)
    for item in config.inputs:
        item.response_ms = 0
        item.chatter_changes = 10_000  # this test toggles fast on purpose
    io.runner.call(lambda: io.engine.apply_config(config))
    assert io.writer.flush(5)
    db_path = io.settings.db_path
    with sqlite3.connect(db_path) as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        before = db.execute("SELECT max(seq) FROM events").fetchone()[0]
    io.writer.set_max_page_count(pages)  # the disk is full from now on

    def relay_is(n: int, wanted: bool) -> bool:
        return _status(io)["outputs"][n]["energised"] is wanted

    for n in range(200):
        io.sim.set_contact(n % 4 + 1, n % 8 < 4)
        wait_for(partial(relay_is, n % 4, n % 8 < 4))
    wait_for(lambda: io.writer.fault == "disk-full")
    status = _status(io)
    assert any(f["key"] == "eventlog:disk-full" for f in status["faults"])
    assert status["eventlog"]["pending"] > 0

    io.writer.set_max_page_count(None)  # space is back
    wait_for(lambda: io.writer.fault is None and io.writer.pending == 0, timeout=10)
    time.sleep(0.2)
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT seq, kind, channel, state, mono_ns FROM events WHERE seq > ? ORDER BY seq",
            (before,),
        ).fetchall()
    inputs = [r for r in rows if r[1] == "input"]
    assert len(inputs) == 200  # nothing lost
    monos = [r[4] for r in rows if r[1] in ("input", "output")]
    assert monos == sorted(monos)  # flushed in the order they happened
    faults = [(r[2], r[3]) for r in rows if r[1] == "fault"]
    assert ("eventlog", "raised") in faults
    assert ("eventlog", "cleared") in faults
    wait_for(lambda: not _status(io)["faults"])
