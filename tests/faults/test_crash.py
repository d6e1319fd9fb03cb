"""Crash durability: ``kill -9`` of the io process at random moments during bursts of
input edges, then a restart on the same data directory (requirements 1 and 7).

After each restart: every event that was streamed as accepted is in the log with
its sequence number, ``PRAGMA integrity_check`` is ok, no sequence number was
handed out twice, and no relay went active because of the restart. The pins
(:mod:`tests.faults.pins`) keep each relay line where the killed process left it,
as the kernel does, and record what the new process does with it: claimed at the
released level, then active only if the restart's ``recomputed`` event says so.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

from app.io.protocol import ControlError
from tests.faults.harness import (
    Line,
    Listener,
    integrity,
    last_seq,
    now_ns,
    recording_io,
    restart_glitches,
    rows,
    set_config,
    summary,
    variants,
)
from tests.faults.pins import read_record
from tests.io.conftest import IoProc
from tests.support import wait_for

# At every restart OUT3 is active (a manual latch) and OUT4 too (IN4 is NC and
# its contact is open); OUT1 and OUT2 are released.
RECOMPUTED = [False, False, True, True]
KEY = ("kind", "channel", "state", "mono_ns")
EDGE_RATE = 1000  # a second: a storm for a real alarm panel, still a burst for the log


def configure(io: IoProc) -> None:
    """Every edge is an event; IN4 is NC; OUT3 is latched."""
    set_config(io, instant=(1, 2, 3, 4), edit=lambda c: c["inputs"][3].update(contact="NC"))
    io.client.request("start", output=3, duration_ms=None, user="test")


def recomputed_after(db: Path, seq: int) -> dict[str, Any] | None:
    found = rows(db, "state = 'recomputed' AND seq > ?", seq)
    return found[-1] if found else None


class Burst:
    """Edges on random inputs at about ``EDGE_RATE`` a second, on a thread."""

    def __init__(self, io: IoProc, edges: int, rng: random.Random) -> None:
        self.line = Line(io.client.path)
        self.plan = [rng.randrange(1, 5) for _ in range(edges)]
        self.acked = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        closed = [False] * 5  # every contact is open after a restart
        due = time.monotonic()
        try:
            for n in self.plan:
                closed[n] = not closed[n]
                self.line.contact(n, closed[n])
                self.acked += 1
                due += 1 / EDGE_RATE
                time.sleep(max(0.0, due - time.monotonic()))
        except (ControlError, OSError, ValueError):
            pass  # killed
        finally:
            self.line.close()


@variants("kills, edges", (4, 300), (200, 1000))
def test_kill_9_during_bursts_loses_no_accepted_event_and_glitches_no_relay(
    tmp_path: Path, kills: int, edges: int, figures: dict[str, Any]
) -> None:
    rng = random.Random(7)
    record = tmp_path / "pins.record"
    io = recording_io(tmp_path / "data", record)
    db = io.data_dir / "alarmbridge.db"
    accepted: dict[int, tuple[Any, ...]] = {}  # seq -> the event as streamed
    streamed: list[dict[str, Any]] = []  # by the run that was killed last
    restarts: list[float] = []
    dropouts: list[float] = []
    glitches: list[str] = []
    burst_from = killed_at = 0
    try:
        for run in range(kills + 1):
            starting = now_ns()
            io.start()
            assert io.proc is not None
            recomputed = wait_for(lambda: recomputed_after(db, burst_from))  # noqa: B023
            quiet_until = now_ns()  # no input of this run has changed yet
            wanted = [s == "active" for s in recomputed["detail"]["outputs"].values()]
            lines = read_record(record)
            found, drops = restart_glitches(lines, io.proc.pid, starting, quiet_until, wanted)
            glitches += found
            dropouts += drops
            if run:  # the checks after a restart
                restarts.append((quiet_until - killed_at) / 1e6)
                assert wanted == RECOMPUTED
                logged = {r["seq"]: r for r in rows(db, "seq > ?", burst_from)}
                for event in streamed:  # accepted: in the log, as it was streamed
                    seq = event["seq"]
                    assert seq not in accepted, f"seq {seq} handed out twice"
                    accepted[seq] = key = tuple(event[k] for k in KEY)
                    assert seq in logged, f"accepted event {seq} lost"
                    assert tuple(logged[seq][k] for k in KEY) == key, f"event {seq} changed"
                assert integrity(db) == "ok"
            if run == kills:
                break
            if run == 0:
                configure(io)

            listener = Listener(io.client)
            burst_from = last_seq(db)
            burst = Burst(io, edges, rng)
            kill_after = rng.randrange(1, edges)
            deadline = time.monotonic() + 30
            while burst.acked < kill_after and burst.thread.is_alive():
                assert time.monotonic() < deadline, "the burst stalled"
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.002))  # anywhere in the request cycle
            killed_at = now_ns()
            io.signal(signal.SIGKILL)
            burst.thread.join(10)
            streamed = listener.stop()  # none, if it was killed within the first commit

        stored = {r["seq"]: tuple(r[k] for k in KEY) for r in rows(db)}
        assert {seq: stored.get(seq) for seq in accepted} == accepted
        assert len(accepted) > kills * 10  # the bursts did run
    finally:
        io.stop()

    assert not glitches, glitches
    figures.update(
        kills=kills,
        edges_per_burst=edges,
        accepted_events=len(accepted),
        events_lost=0,
        integrity_failures=0,
        duplicate_seqs=0,
        relay_glitches=len(glitches),
        restart_dropouts=len(dropouts),
        dropout_ms=summary(dropouts) if dropouts else None,
        restart_ms=summary(restarts),
    )
