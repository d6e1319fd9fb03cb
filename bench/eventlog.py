"""Metric 2: the durable event log, through the real writer.

- Throughput: :class:`~app.eventlog.writer.EventWriter` (its defaults: classic
  group commit, an idle writer commits at once and what arrives meanwhile forms
  the next batch, up to 500 rows; ``synchronous=FULL``, WAL) on a database
  made by the real start-up path, fed as fast as it takes events without its
  buffer overflowing (the producer pauses while more than 8,000 are pending).
- Bytes written per event: ``/proc/self/io`` before and after (``write_bytes``,
  what reached the storage layer, WAL checkpoints included; ``wchar``, what was
  handed to ``write()``).
- Submit to committed at a steady rate (10/s, sparse alarms; 2,000/s, a burst).
  The edge-to-committed figure through the whole io process comes from the edge
  bench.
- Baseline: plain sqlite3, the same file layout and pragmas (WAL,
  ``synchronous=FULL``), one INSERT per transaction (for the rate, and each
  INSERT's own time for the latency: what one commit and its fsync cost here).
  For reference also plain sqlite3 with 500 rows per transaction, the ceiling
  of group commit without AlarmBridge's code.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.clock import SystemClock
from app.eventlog.rows import event_to_row
from app.eventlog.startup import prepare_database
from app.eventlog.writer import EventWriter
from app.events import Cause, Event, EventStamper, Kind, NewEvent
from bench.common import MS, Check, Context, Target, checks_json, proc_io, summary

SOURCE = "bench"
DETAIL = {"contact": "closed", "contact_type": "NO", "kind": "alarm"}
HIGH_WATER = 8_000  # the writer's buffer holds 10,000: stay below it

NOTES = {
    "eventlog.rate": "The writer is one Python thread: for each event it builds a row dict "
    "(event_to_row), SQLAlchemy binds it for executemany, and the committed Event is built "
    "again for on_commit. That Python work, not SQLite or the fsync, sets the ceiling: "
    "compare plain sqlite3 with the same 500-row transactions in the details.",
    "eventlog.latency": "An isolated event is committed at once (classic group commit): "
    "what it waits for is the writer thread waking, one transaction and its fsync; the "
    "baseline, one plain sqlite3 INSERT and commit, is the floor.",
}

PI_NOTE = (
    "On a Pi the fsync is the SD card's: typically several to tens of milliseconds, and "
    "worse on cheap cards, so the one-transaction-per-event baseline falls to tens of "
    "events per second while group commit keeps the cost per event small. Python's share "
    "scales with the CPU (3-5 times slower per core, a rule of thumb). The bytes written "
    "per event are what wears the card: they do not depend on the CPU."
)


def _event(stamper: EventStamper, n: int) -> NewEvent:
    return stamper.make(
        Kind.INPUT,
        "alarm" if n % 2 == 0 else "normal",
        Cause.INPUT,
        channel=f"IN{n % 4 + 1}",
        source=SOURCE,
        detail=DETAIL,
    )


class _Sink:
    """``on_commit``: counts our events and times them from their ``mono_ns``."""

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.count = 0
        self.commits = 0
        self.latencies: list[float] = []
        self.done = threading.Event()
        self.timing = False

    def __call__(self, events: Sequence[Event]) -> None:
        now = time.monotonic_ns()
        ours = [e for e in events if e.source == SOURCE]
        if not ours:
            return
        self.commits += 1
        self.count += len(ours)
        if self.timing:
            self.latencies += [(now - e.mono_ns) / 1e6 for e in ours]
        if self.count >= self.expect:
            self.done.set()


def _writer(path: Path, sink: _Sink, **kwargs: Any) -> tuple[EventWriter, EventStamper]:
    stamper = EventStamper("bench", SystemClock())
    prepared = prepare_database(path, stamper=stamper)
    writer = EventWriter(prepared, stamper=stamper, on_commit=sink, **kwargs)
    writer.start()
    return writer, stamper


def _size(path: Path) -> int:
    return sum(
        Path(str(path) + s).stat().st_size for s in ("", "-wal") if Path(str(path) + s).exists()
    )


def throughput(directory: Path, n: int) -> dict[str, Any]:
    path = directory / "writer.db"
    sink = _Sink(n)
    writer, stamper = _writer(path, sink)
    try:
        events = [_event(stamper, i) for i in range(n)]
        time.sleep(0.2)  # the start-up events are committed
        size0, io0 = _size(path), proc_io()
        started = time.perf_counter()
        for i, event in enumerate(events):
            writer.submit(event)
            if i % 500 == 499:
                while writer.pending > HIGH_WATER:
                    time.sleep(0.0005)
        if not sink.done.wait(120):
            raise RuntimeError(f"the writer committed {sink.count} of {n} events in 120 s")
        took = time.perf_counter() - started
        io1 = proc_io()
        dropped = writer.dropped
    finally:
        writer.stop()
    return {
        **_throughput(n, took, io0, io1),
        "commits": sink.commits,
        "rows_per_commit": round(n / max(sink.commits, 1), 1),
        "dropped": dropped,
        "file_bytes_per_event": round((_size(path) - size0) / n, 1),
    }


def _throughput(n: int, took: float, io0: dict[str, int], io1: dict[str, int]) -> dict[str, Any]:
    """Events, time, rate and bytes written per event (from /proc/self/io)."""
    return {
        "events": n,
        "seconds": round(took, 3),
        "events_per_s": round(n / took, 1),
        "write_bytes_per_event": round(
            (io1.get("write_bytes", 0) - io0.get("write_bytes", 0)) / n, 1
        ),
        "wchar_per_event": round((io1.get("wchar", 0) - io0.get("wchar", 0)) / n, 1),
        "write_calls_per_event": round((io1.get("syscw", 0) - io0.get("syscw", 0)) / n, 3),
    }


def paced(directory: Path, rate: float, seconds: float, **kwargs: Any) -> dict[str, Any]:
    """Submit ``rate`` events a second for ``seconds``; time each to its commit."""
    n = max(2, round(rate * seconds))
    sink = _Sink(n)
    sink.timing = True
    writer, stamper = _writer(directory / f"paced-{rate:g}-{len(kwargs)}.db", sink, **kwargs)
    try:
        time.sleep(0.2)
        start = time.perf_counter()
        for i in range(n):
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            writer.submit(_event(stamper, i))
        sink.done.wait(30)
    finally:
        writer.stop()
    return {"rate_per_s": rate, "events": n, "latency_ms": summary(sink.latencies)}


def _raw_rows(n: int) -> list[tuple[Any, ...]]:
    stamper = EventStamper("bench", SystemClock())
    rows = []
    for i in range(n):
        row = event_to_row(_event(stamper, i))
        rows.append(tuple(row.values()))
    return rows


def _raw_connection(path: Path) -> sqlite3.Connection:
    stamper = EventStamper("bench", SystemClock())
    prepare_database(path, stamper=stamper).engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


_INSERT = (
    "INSERT INTO events (utc_us, mono_ns, boot_id, clock_synced, kind, channel, state, cause,"
    " source, dvr_channel, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)


def sqlite_one_per_transaction(directory: Path, seconds: float) -> dict[str, Any]:
    """Plain sqlite3: each INSERT its own transaction (autocommit), for ``seconds``."""
    conn = _raw_connection(directory / "raw-single.db")
    rows = _raw_rows(2000)
    try:
        io0 = proc_io()
        n = 0
        latencies: list[float] = []
        started = now = time.perf_counter()
        deadline = started + seconds
        while now < deadline:
            conn.execute(_INSERT, rows[n % len(rows)])
            n += 1
            before, now = now, time.perf_counter()
            latencies.append((now - before) * MS)
        took = now - started
        io1 = proc_io()
    finally:
        conn.close()
    return {**_throughput(n, took, io0, io1), "commit_ms": summary(latencies)}


def sqlite_batched(directory: Path, n: int, batch: int = 500) -> dict[str, Any]:
    """Plain sqlite3: ``batch`` rows per transaction (one executemany each)."""
    conn = _raw_connection(directory / "raw-batched.db")
    rows = _raw_rows(n)
    try:
        io0 = proc_io()
        started = time.perf_counter()
        for i in range(0, n, batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT, rows[i : i + batch])
            conn.execute("COMMIT")
        took = time.perf_counter() - started
        io1 = proc_io()
    finally:
        conn.close()
    return _throughput(n, took, io0, io1)


def run(ctx: Context) -> dict[str, Any]:
    mode = ctx.mode
    directory = ctx.scratch("eventlog")
    ctx.log("  baseline: sqlite3, one insert per transaction")
    single = sqlite_one_per_transaction(directory, mode.sqlite_baseline_s)
    ctx.log(f"  the writer: {mode.writer_events:,} events")
    writer = throughput(directory, mode.writer_events)
    ctx.log("  reference: sqlite3, 500 rows per transaction")
    batched = sqlite_batched(directory, mode.writer_events)
    ctx.log("  submit to committed at 10/s and 2,000/s")
    sparse = paced(directory, 10, mode.writer_paced_s)
    busy = paced(directory, 2000, mode.writer_paced_s)
    checks = [
        Check(
            "eventlog.rate",
            2,
            "events/s, real writer, synchronous=FULL, group commit",
            writer["events_per_s"],
            "events/s",
            Target(">=", 20_000),
            baseline=single["events_per_s"],
            baseline_label="sqlite3, 1 insert per transaction",
            ratio_label="writer / baseline (higher is better)",
        ),
        Check(
            "eventlog.bytes",
            2,
            "bytes written per event (write_bytes)",
            writer["write_bytes_per_event"],
            "B",
            baseline=single["write_bytes_per_event"],
            baseline_label="sqlite3, 1 insert per transaction",
        ),
        Check(
            "eventlog.latency.sparse",
            2,
            "submit to committed p99, 10 events/s",
            sparse["latency_ms"].get("p99"),
            "ms",
            Target("<=", 10),
            baseline=single["commit_ms"].get("p99"),
            baseline_label="sqlite3, one INSERT and commit",
        ),
        Check(
            "eventlog.latency.busy",
            2,
            "submit to committed p99, 2,000 events/s",
            busy["latency_ms"].get("p99"),
            "ms",
            Target("<=", 100),
        ),
    ]
    details = {
        "writer": writer,
        "sqlite_one_per_transaction": single,
        "sqlite_500_per_transaction": batched,
        "paced": {"10/s": sparse, "2000/s": busy},
    }
    return {"checks": checks_json(checks, NOTES), "details": details, "pi_note": PI_NOTE}
