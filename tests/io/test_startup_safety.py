"""The relays are never dead because of stored data or a second start (issue #15,
items 4 and 5): a bad stored configuration starts on the last good one (or the
defaults) with a fault; a second io process or ``alarmbridge run`` on a data
directory in use exits at once and leaves the running one alone."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from app.instance import InstanceLock
from tests.io.conftest import CLI, IoProc, cli
from tests.support import wait_for
from tests.support import wait_for as found_within


def status(io: IoProc) -> dict[str, Any]:
    result: dict[str, Any] = io.client.request("status")
    return result


def test_a_second_io_process_on_a_data_directory_in_use_exits_at_once(io_proc: IoProc) -> None:
    io_proc.start()
    assert io_proc.proc is not None
    started = time.monotonic()
    second = subprocess.run(
        [*CLI, "io", "--data-dir", str(io_proc.data_dir)],
        env=io_proc.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    took = time.monotonic() - started
    assert second.returncode == 1
    [line] = second.stderr.splitlines()
    assert "already running on this data directory" in line
    assert f"io process {io_proc.proc.pid}" in line
    assert took < 5
    # The first is untouched: its socket is still there and it still acts.
    assert (io_proc.data_dir / "io.sock").exists()
    cli(io_proc.data_dir, "sim", "close", "1")
    wait_for(lambda: status(io_proc)["outputs"][0]["energised"])


def test_a_second_run_on_a_data_directory_in_use_exits_at_once(io_proc: IoProc) -> None:
    io_proc.start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    second = subprocess.run(
        [*CLI, "run", "--pins", "mock", "--port", str(port), "--data-dir", str(io_proc.data_dir)],
        env=io_proc.env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert second.returncode == 1
    assert "already running on this data directory" in second.stderr
    assert status(io_proc)["running"]


def test_a_lock_left_by_a_killed_process_never_blocks_a_start(io_proc: IoProc) -> None:
    io_proc.start()
    assert io_proc.signal(signal.SIGKILL) == -signal.SIGKILL
    assert (io_proc.data_dir / "io.lock").exists()
    io_proc.start()  # comes up
    assert status(io_proc)["running"]


def store(db: Path, body: str, *, forget_good: bool = False) -> None:
    """Put ``body`` in the stored configuration row, as damage or a bad edit would."""
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("UPDATE config SET body = ? WHERE id = 1", (body,))
        if forget_good:
            connection.execute("DELETE FROM meta WHERE key = 'config.last-good'")
        connection.commit()


def bad_bodies(good: dict[str, Any]) -> dict[str, str]:
    """Each kind of bad stored configuration (damaged bytes are in the test below)."""
    wrong_type = json.loads(json.dumps(good))
    wrong_type["inputs"][0]["contact"] = 7
    out_of_range = json.loads(json.dumps(good))
    out_of_range["outputs"][0]["hold_ms"] = -5
    too_few = json.loads(json.dumps(good))
    too_few["inputs"] = too_few["inputs"][:2]
    return {
        "invalid-json": "{not json",
        "wrong-type": json.dumps(wrong_type),
        "out-of-range": json.dumps(out_of_range),
        "wrong-input-count": json.dumps(too_few),
    }


@pytest.mark.parametrize(
    ("case", "good_kept"),
    [
        ("invalid-json", True),
        ("wrong-type", True),
        ("out-of-range", True),
        ("wrong-input-count", True),
        ("invalid-json", False),  # no last good copy: the defaults
    ],
)
def test_a_bad_stored_configuration_starts_on_the_last_good_one_with_a_fault(
    io_proc: IoProc, case: str, good_kept: bool
) -> None:
    io_proc.start()
    config = io_proc.client.request("config-get")
    config["inputs"][0]["contact"] = "NC"  # a change the last good copy keeps
    io_proc.client.request("config-set", config=config, user="ann")
    assert io_proc.signal(signal.SIGTERM) == 0
    db = io_proc.data_dir / "alarmbridge.db"
    body = bad_bodies(config)[case]
    store(db, body, forget_good=not good_kept)

    io_proc.start()  # starts: the relays are not dead
    found = status(io_proc)
    [fault] = [f for f in found["faults"] if f["key"] == "config:config-invalid"]
    assert "could not be used" in fault["message"]
    why = {"invalid-json": "not valid JSON", "wrong-input-count": "does not fit board"}
    assert why.get(case, "inputs.0" if case == "wrong-type" else "outputs.0") in fault["message"]
    assert ("last good" if good_kept else "defaults") in fault["message"]
    running = io_proc.client.request("config-get")
    assert running["inputs"][0]["contact"] == ("NC" if good_kept else "NO")
    rejected = io_proc.data_dir / "alarmbridge.db.config-rejected"
    assert rejected.read_text() == body  # kept as it was
    # The relays work on it: IN2 (NO either way) drives OUT2.
    cli(io_proc.data_dir, "sim", "close", "2")
    wait_for(lambda: status(io_proc)["outputs"][1]["energised"])
    # The admin repairs it: saving a configuration clears the fault.
    io_proc.client.request("config-set", config=running, user="ann")
    assert not [f for f in status(io_proc)["faults"] if f["key"] == "config:config-invalid"]
    log = [json.loads(x) for x in cli(io_proc.data_dir, "events", "--json").stdout.splitlines()]
    fault_rows = [(e["state"], e["detail"]["code"]) for e in log if e["kind"] == "fault"]
    assert ("raised", "config-invalid") in fault_rows
    assert ("cleared", "config-invalid") in fault_rows


def test_a_start_that_fails_after_the_board_opened_releases_it(tmp_path: Path) -> None:
    """ADR 0001's pull-on-release must run even when the database cannot be opened:
    the board is closed, the lock released, and the error raised."""
    from gpiozero.pins.mock import MockFactory

    from app.eventlog import MigrationError
    from app.io.process import IoProcess
    from app.settings import Settings
    from hardware import Board

    settings = Settings(data_dir=tmp_path / "data", pins="mock")
    settings.data_dir.mkdir()
    # A log at a schema revision this version does not know: start must fail.
    with closing(sqlite3.connect(settings.db_path)) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num TEXT)")
        connection.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
        connection.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT)")
        connection.commit()
    factory = MockFactory()
    process = IoProcess(settings, pin_factory=factory)
    with pytest.raises(MigrationError, match="does not know"):
        process.start()
    assert not process.started
    Board(settings.board_spec(), factory).close()  # every pin was released
    process.stop()  # a no-op
    InstanceLock.acquire(settings.data_dir).release()  # the lock is free again
    factory.close()


def test_the_whole_chain_is_checked_after_start_and_a_change_is_a_fault(
    tmp_path: Path,
) -> None:
    """A row changed in the middle of the log while the appliance was stopped (the
    newest row, checked at start against the copy beside the log, is intact): the
    background check after start finds it."""
    io = IoProc(tmp_path / "data", env={"ALARMBRIDGE_LOG_CHECK_DELAY_S": "0"})
    io.start()
    try:
        for n in range(10):
            cli(io.data_dir, "sim", "close" if n % 2 == 0 else "open", "1")
        assert io.signal(signal.SIGTERM) == 0
        db = io.data_dir / "alarmbridge.db"
        with closing(sqlite3.connect(db)) as connection:
            connection.execute("UPDATE events SET state = 'forged' WHERE seq = 5")
            connection.commit()
        io.start()
        faults = found_within(
            lambda: [f for f in status(io)["faults"] if f["code"] == "eventlog-altered"],
            timeout=20,
        )
        assert "seq 5 does not match its hash" in faults[0]["message"]
    finally:
        io.stop()


def test_damaged_bytes_in_the_stored_configuration_start_on_the_last_good_one(
    io_proc: IoProc,
) -> None:
    """Bytes that are not UTF-8 in the stored row (random damage inside the row, which
    quick_check does not see) used to stop the io process while reading it."""
    io_proc.start()
    assert io_proc.signal(signal.SIGTERM) == 0
    db = io_proc.data_dir / "alarmbridge.db"
    with closing(sqlite3.connect(db)) as connection:
        body = connection.execute("SELECT CAST(body AS BLOB) FROM config").fetchone()[0]
        damaged = body[:40] + b"\xff\xfe\x80" + body[43:]
        connection.execute("UPDATE config SET body = CAST(? AS TEXT)", (damaged,))
        connection.commit()
    io_proc.start()
    [fault] = [f for f in status(io_proc)["faults"] if f["key"] == "config:config-invalid"]
    assert "not UTF-8" in fault["message"]
    assert (io_proc.data_dir / "alarmbridge.db.config-rejected").read_bytes() == damaged
    cli(io_proc.data_dir, "sim", "close", "1")
    wait_for(lambda: status(io_proc)["outputs"][0]["energised"])
