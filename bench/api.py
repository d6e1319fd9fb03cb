"""Metric 4: the events endpoint, one web worker, 50 connections.

The real processes: ``alarmbridge io`` and ``alarmbridge web`` (one uvicorn
worker, as shipped) on simulated pins, with an event log of 100,000 events (the
least retention keeps). ``GET /api/v1/events`` with no filters: the newest 100
events, the event log page's first request. Load by wrk where installed, else
:mod:`bench.loadgen`; a short warm-up first.

Baseline: a bare FastAPI app on the same uvicorn settings, one worker, answering
the same path with the very body the real endpoint returned (fetched once): what
the framework and the server cost, without the query and the serialisation.

For context, the single-connection median of every other GET endpoint is kept
in the details.
"""

from __future__ import annotations

from typing import Any

from bench import load
from bench.common import Check, Context, Target, checks_json, free_port
from bench.data import cached, copy_into
from bench.edge import SURVEY_PATHS, survey
from bench.procs import PYTHON, Proc, Stack, http_get, wait_http

PATH = "/api/v1/events"
CONNECTIONS = 50

NOTES = {
    "api.rps": "One worker is one core, so requests/s is about 1000 / (milliseconds of "
    "Python per request). Since #17 the page is built from the rows in a worker thread "
    "on a connection that thread keeps (no Event copy, no per-event model, no file "
    "opened per request). A py-spy profile of the web process under this load (taken "
    "while writing #17, 50 connections, not part of the bench) put, of the samples that "
    "were running or waiting for the GIL: about 37 % in the page's worker function (23 % "
    "the query: SQLAlchemy's execute and SQLite's fetch; 9 % the JSON), about 30 % in the "
    "worker threads handing their results back to the event loop (call_soon_threadsafe's "
    "wake-up, mostly waiting for the GIL among the pool's threads), about 16 % in the "
    "middleware and routing on the loop, and 6 % in the API token's lookup in the "
    "accounts database (a thread hop of its own). The baseline answers the same bytes "
    "with no token check, no thread hop and no query.",
    "api.p99": "With 50 connections queued on one worker each request waits for the others: "
    "p99 is roughly 50 times the cost of one request, so it follows from the requests/s "
    "figure.",
}

REMEDIES = {
    "api.rps": "Fewer thread hops per request: check the API token and run the query in "
    "one worker call (or keep a token's check for a second per connection), and run the "
    "page's query on the thread's plain sqlite3 connection with the SQL compiled once "
    "per filter shape.",
}

PI_NOTE = (
    "One worker on a Pi 4 core does the same Python work 3-5 times slower (a rule of "
    "thumb), so expect requests/s to fall in proportion. Fifty concurrent clients is far "
    "more than an appliance's UI sees (a few browsers and an integration), but the figure "
    "bounds how fast a burst of page loads or a scripted export of many pages is served."
)


def run(ctx: Context) -> dict[str, Any]:
    mode = ctx.mode
    directory = ctx.scratch("api")
    copy_into(cached(ctx.cache, mode.db_events, log=ctx.log), directory / "data")
    stack = Stack(directory / "data")
    baseline: Proc | None = None
    try:
        stack.start()
        status, body = http_get(stack.port, PATH)
        assert status == 200, f"{PATH} answered {status}"
        body_file = directory / "body.json"
        body_file.write_bytes(body)
        port = free_port()
        argv = [
            PYTHON,
            "-m",
            "bench.baselines",
            "api",
            "--port",
            str(port),
            "--body",
            str(body_file),
        ]
        baseline = Proc("baseline-api", argv, directory / "baseline.log").start()
        wait_http(port, PATH, proc=baseline)
        tool = ctx.load_tool
        seconds, single = mode.api_seconds, mode.api_single_seconds
        if mode.name != "smoke":
            ctx.log("  warm-up")
            load.run(tool, stack.port, PATH, connections=CONNECTIONS, seconds=2)
            load.run(tool, port, PATH, connections=CONNECTIONS, seconds=2)
        ctx.log(f"  {CONNECTIONS} connections, {seconds:g} s each: AlarmBridge, baseline")
        ours = load.run(tool, stack.port, PATH, connections=CONNECTIONS, seconds=seconds)
        base = load.run(tool, port, PATH, connections=CONNECTIONS, seconds=seconds)
        ctx.log("  one connection")
        ours_1 = load.run(tool, stack.port, PATH, connections=1, seconds=single)
        base_1 = load.run(tool, port, PATH, connections=1, seconds=single)
        ctx.log("  every GET endpoint, one request at a time")
        medians = survey(stack.port, SURVEY_PATHS, 1 if mode.name == "smoke" else 10)
        io_pid = stack.io.pid if stack.io else None
        web_pid = stack.web.pid if stack.web else None
    finally:
        if baseline is not None:
            baseline.stop()
        stack.stop()
    checks = [
        Check(
            "api.rps",
            4,
            f"requests/s, {CONNECTIONS} connections, 1 worker",
            ours["rps"],
            "req/s",
            Target(">=", 0.2, on="ratio"),
            baseline=base["rps"],
            baseline_label="bare FastAPI, same body",
            ratio_label="AlarmBridge / baseline (higher is better)",
        ),
        Check(
            "api.p99",
            4,
            f"p99 latency, {CONNECTIONS} connections",
            ours["latency_ms"].get("p99"),
            "ms",
            Target("<=", 100),
            baseline=base["latency_ms"].get("p99"),
            baseline_label="bare FastAPI, same body",
        ),
        Check(
            "api.single.p50",
            4,
            "p50 latency, one connection",
            ours_1["latency_ms"].get("p50"),
            "ms",
            baseline=base_1["latency_ms"].get("p50"),
            baseline_label="bare FastAPI, same body",
        ),
    ]
    details = {
        "path": PATH,
        "body_bytes": len(body),
        "events_in_log": mode.db_events,
        "load_tool": ctx.load_tool,
        "alarmbridge": {"50": ours, "1": ours_1},
        "baseline": {"50": base, "1": base_1},
        "endpoints_p50_ms": medians,
        "pids": {"io": io_pid, "web": web_pid},
    }
    return {
        "checks": checks_json(checks, NOTES),
        "details": details,
        "pi_note": PI_NOTE,
        "remedies": REMEDIES,
    }
