"""Small disks (issue #15, item 3): the write-ahead log cannot fill the disk, the log
recovers once there is room, and events that could not be written before a stop
are logged at the next start.

- On a 2 MiB tmpfs (in a user and mount namespace, as in ``test_disk_full``) with
  a filler file taking part of it, edges are made until the disk is full. The
  log's events must be in the database file, not in a write-ahead log grown to the
  disk's size (SQLite checkpoints at 1,000 pages, 4 MB, by default: the WAL alone
  filled such a disk and the fault never cleared). The filler is removed: the
  fault clears and every buffered event is written.
- With the database capped (SQLite's page limit, as on a full disk), edges are
  buffered and the io process is stopped (SIGTERM): the next start logs one
  "events-lost" row with how many, and from when to when.
"""

from __future__ import annotations

import functools
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import (
    MEASURED,
    integrity,
    recording_io,
    rows,
    running,
    set_config,
    toggle,
    variants,
    written,
)
from tests.faults.test_disk_full import IN_NAMESPACE, eventlog_fault, tmpfs_refused
from tests.io.conftest import IoProc
from tests.support import wait_for

DISK = 2 << 20
FILLER = 512 << 10


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@variants(
    "disks",
    (((DISK, FILLER),),),
    (((DISK, FILLER), (4 * DISK, 2 * DISK), (8 * DISK, DISK // 2)),),
)
def test_on_a_small_disk_the_log_holds_events_and_recovers_when_there_is_room(
    tmp_path: Path, disks: tuple[tuple[int, int], ...], figures: dict[str, Any]
) -> None:
    if tmpfs_refused():
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {tmpfs_refused()}")
    measured: list[dict[str, Any]] = []
    figures["disks"] = measured
    for disk, filler_bytes in disks:
        measured.append(fill_and_free(tmp_path / f"{disk}", disk, filler_bytes))
    for case in measured:  # the events filled the disk, not the write-ahead log
        assert case["wal_bytes"] <= case["disk_bytes"] // 4, case
        assert case["db_bytes"] >= case["disk_bytes"] // 3, case
        assert case["faults"] == [["raised", "disk-full"], ["cleared", "disk-full"]], case


def fill_and_free(where: Path, disk: int, filler_bytes: int) -> dict[str, Any]:
    """The io process on a ``disk``-byte tmpfs with a filler file of ``filler_bytes``:
    edges until the disk is full, then the filler goes; what was measured."""
    mount, view = where / "disk", where / "view"
    mount.mkdir(parents=True)
    wrapper = [*IN_NAMESPACE, str(mount), str(view), str(disk)]
    io = recording_io(view, where / "pins.record", command=wrapper)
    db = view / "alarmbridge.db"
    with running(io):
        set_config(io, instant=MEASURED)
        filler = view / "filler"
        filler.write_bytes(b"\0" * filler_bytes)
        edges = 0
        while eventlog_fault(io) is None:
            assert edges < 100_000, "the disk never filled"
            toggle(io, MEASURED, 300, hz=3000)
            edges += 300
        db_bytes, wal_bytes = size(db), size(db.with_name(db.name + "-wal"))
        pending = io.client.request("status")["eventlog"]["pending"]
        freed = time.monotonic()
        filler.unlink()
        wait_for(lambda: eventlog_fault(io) is None and written(io), timeout=30)
        flushed_ms = round((time.monotonic() - freed) * 1000)
        copy = where / "copy"  # SQLite cannot open the file through /proc/<pid>/root
        copy.mkdir()
        for name in (db.name, db.name + "-wal"):
            if (db.parent / name).exists():
                shutil.copyfile(db.parent / name, copy / name)
        faults = [[r["state"], r["detail"]["code"]] for r in rows(copy / db.name, "kind = 'fault'")]
        assert integrity(copy / db.name) == "ok"
    return {
        "disk_bytes": disk,
        "filler_bytes": filler_bytes,
        "edges_to_fill": edges,
        "db_bytes": db_bytes,
        "wal_bytes": wal_bytes,
        "pending": pending,
        "room_to_all_written_ms": flushed_ms,
        "faults": faults,
    }


def settled(io: IoProc) -> bool:
    """Whether the count of events waiting stays the same for 0.3 s."""
    before = io.client.request("status")["eventlog"]["pending"]
    time.sleep(0.3)
    return bool(io.client.request("status")["eventlog"]["pending"] == before)


@variants("edges", (200,), (2000,))
def test_events_buffered_at_a_stop_are_logged_at_the_next_start(
    tmp_path: Path, edges: int, figures: dict[str, Any]
) -> None:
    io = recording_io(tmp_path / "data", tmp_path / "pins.record")
    db = io.data_dir / "alarmbridge.db"
    with running(io):
        set_config(io, instant=MEASURED)
        wait_for(functools.partial(written, io))
        assert io.proc is not None
        io.proc.send_signal(signal.SIGUSR1)  # the database cannot grow: a full disk
        toggle(io, MEASURED, edges, hz=1000)
        wait_for(lambda: eventlog_fault(io) == "disk-full")
        wait_for(functools.partial(settled, io))  # every edge's events submitted
        pending = io.client.request("status")["eventlog"]["pending"]
        assert pending >= edges
    with running(io):  # the cap was in the stopped process only
        wait_for(functools.partial(written, io))
        [lost] = rows(db, "state = 'events-lost'")
    detail = lost["detail"]
    # Every event that was waiting, input and output changes and the fault notices
    # (the writer's own "raised" is never counted: it is not a submitted event).
    assert pending - 2 <= detail["count"] <= pending + 2, (pending, detail)
    assert detail["first_utc_us"] <= detail["last_utc_us"]
    assert "stopped" in detail["reason"]
    figures.update(pending_at_stop=pending, logged=detail)
