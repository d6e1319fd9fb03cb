"""Disk full (requirement 2): relays keep switching with unchanged latency, events
wait in memory and are written in order once there is room, and the fault is
raised and cleared.

Two ways to fill the disk:

- ``tmpfs``: the io process runs in its own mount namespace (``unshare``; a user
  namespace too, so no root is needed) with its data directory on a 16 MiB tmpfs
  that the test fills with a file until ``ENOSPC``; deleting the file makes room.
  The test reaches the directory through ``/proc/<pid>/root``; SQLite resolves
  that link to the host's directory, so the test reads a copy of the log taken
  once every event is written. Skipped where the kernel refuses the namespaces.
- ``page-limit``: SQLite's ``max_page_count``, set and lifted by signals to the io
  process (:mod:`tests.faults.io_child`): the file cannot grow, as on a full disk.

The short variant uses the tmpfs where it can be made, the page limit elsewhere;
the full one runs both.
"""

from __future__ import annotations

import errno
import functools
import itertools
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import (
    MEASURED,
    PAIRS,
    Listener,
    integrity,
    latencies,
    latency_change,
    now_ns,
    recording_io,
    rows,
    running,
    set_config,
    toggle,
    written,
)
from tests.faults.pins import read_record
from tests.io.conftest import IoProc
from tests.support import wait_for

RATE_HZ = 200  # edges a second, in turn on IN1, IN2, IN4
TMPFS_SIZE = "16m"
# In a new user and mount namespace: a tmpfs on $1, a link $2 to it that the test
# can follow from outside, then the io process ($4...).
IN_NAMESPACE = [
    "unshare", "--user", "--map-root-user", "--mount", "--",
    "sh", "-c", 'mount -t tmpfs -o size="$3" tmpfs "$1" && ln -sfn "/proc/$$/root$1" "$2"'
    ' && shift 3 && exec "$@"', "sh",
]  # fmt: skip


@functools.cache
def tmpfs_refused() -> str | None:
    """Why a tmpfs cannot be mounted in a namespace here (None: it can)."""
    try:
        done = subprocess.run(
            [*IN_NAMESPACE[:4], "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", "/mnt"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return None if done.returncode == 0 else done.stderr.strip() or "unshare failed"


class Disk:
    """A full disk for the io process, made and undone by one of the two ways."""

    def __init__(self, way: str, tmp_path: Path) -> None:
        self.way = way
        self.record = tmp_path / "pins.record"
        if way == "tmpfs":
            mount, view = tmp_path / "disk", tmp_path / "view"
            mount.mkdir()
            wrapper = [*IN_NAMESPACE, str(mount), str(view), TMPFS_SIZE]
            self.io = recording_io(view, self.record, command=wrapper)
        else:
            self.io = recording_io(tmp_path / "data", self.record)
        self.filler = self.io.data_dir / "filler"
        self.copy = tmp_path / "copy"

    def log(self) -> Path:
        """The log file to read (with nothing being written), or a copy of it."""
        db = self.io.data_dir / "alarmbridge.db"
        if self.way != "tmpfs":
            return db
        self.copy.mkdir(exist_ok=True)
        for name in (db.name, db.name + "-wal"):
            shutil.copyfile(db.with_name(name), self.copy / name)
        return self.copy / db.name

    def fill(self) -> int:
        """Make the disk full; how many bytes the filler took (0 for the page limit)."""
        if self.way != "tmpfs":
            self._signal(signal.SIGUSR1)
            return 0
        written = 0
        with self.filler.open("wb", buffering=0) as f:
            for size in (1 << 16, 4096, 512, 1):  # to the last byte
                try:
                    while True:
                        written += f.write(b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
        return written

    def free(self) -> None:
        if self.way == "tmpfs":
            self.filler.unlink()
        else:
            self._signal(signal.SIGUSR2)

    def _signal(self, signum: int) -> None:
        assert self.io.proc is not None
        self.io.proc.send_signal(signum)


def eventlog_fault(io: IoProc) -> str | None:
    fault: str | None = io.client.request("status")["eventlog"]["fault"]
    return fault


@pytest.fixture(
    params=[
        "short",
        pytest.param("full-tmpfs", marks=pytest.mark.faults_full),
        pytest.param("full-page-limit", marks=pytest.mark.faults_full),
    ]
)
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Disk, int]:
    variant = str(request.param)
    if variant.startswith("full"):
        way = variant.removeprefix("full-")
    else:
        way = "page-limit" if tmpfs_refused() else "tmpfs"
    if way == "tmpfs" and tmpfs_refused():
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {tmpfs_refused()}")
    return Disk(way, tmp_path), 300 if variant == "short" else 3000


def test_a_full_disk_keeps_relays_switching_and_loses_no_event(
    disk: tuple[Disk, int], figures: dict[str, Any]
) -> None:
    full_disk, edges = disk
    io = full_disk.io
    with running(io):
        set_config(io, instant=MEASURED)
        listener = Listener(io.client)
        quiet = now_ns()
        toggle(io, MEASURED, edges, RATE_HZ)

        filled = now_ns()
        filler_bytes = full_disk.fill()
        toggle(io, MEASURED, edges, RATE_HZ)
        wait_for(lambda: eventlog_fault(io) == "disk-full")
        status = io.client.request("status")
        assert "eventlog:disk-full" in {f["key"] for f in status["faults"]}
        pending = status["eventlog"]["pending"]
        assert pending > edges  # the input and output events of the edges, at least

        freed = now_ns()
        full_disk.free()
        wait_for(lambda: eventlog_fault(io) is None and written(io), timeout=15)
        flushed = (now_ns() - freed) / 1e6
        wait_for(lambda: not io.client.request("status")["faults"])
        db = full_disk.log()
        log = rows(db, "mono_ns >= ?", filled)
        assert integrity(db) == "ok"
        wait_for(functools.partial(listener.caught_up, max(r["seq"] for r in log)), timeout=15)
        streamed = listener.stop()

    # Nothing lost: every relay change the io process made while the disk was full
    # is in the log, with the input change that caused it; in the order it happened.
    changes = [x for x in read_record(full_disk.record) if x.t_ns >= filled and x.what == "set"]
    assert len([x for x in changes if x.bcm in PAIRS]) == edges
    switched = [x for x in changes if x.bcm in PAIRS.values()]
    inputs = [r for r in log if r["kind"] == "input"]
    outputs = [r for r in log if r["kind"] == "output"]
    assert len(inputs) == len(outputs) == len(switched) > edges * 0.9
    channels = {r["channel"] for r in log if r["kind"] in ("input", "output")}
    for channel in channels:  # each channel's rows in the order they happened
        mine = [r for r in log if r["channel"] == channel]
        assert [r["mono_ns"] for r in mine] == sorted(r["mono_ns"] for r in mine)
        states = [r["state"] for r in mine]
        assert all(a != b for a, b in itertools.pairwise(states)), (channel, states)
    faults = [(r["channel"], r["state"]) for r in log if r["kind"] == "fault"]
    assert faults == [("eventlog", "raised"), ("eventlog", "cleared")]
    cleared = next(r["seq"] for r in log if r["kind"] == "fault" and r["state"] == "cleared")
    assert max(r["seq"] for r in inputs) < cleared  # the backlog is written before "cleared"
    assert not [r for r in log if r["state"] == "events-lost"]
    seqs = [e["seq"] for e in streamed]
    assert seqs == sorted(seqs)
    assert {r["seq"] for r in log} <= set(seqs)  # each was streamed, once committed

    normal = latencies(full_disk.record, quiet, filled)
    full = latencies(full_disk.record, filled, freed)
    figures.update(
        way=full_disk.way,
        filler_bytes=filler_bytes,
        edges_while_full=edges,
        events_buffered_at_peak=pending,
        events_lost=0,
        space_back_to_all_written_ms=round(flushed),
        latency=latency_change(normal, full),
    )
