"""Metric 6: memory: resident set size of the web and io processes.

The real processes (``alarmbridge io`` and ``alarmbridge web``, 4 channels, an
event log of 100,000 events). Requests go in turn to a mix of what browsers and
integrations ask for: the dashboard, status, events pages (with and without a
channel), the hourly chart, the configuration. RSS is read from
``/proc/PID/status`` at start, after the first 10,000 requests and at the end;
growth is end over 10k. ``make bench`` ends at 30,000 requests (time: one
worker answers a few hundred a second); ``make bench-full`` runs the full
100,000 (``memory_slow.json``).

Baselines: for the web process, the bare FastAPI app (:mod:`bench.baselines`)
after as many requests on its one route; for the io process, the bare gpiozero
script with the same 4 channels, idle.
"""

from __future__ import annotations

import time
from typing import Any

from bench import load
from bench.common import MIB, Check, Context, Target, checks_json, free_port, rss_bytes
from bench.data import cached, copy_into
from bench.procs import PYTHON, Proc, Stack, http_get, wait_http

PATHS = [
    "/api/v1/status",
    "/api/v1/events?limit=20",
    "/",
    "/api/v1/events?channel=IN2&limit=20",
    "/api/v1/events/histogram",
    "/api/v1/config",
]
CONNECTIONS = 10
DEFAULT_TOTAL = 30_000

NOTES = {
    "memory.web": "The web process imports FastAPI (its telemetry module brings "
    "OpenTelemetry's API), Starlette, pydantic (with its compiled core) and "
    "pydantic-settings, SQLAlchemy, Jinja2, argon2 (logins) and uvicorn (with click); "
    "the bare FastAPI baseline shows how much of the total is the framework before any "
    "AlarmBridge code. Since #17 it no longer imports Alembic, Mako or gpiozero "
    "(tests/io/test_claim_first.py checks it).",
    "memory.io": "The io process imports SQLAlchemy, pydantic and pydantic-settings "
    "besides gpiozero, and keeps SQLite's page cache; since #17 Alembic and Mako only "
    "when a migration is due. The bare gpiozero script is the floor for a Python process "
    "that drives the same pins.",
    "memory.growth": "RSS grew between the 10k and the final reading: see the readings in the "
    "details. Part of early growth is caches filling (SQLite's page cache, Jinja's template "
    "cache, pydantic's validators) rather than a leak; a steady rise to the end would be one.",
}

REMEDIES = {
    "memory.web": "What is left is the framework and the libraries the web process uses; "
    "SQLAlchemy Core could give way to plain sqlite3 for its few queries.",
    "memory.io": "Keep SQLAlchemy and pydantic out of the io process's steady state (plain "
    "sqlite3 in the writer, the socket's commands parsed without pydantic): the bare "
    "gpiozero script shows the floor for Python with the pins is about 20 MiB. That is a "
    "rewrite of its storage layer, not a tweak.",
}

PI_NOTE = (
    "RSS is about the same on a 64-bit Pi OS (the same interpreter and libraries); a Pi "
    "with 1 GB has room for both processes several times over, a 512 MB Pi Zero 2 W less "
    "so. Growth per request does not depend on the CPU."
)


def _mib(n: int) -> float:
    return round(n / MIB, 1)


def _run(ctx: Context, total: int, tag: str) -> dict[str, Any]:
    mode = ctx.mode
    first = min(mode.memory_first, total)
    directory = ctx.scratch(f"memory{tag}")
    copy_into(cached(ctx.cache, mode.db_events, log=ctx.log), directory / "data")
    stack = Stack(directory / "data")
    base: Proc | None = None
    gz: Proc | None = None
    readings: dict[str, Any] = {}
    try:
        stack.start()
        assert stack.web is not None and stack.io is not None
        web, io = stack.web.pid, stack.io.pid
        _, body = http_get(stack.port, "/api/v1/events?limit=20")
        (directory / "body.json").write_bytes(body)
        port = free_port()
        argv = [PYTHON, "-m", "bench.baselines", "api", "--port", str(port)]
        argv += ["--body", str(directory / "body.json")]
        base = Proc("baseline-api", argv, directory / "baseline.log").start()
        gz_argv = [PYTHON, "-m", "bench.baselines", "gpiozero", "--channels", "4"]
        gz = Proc("baseline-gpiozero", gz_argv, directory / "gpiozero.log").start()
        wait_http(port, "/api/v1/events", proc=base)
        time.sleep(0.5)
        readings["start"] = {"web": rss_bytes(web), "io": rss_bytes(io)}
        ctx.log(f"  {first:,} requests")
        runs = [load.count(stack.port, PATHS, requests=first, connections=CONNECTIONS)]
        readings[str(first)] = {"web": rss_bytes(web), "io": rss_bytes(io)}
        ctx.log(f"  {total - first:,} more")
        if total > first:
            runs.append(
                load.count(stack.port, PATHS, requests=total - first, connections=CONNECTIONS)
            )
        readings[str(total)] = {"web": rss_bytes(web), "io": rss_bytes(io)}
        ctx.log(f"  baseline: {first:,} requests")
        base_start = rss_bytes(base.pid)
        load.count(port, ["/api/v1/events"], requests=first, connections=CONNECTIONS)
        base_rss = rss_bytes(base.pid)
        gz_rss = rss_bytes(gz.pid)
    finally:
        for proc in (base, gz):
            if proc is not None:
                proc.stop()
        stack.stop()
    web_first, web_end = readings[str(first)]["web"], readings[str(total)]["web"]
    checks = [
        Check(
            f"memory.web{tag}",
            6,
            f"web RSS after {first:,} requests",
            _mib(web_first),
            "MiB",
            Target("<=", 70),
            baseline=_mib(base_rss),
            baseline_label=f"bare FastAPI after {first:,} requests",
        ),
        Check(
            f"memory.io{tag}",
            6,
            "io RSS (after the same run)",
            _mib(readings[str(total)]["io"]),
            "MiB",
            Target("<=", 40),
            baseline=_mib(gz_rss),
            baseline_label="bare gpiozero script, 4 channels",
        ),
        Check(
            f"memory.growth{tag}",
            6,
            f"web RSS growth, {first:,} to {total:,} requests",
            round(100 * (web_end - web_first) / web_first, 2),
            "%",
            Target("<=", 5),
        ),
    ]
    details = {
        "paths": PATHS,
        "connections": CONNECTIONS,
        "rss_mib": {k: {p: _mib(v) for p, v in r.items()} for k, r in readings.items()},
        "baseline_web_rss_mib": {"start": _mib(base_start), str(first): _mib(base_rss)},
        "baseline_gpiozero_rss_mib": _mib(gz_rss),
        "load": runs,
    }
    return {
        "checks": checks_json(checks, NOTES),
        "details": details,
        "pi_note": PI_NOTE,
        "remedies": REMEDIES,
    }


def run(ctx: Context) -> dict[str, Any]:
    total = ctx.mode.memory_total if ctx.mode.name == "smoke" else DEFAULT_TOTAL
    return _run(ctx, total, "")


def run_slow(ctx: Context) -> dict[str, Any]:
    return _run(ctx, ctx.mode.memory_total, ".slow")
