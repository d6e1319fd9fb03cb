"""Metric 3: history query, the newest 100 events of a channel in a time range.

Through the real code: :func:`app.eventlog.queries.newest` (SQLAlchemy Core,
keyset order, rows turned into events) on an engine made the way the web
process makes it for its pages (``must_exist``, ``NullPool``: every query opens
the file afresh; since #17 the events API keeps one connection per worker thread
instead, and builds its JSON from the rows: metric 4). Each query picks a
channel and a 7-day window at random in the log's year. The page cache is
warm: the file is read through once, then a warm-up runs, as on an appliance
whose log fits in its memory (a 1M-event log is about 170 MB); cold-cache
queries are not measured.

Baseline: the very SQL that query sent (captured from the engine), run with
plain sqlite3 on one open connection: what SQLite alone takes. The query plan
comes from ``EXPLAIN QUERY PLAN`` of that SQL.

``make bench`` runs 100k and 1M events; ``make bench-full`` adds 10M (its own
result file, ``history_slow.json``, with its own 100k run to compare with).
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import NullPool

from app.eventlog.database import make_engine
from app.eventlog.queries import newest, time_span
from bench.common import MS, Check, Context, Target, checks_json, summary
from bench.data import cached

INDEX = "ix_events_channel_utc_us_seq"
FLAT = 1.3  # a p50 ratio up to this counts as flat
TIMES = "\u00d7"
WINDOW_US = 7 * 24 * 3600 * 1_000_000
CHANNELS = [f"IN{n}" for n in range(1, 5)] + [f"OUT{n}" for n in range(1, 5)]

NOTES = {
    "history.p99": "A query takes about 2 ms at the median, most of it Python: SQLAlchemy "
    "compiles and binds the query, opens the file afresh (NullPool), builds a row mapping "
    "per row, and every row becomes an Event (its JSON detail parsed); the plain sqlite3 "
    "baseline runs the same SQL in a fraction of that. The p99 is where anything else "
    "competing for the CPU shows, so it moves with the machine's load: check the caution "
    "in the section, and the p50.",
    "history.scaling": "The median grew with the log too (the p50 ratio, the row below): the "
    "index serves the query at every size (see the plan), so the growth is the cost of a "
    "deeper B-tree and of a file larger than the CPU caches.",
    "history.plan": "The query plan does not use the (channel, utc_us, seq) index: see the "
    "plan in the details.",
}

PI_NOTE = (
    "The query's work is the same on a Pi; the CPU is 3-5 times slower per core (a rule of "
    "thumb), and an SD card makes a cold first query (file not in the page cache) much "
    "slower than here. The index keeps the cost flat as the log grows: retention keeps at "
    "most 1,000,000 events (ADR 0003), so 10M is a stress case, not a configuration."
)


def _queries(span: tuple[int, int], count: int, seed: int) -> list[tuple[str, int, int]]:
    rng = random.Random(seed)
    oldest, newest_ = span
    width = max(newest_ - oldest - WINDOW_US, 1)
    out = []
    for _ in range(count):
        since = oldest + rng.randrange(width)
        out.append((rng.choice(CHANNELS), since, since + WINDOW_US))
    return out


def read_through(path: Path) -> float:
    """Read the whole file once, so the page cache holds it; seconds taken."""
    started = time.perf_counter()
    with path.open("rb") as f:
        while f.read(1 << 20):
            pass
    return time.perf_counter() - started


def measure(path: Path, queries: int, *, warmup: int) -> dict[str, Any]:
    prewarm_s = read_through(path)
    engine = make_engine(path, must_exist=True, poolclass=NullPool)
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM events" in statement:
            captured.append((statement, parameters))

    try:
        span = time_span(engine)
        assert span is not None, f"{path} is empty"
        plan = _queries(span, warmup + queries, seed=3)
        for channel, since, until in plan[:warmup]:
            newest(engine, channel=channel, since_us=since, until_us=until, limit=100)
        times: list[float] = []
        found: list[int] = []
        event.listen(engine, "before_cursor_execute", capture)
        for channel, since, until in plan[warmup:]:
            started = time.perf_counter()
            page = newest(engine, channel=channel, since_us=since, until_us=until, limit=100)
            times.append(time.perf_counter() - started)
            found.append(len(page.events))
        event.remove(engine, "before_cursor_execute", capture)
    finally:
        engine.dispose()
    raw_times = _plain_sqlite(path, captured)
    statement, parameters = captured[0]
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    finally:
        conn.close()
    query_plan = [str(row[-1]) for row in rows]
    uses_index = any(INDEX in line for line in query_plan) and not any(
        "TEMP B-TREE" in line for line in query_plan
    )
    return {
        "events": _count(path),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "read_through_s": round(prewarm_s, 2),
        "queries": queries,
        "rows_per_page": summary(found, digits=1),
        "latency_ms": summary(t * MS for t in times),
        "plain_sqlite_ms": summary(t * MS for t in raw_times),
        "sql": " ".join(statement.split()),
        "plan": query_plan,
        "uses_index": uses_index,
    }


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0)
    finally:
        conn.close()


def _plain_sqlite(path: Path, captured: list[tuple[str, Any]]) -> list[float]:
    conn = sqlite3.connect(path)
    times = []
    try:
        for statement, parameters in captured[:10]:  # warm-up
            conn.execute(statement, parameters).fetchall()
        for statement, parameters in captured:
            started = time.perf_counter()
            conn.execute(statement, parameters).fetchall()
            times.append(time.perf_counter() - started)
    finally:
        conn.close()
    return times


def _run(ctx: Context, sizes: tuple[int, ...], tag: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    checks: list[Check] = []
    warmup = 5 if ctx.mode.name == "smoke" else 50
    for n in sizes:
        ctx.log(f"  {n:,} events")
        path = cached(ctx.cache, n, log=ctx.log)
        results[str(n)] = measure(path, ctx.mode.history_queries, warmup=warmup)
    for n in sizes:
        r = results[str(n)]
        checks.append(
            Check(
                f"history.p99.{n}{tag}",
                3,
                f"p99, {n:,} events",
                r["latency_ms"]["p99"],
                "ms",
                Target("<=", 5.0),
                baseline=r["plain_sqlite_ms"]["p99"],
                baseline_label="the same SQL in plain sqlite3",
            )
        )
    small, large = results[str(sizes[0])], results[str(sizes[-1])]
    scaling = Check(
        f"history.scaling{tag}",
        3,
        f"p99 {_short(sizes[-1])} / p99 {_short(sizes[0])}",
        large["latency_ms"]["p99"],
        "ms",
        Target("<=", 2.0, on="ratio"),
        baseline=small["latency_ms"]["p99"],
        baseline_label=f"p99 at {_short(sizes[0])} events",
        ratio_label=f"{_short(sizes[-1])} / {_short(sizes[0])}",
    )
    medians = Check(
        f"history.scaling_p50{tag}",
        3,
        f"p50 {_short(sizes[-1])} / p50 {_short(sizes[0])}",
        large["latency_ms"]["p50"],
        "ms",
        baseline=small["latency_ms"]["p50"],
        baseline_label=f"p50 at {_short(sizes[0])} events",
        ratio_label=f"{_short(sizes[-1])} / {_short(sizes[0])}",
    )
    if scaling.passed is False and medians.ratio is not None and medians.ratio <= FLAT:
        p90_small, p90_large = small["latency_ms"]["p90"], large["latency_ms"]["p90"]
        tail = (
            f" (the larger log's p90 was {p90_large:.2f} ms against {p90_small:.2f} ms: "
            "the whole upper part of its distribution moved, not just the extreme)"
            if p90_large > 1.2 * p90_small
            else ""
        )
        scaling.note = (
            f"The medians are flat ({medians.ratio:.2f}{TIMES}, the row below) and the plan "
            "uses the index at every size: the typical query does not grow with the log. The "
            "p99 ratio compares two tails measured one after the other, and the tail moves "
            f"with whatever else the machine is doing{tail}."
        )
    checks += [scaling, medians]
    checks.append(
        Check(
            f"history.plan{tag}",
            3,
            f"query plan uses {INDEX} (every size)",
            1.0 if all(r["uses_index"] for r in results.values()) else 0.0,
            "yes/no",
            Target(">=", 1.0),
        )
    )
    return {
        "checks": checks_json(checks, NOTES),
        "details": {"sizes": results, "window_days": 7, "limit": 100},
        "pi_note": PI_NOTE,
    }


def _short(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def run(ctx: Context) -> dict[str, Any]:
    return _run(ctx, ctx.mode.history_sizes[:2] if ctx.mode.slow else ctx.mode.history_sizes, "")


def run_slow(ctx: Context) -> dict[str, Any]:
    """The slow mode: the smallest size and the largest (10M in ``make bench-full``)."""
    sizes = ctx.mode.history_sizes
    return _run(ctx, (sizes[0], sizes[-1]), ".slow")
