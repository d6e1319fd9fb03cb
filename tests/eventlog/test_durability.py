"""Commit before acknowledge, under kill -9 (requirement 1).

A child process runs the writer on bursts of events and reports every event that
``on_commit`` hands it; the parent kills it with SIGKILL at random moments (some
during start-up), restarts it on the same file, and finally checks that every
reported event is in the database under its sequence number, that no number was
used twice and that ``PRAGMA integrity_check`` passes.

The children are forked from a preloaded fork server so a restart costs
milliseconds; ``ALARMBRIDGE_KILLS`` sets how many kills (default 20).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

from tests.support import wait_for

from . import durability_child

KILLS = int(os.environ.get("ALARMBRIDGE_KILLS", "20"))


def read_lines(path: Path) -> list[str]:
    """The complete lines written so far (a kill can cut the last one short)."""
    if not path.exists():
        return []
    text = path.read_text()
    return text.split("\n")[:-1]


def test_kill_9_loses_nothing_that_was_reported_committed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([durability_child.__name__])
    db = tmp_path / "data" / "alarmbridge.db"
    rng = random.Random(20260101)
    reported: dict[int, str] = {}
    for run in range(KILLS):
        out = tmp_path / f"run-{run}.out"
        child = context.Process(
            target=durability_child.run, args=(str(db), str(out), run, rng.random())
        )
        child.start()
        if run % 4 == 3:  # anywhere, start-up included
            time.sleep(rng.uniform(0, 0.2))
        else:  # mid-burst
            assert wait_for(lambda: "ready" in read_lines(out), timeout=20)  # noqa: B023
            time.sleep(rng.uniform(0.005, 0.12))
        child.kill()
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        child.close()
        for line in read_lines(out):
            if line == "ready":
                continue
            seq, source = line.split(" ", 1)
            assert int(seq) not in reported, f"seq {seq} reported twice"
            reported[int(seq)] = source

    assert len(reported) > KILLS  # it did get work done between the kills
    connection = sqlite3.connect(db)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {seq: str(source) for seq, source in connection.execute(
            "SELECT seq, source FROM events")}  # fmt: skip
    finally:
        connection.close()
    missing = {seq: source for seq, source in reported.items() if stored.get(seq) != source}
    assert not missing, f"reported committed but not in the log: {sorted(missing)[:10]}"
    # Nothing but committed events, numbered without gaps (a rolled-back seq is not used).
    assert sorted(stored) == list(range(1, len(stored) + 1))
    sources = [s for s in stored.values() if s != "None"]
    assert len(sources) == len(set(sources))
