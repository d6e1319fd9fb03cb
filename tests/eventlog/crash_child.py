"""A writer that commits some events and is then killed (SIGKILL) by itself: its
events are left only in the write-ahead log, as after a crash.

``python -m tests.eventlog.crash_child DB COUNT [BOOT_ID]`` prints the last
sequence number handed on (to ``on_commit``), then dies.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from app.clock import SystemClock
from app.eventlog import EventWriter, prepare_database
from app.events import Cause, Event, EventStamper, Kind


def run(db: Path, count: int, boot_id: str) -> None:
    stamper = EventStamper(boot_id, SystemClock())
    prepared = prepare_database(db, stamper=stamper)
    acked: list[int] = [0]

    def on_commit(events: Sequence[Event]) -> None:
        acked[0] = events[-1].seq

    writer = EventWriter(prepared, stamper=stamper, on_commit=on_commit)
    writer.start()
    for n in range(count):
        writer.submit(
            stamper.make(Kind.INPUT, "active", Cause.INPUT, channel="in1", source=f"c{n}")
        )
        if n % 10 == 9:  # several commits, so the WAL holds several commit frames
            assert writer.flush(timeout=10)
    assert writer.flush(timeout=10)
    print(acked[0], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    run(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "boot-test")
