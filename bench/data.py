"""Event logs of a given size, built fast and kept in a cache.

The schema comes from the real start-up path (:func:`prepare_database`: Alembic,
the same indexes); the rows are written with plain sqlite3 in large transactions
with ``synchronous=OFF``, since building the fixture is not what is measured.
The rows look like a real appliance's: incidents of input alarm, output active,
input normal, output idle on four channels, now and then an operator, fault or
system event, spread evenly over the year before the build.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from app.clock import SystemClock
from app.eventlog.startup import prepare_database
from app.events import EventStamper

VERSION = 1  # bump when the rows change: cached files are rebuilt
YEAR_US = 365 * 24 * 3600 * 1_000_000
CHANNELS = 4
BOOT = "bench-boot-0000"

Row = tuple[int, int, str, int, str, str | None, str, str, str | None, str | None, str | None]

_INPUT_ALARM = json.dumps({"contact": "closed", "contact_type": "NO", "kind": "alarm"})
_INPUT_NORMAL = json.dumps({"contact": "open", "contact_type": "NO", "kind": "alarm"})
_RELAY_ON = json.dumps({"relay": "energised"})
_RELAY_OFF = json.dumps({"relay": "released"})
_OTHER: list[tuple[str, str | None, str, str, str | None, str | None]] = [
    ("operator", "OUT2", "manual-start", "user", "web", json.dumps({"duration_ms": 30000})),
    ("fault", "IN3", "raised", "system", None, json.dumps({"code": "stuck", "message": "IN3"})),
    ("system", None, "started", "system", None, json.dumps({"board": "default"})),
    ("fault", "IN3", "cleared", "system", None, json.dumps({"code": "stuck"})),
]


def rows(n: int, *, end_us: int, seed: int = 8) -> Iterator[Row]:
    """``n`` event rows, oldest first, evenly spread over the year before ``end_us``."""
    rng = random.Random(seed)
    step = YEAR_US / max(n, 1)
    start = end_us - YEAR_US
    mono = 0
    i = 0
    while i < n:
        channel = rng.randrange(1, CHANNELS + 1)
        incident: list[tuple[str, str | None, str, str, str | None, str | None, str | None]]
        if rng.random() < 0.01:
            kind, ch, state, cause, source, detail = _OTHER[rng.randrange(len(_OTHER))]
            incident = [(kind, ch, state, cause, source, None, detail)]
        else:
            inp, out, dvr = f"IN{channel}", f"OUT{channel}", f"CH{channel}"
            incident = [
                ("input", inp, "alarm", "input", None, None, _INPUT_ALARM),
                ("output", out, "active", "input", inp, dvr, _RELAY_ON),
                ("input", inp, "normal", "input", None, None, _INPUT_NORMAL),
                ("output", out, "idle", "input", inp, dvr, _RELAY_OFF),
            ]
        for kind, ch, state, cause, source, dvr_channel, detail in incident:
            if i >= n:
                return
            utc = int(start + i * step)
            mono += int(step * 1000)
            yield (utc, mono, BOOT, 1, kind, ch, state, cause, source, dvr_channel, detail)
            i += 1


def build(path: Path, n: int, *, chunk: int = 100_000) -> None:
    """A new event log at ``path`` with ``n`` events (replacing any file there)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    prepared = prepare_database(path, stamper=EventStamper(BOOT, SystemClock()))
    prepared.engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -200000")  # 200 MB while building
        source = rows(n, end_us=time.time_ns() // 1000)
        sql = (
            "INSERT INTO events (utc_us, mono_ns, boot_id, clock_synced, kind, channel, state,"
            " cause, source, dvr_channel, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        )
        done = 0
        while done < n:
            batch = [row for _, row in zip(range(chunk), source, strict=False)]
            if not batch:
                break
            conn.execute("BEGIN")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
            done += len(batch)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no ANALYZE: the appliance runs none
    finally:
        conn.close()


_LOCK = threading.Lock()


def cached(cache: Path, n: int, *, log: object = None) -> Path:
    """The cached event log of ``n`` events, built on first use (under a name of its
    own, then renamed into place, so a half-built file is never used)."""
    path = cache / f"events-v{VERSION}-{n}.db"
    ready = Path(str(path) + ".ok")
    with _LOCK:
        if not ready.exists():
            started = time.perf_counter()
            building = cache / f"building-{os.getpid()}-{n}.db"
            build(building, n)
            os.replace(building, path)
            for suffix in ("-wal", "-shm"):
                Path(str(building) + suffix).unlink(missing_ok=True)
            ready.write_text(f"{n} events, built in {time.perf_counter() - started:.1f} s\n")
            if callable(log):
                log(f"  built a {n:,}-event log in {time.perf_counter() - started:.1f} s")
    return path


def copy_into(source: Path, data_dir: Path) -> Path:
    """Copy an event log into ``data_dir`` as the appliance's database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / "alarmbridge.db"
    shutil.copyfile(source, target)
    return target
