"""A log that lost committed events says so, and never reuses a number (issue #15,
items 1 and 2).

The io process commits some hundred events (streamed as accepted), then:

- WAL cases: it is killed (SIGKILL), so the events are only in the write-ahead
  log, and the WAL is damaged: random bytes in a frame half-way through, in the
  last commit frame, over its header, cut to half, or deleted.
- file cases: it stops cleanly (one file), and the file is cut to 50 B, 4 KiB,
  half, its size less 4 KiB, or 0 B.

Then it starts again. Each time it must be back with relays working, the damaged
files kept aside as they were, a persistent fault in status, a ``log-recovered``
row saying which sequence numbers were lost, every accepted event before those
still in the log, and new events numbered above every number ever streamed. An
admin clears the fault (``alarmbridge clear-fault``), which is logged.
"""

from __future__ import annotations

import functools
import signal
from pathlib import Path
from typing import Any

from tests.faults.damage import WAL_DAMAGE, truncate_to, wal_of
from tests.faults.harness import (
    Listener,
    energised,
    last_seq,
    now_ns,
    recording_io,
    rows,
    running,
    set_config,
    summary,
    toggle,
    variants,
    written,
)
from tests.io.conftest import cli
from tests.support import wait_for

FILE_CUTS = {
    "cut-50": truncate_to(50),
    "cut-4k": truncate_to(4096),
    "cut-size-less-4k": truncate_to(-4096),
    "cut-to-0": truncate_to(0),
}
KEY = ("kind", "channel", "state", "mono_ns")


def half(path: Path) -> None:
    truncate_to(path.stat().st_size // 2)(path)


CASES: dict[str, Any] = {**WAL_DAMAGE, **FILE_CUTS, "cut-half": half}


@variants(
    "cases",
    (("wal-middle-frame", "wal-deleted", "cut-to-0"),),
    (tuple(CASES),),
)
def test_lost_events_are_said_and_numbers_are_never_reused(
    tmp_path: Path, cases: tuple[str, ...], figures: dict[str, Any]
) -> None:
    back: list[float] = []
    outcomes: dict[str, Any] = {}
    for name in cases:
        io = recording_io(tmp_path / name, tmp_path / f"{name}.record")
        db = io.data_dir / "alarmbridge.db"
        with running(io):
            set_config(io, instant=(1, 2, 4))
            listener = Listener(io.client)
            toggle(io, (1, 2, 4), 120, hz=600)
            wait_for(functools.partial(written, io))
            last = last_seq(db)  # every committed event is streamed: wait for the last
            wait_for(functools.partial(listener.caught_up, last))
            streamed = {e["seq"]: tuple(e[k] for k in KEY) for e in listener.stop()}
            acked = max(streamed)
            if name.startswith("wal-"):
                assert io.proc is not None
                io.signal(signal.SIGKILL)
                assert wal_of(db).exists()
        if not name.startswith("wal-"):  # stopped cleanly: its "stopped" row is the last
            acked = last_seq(db)
        CASES[name](db)
        damaged = {p.name: p.read_bytes() for p in (db, wal_of(db)) if p.exists()}

        started = now_ns()
        with running(io):
            back.append((now_ns() - started) / 1e6)
            status = wait_for(functools.partial(written, io))
            assert "eventlog:eventlog-corrupt" in {f["key"] for f in status["faults"]}
            [recovered] = rows(db, "state = 'log-recovered'")
            detail = recovered["detail"]
            assert recovered["seq"] > acked  # never a number that was handed on
            assert detail["lost_to_seq"] == acked, detail
            lost_from = detail["lost_from_seq"]
            # Kept aside as they were.
            moved = db.with_name(detail["moved_to"])
            for original, data in damaged.items():
                aside = moved.with_name(moved.name + original.removeprefix(db.name))
                assert aside.read_bytes() == data, f"{original} not kept as it was"
            # Every accepted event before the loss is still there, unchanged.
            kept = {r["seq"]: tuple(r[k] for k in KEY) for r in rows(db, "seq < ?", lost_from)}
            assert {s: kept.get(s) for s in streamed if s < lost_from} == {
                s: e for s, e in streamed.items() if s < lost_from
            }
            # Relays work; new events go on above.
            io.client.request("sim", action="close", input=1)
            wait_for(functools.partial(energised, io.client, 1))
            wait_for(functools.partial(written, io))
            newer = rows(db, "seq > ?", recovered["seq"])
            assert newer and all(r["seq"] > acked for r in newer)
            # An admin acknowledges the fault.
            said = cli(io.data_dir, "clear-fault", "eventlog-corrupt", "--user", "ann").stdout
            assert said.strip() == "fault eventlog-corrupt cleared"
            assert not io.client.request("status")["faults"]
            wait_for(functools.partial(written, io))
            cleared = rows(db, "kind = 'fault' AND state = 'cleared'")
            assert cleared[-1]["detail"]["cleared_by"] == "ann"
        outcomes[name] = {"accepted": acked, "lost": detail["lost"], "lost_from": lost_from}
    figures.update(cases=outcomes, start_to_status_ms=summary(back))
