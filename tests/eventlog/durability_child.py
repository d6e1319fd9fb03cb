"""The process that the kill -9 test kills: a writer under bursts of events.

Every committed event is reported as a line ``<seq> <source>`` from ``on_commit``
(so a reported event is a committed one), written unbuffered to ``out``; the
parent kills the process at random moments and checks each reported line is in
the database. By hand: ``python -m tests.eventlog.durability_child DB -`` (stdout).
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from app.clock import SystemClock
from app.eventlog import EventWriter, prepare_database
from app.events import Cause, Event, EventStamper, Kind


def run(db: str, out: str, run_id: int, seed: float) -> None:
    """Write bursts of events to ``db`` forever, reporting commits to ``out``."""
    fd = 1 if out == "-" else os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    # One boot: a kill -9 leaves the page cache, so numbering goes on without a gap
    # (after an unclean stop in another boot it skips the reserved numbers).
    stamper = EventStamper("boot-1", SystemClock())
    prepared = prepare_database(Path(db), stamper=stamper)

    def on_commit(events: Sequence[Event]) -> None:
        os.write(fd, "".join(f"{e.seq} {e.source}\n" for e in events).encode())

    writer = EventWriter(prepared, stamper=stamper, on_commit=on_commit)
    writer.start()
    os.write(fd, b"ready\n")
    rng = random.Random(seed)
    n = 0
    while True:
        for _ in range(rng.randint(1, 150)):
            writer.submit(
                stamper.make(
                    Kind.INPUT,
                    "active" if n % 2 else "idle",
                    Cause.INPUT,
                    channel=f"in{n % 4}",
                    source=f"{run_id}-{n}",
                )
            )
            n += 1
        time.sleep(rng.uniform(0, 0.004))


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "-", 0, time.time())
