"""Crashes and corruption, through the real io process."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

from app.io.protocol import ControlError
from tests.io.conftest import IoProc, wait_for

KILLS = int(os.environ.get("ALARMBRIDGE_KILLS", "4"))


def _fast_inputs(io: IoProc) -> None:
    config = io.client.request("config-get")
    for item in config["inputs"]:
        item["response_ms"] = 0
        item["chatter_changes"] = 10_000
    io.client.request("config-set", config=config, user="test")


def test_every_streamed_event_survives_kill_9(io_proc: IoProc) -> None:
    rng = random.Random(7)
    accepted: set[int] = set()
    for _ in range(KILLS):
        io_proc.start()
        _fast_inputs(io_proc)
        streamed: list[int] = []
        stop = threading.Event()

        def listen(sink: list[int] = streamed) -> None:
            try:
                for event in io_proc.client.subscribe():
                    sink.append(event["seq"])
            except (ControlError, OSError, ValueError):
                pass  # the process was killed

        def burst(stop: threading.Event = stop) -> None:
            n = 0
            while not stop.is_set():
                try:
                    io_proc.client.request(
                        "sim", action="close" if n % 2 == 0 else "open", input=n // 2 % 4 + 1
                    )
                except (ControlError, OSError):
                    return
                n += 1

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(0.1)
        driver = threading.Thread(target=burst, daemon=True)
        driver.start()
        time.sleep(rng.uniform(0.2, 0.8))
        io_proc.signal(signal.SIGKILL)
        stop.set()
        driver.join(5)
        listener.join(5)
        assert streamed, "nothing was streamed before the kill"
        accepted.update(streamed)
    with sqlite3.connect(io_proc.data_dir / "alarmbridge.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = [row[0] for row in db.execute("SELECT seq FROM events")]
    assert len(stored) == len(set(stored))
    missing = accepted - set(stored)
    assert not missing, f"{len(missing)} accepted events lost"
    assert len(accepted) > 20 * KILLS  # the bursts really ran
    # And it starts cleanly after the last kill, relays recomputed from the wire.
    io_proc.start()
    status = io_proc.client.request("status")
    assert [o["energised"] for o in status["outputs"]] == [False] * 4


def test_corrupt_log_is_moved_aside_and_relays_still_work(io_proc: IoProc) -> None:
    io_proc.start()
    io_proc.client.request("sim", action="close", input=1)
    time.sleep(0.2)
    io_proc.signal(signal.SIGTERM)
    db_path = io_proc.data_dir / "alarmbridge.db"
    data = bytearray(db_path.read_bytes())
    rng = random.Random(3)
    for offset in range(0, len(data), 997):
        data[offset] = rng.randrange(256)
    db_path.write_bytes(bytes(data))
    started = time.monotonic()
    io_proc.start()
    assert time.monotonic() - started < 10
    aside = [p.name for p in io_proc.data_dir.iterdir() if ".corrupt-" in p.name]
    assert aside, "the corrupt file was not kept"
    status = io_proc.client.request("status")
    assert any(f["key"].startswith("eventlog:") for f in status["faults"])
    io_proc.client.request("sim", action="close", input=2)
    wait_for(lambda: io_proc.client.request("status")["outputs"][1]["energised"])
    with sqlite3.connect(db_path) as db:
        first = db.execute("SELECT state, detail FROM events ORDER BY seq LIMIT 1").fetchone()
    assert first[0] == "log-recovered"
    assert Path(io_proc.data_dir / aside[0]).exists()
