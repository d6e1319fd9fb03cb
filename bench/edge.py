"""Metric 1: edge to relay, minus the configured response time.

The real io process (:class:`~app.io.process.IoProcess`: board, engine thread,
event writer, control socket) runs in this process on simulated pins, so the
driven edge and the relay's change are read from the same recorded pin clock
(:mod:`bench.pins`). The inputs' response time is set to 0 through the normal
configuration command (``config-set``; 0 is allowed), so nothing is subtracted;
a smaller run keeps the default 50 ms and subtracts it (with random pauses of
1-60 ms between edges, so the debounce deadlines fall at every phase of the
engine's and the writer's work).

Edges are driven one at a time: close contact n, wait for its relay, a short
random pause (0.2-1 ms, so the engine goes back to sleep), open it, and so on
round the channels. Every edge therefore changes a relay, also where inputs
share relays (16 inputs, 8 relays).

Loaded: a real ``alarmbridge web`` process on the same data directory, under 50
concurrent connections on its heaviest endpoint (the GET endpoint with the
slowest median answer in a short survey, export and stream excepted), made by
wrk or :mod:`bench.loadgen`.

The same run also gives edge to committed: the io process's ``on_event`` hook
sees each event as it is committed; an input event's ``mono_ns`` is its edge.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from app.io.process import IoProcess
from app.io.protocol import Client
from app.settings import Settings
from bench import load
from bench.baselines import BareBoard
from bench.common import MS, Check, Context, Stopwatch, Target, checks_json, quantile_curve, summary
from bench.data import cached, copy_into
from bench.pins import PinWatch, last_change
from bench.procs import CLI, Proc, bench_config, board_file, claim, http_get, wait_http

CONNECTIONS = 50
WAIT_S = 2.0  # an edge whose relay has not changed by then is counted as missed

SURVEY_PATHS = [
    "/api/v1/status",
    "/api/v1/system",
    "/api/v1/events",
    "/api/v1/events?channel=IN1",
    "/api/v1/events/histogram?span=7d",
    "/api/v1/config",
    "/api/v1/inputs",
    "/api/v1/outputs",
    "/api/v1/timeline?span=7d",
    "/",
    "/inputs",
    "/outputs",
    "/events",
    "/system",
    "/schedules",
    "/simulation",
]

NOTES = {
    "edge.p50": "The baseline switches the relay inside the pin callback, on the thread that "
    "drove the edge. AlarmBridge hands the change to the engine thread (ADR 0002: callbacks "
    "only enqueue), and that thread, since #17, runs a quick tick for the inputs that "
    "changed only, and stamps and emits the events after the relay has switched. The "
    "queue-hop baseline, bare gpiozero with only that hand-off to a thread, is the "
    "like-for-like floor; what is left above it is the engine's own Python work. A "
    "cProfile of the quick tick on simulated pins (taken while writing #17, 4,000 edges, "
    "response time 0) put about half of it in updating the driven output (its state "
    "machine, its schedule, and gpiozero's write of the relay pin, a quarter of the "
    "whole), an eighth in settling the input (debounce, arming), a tenth in stamping the "
    "events after the relay, and the rest in the tick's bookkeeping (which channels, the "
    "next deadline) and the runner's queue.",
    "edge.p99.idle": "The outliers are the event writer's thread holding the GIL: every "
    "group commit builds its rows and binds them through SQLAlchemy in Python, and an edge "
    "that arrives meanwhile waits for the engine thread to get the GIL back (up to the "
    "5 ms switch interval). An experiment made while writing this bench (4 channels, 5,000 "
    "edges, twice each) showed it: with the engine's events not written at all, idle p99 "
    "fell from 1.2-1.9 ms to 0.3 ms; with the rows written but nothing handed on after the "
    "commit, it stayed at 1.0-1.3 ms.",
    "edge.p99.loaded": "Under load the io process shares two cores with the web process "
    "(saturated, one core) and the load generator; the engine thread then waits for a CPU "
    "as well as for the GIL. On a Pi the load generator is elsewhere on the network, and the "
    "io unit may run with real-time priority (architecture.md), which this bench does not "
    "use.",
    "edge.loaded_ratio": "See the loaded p99: the engine thread waits for a CPU, which the "
    "idle run never does.",
    "edge.commit": "An isolated event is committed at once (classic group commit), after "
    "its transaction and the fsync; under load the writer thread also competes for "
    "the two cores with the saturated web process and the load generator, and the web "
    "process's live-stream subscription adds work on every commit. See metric 2.",
}

REMEDIES = {
    "edge.p99.idle": "Make the writer's Python work per batch smaller: insert with the "
    "sqlite3 module's executemany on tuples (the plain-sqlite3 reference in metric 2 writes "
    "the same 500-row transactions about three times faster than the writer), so it holds "
    "the GIL for a fraction of the time.",
    "edge.commit": "See metric 2: the writer's Python work per commit and the fsync are "
    "what is left.",
    "edge.p50": "Keep ADR 0002's hand-off (it guarantees a pin callback never blocks or "
    "raises) and shorten the engine's path to the relay further: switch the relay as soon "
    "as an output's state changes, before its bookkeeping, and stamp the events after.",
    "edge.p99.loaded": "Run the io process with real-time priority on the Pi "
    "(systemd CPUSchedulingPolicy=fifo, as architecture.md allows) and the web process "
    "niced; both are deployment settings (the SD-image issue), not code.",
}

PI_NOTE = (
    "A Pi 4 runs CPython roughly 3-5 times slower per core than this machine (a rule of "
    "thumb, not measured here), and lgpio delivers real edges on its own notification "
    "thread, which adds a thread hop the mock pins do not have. Expect the idle figures "
    "several times higher; the design choice that matters on a Pi is the one measured "
    "here: the relay path never waits for the database or the web process."
)


def _drive(
    set_contact: Callable[[int, bool], None],
    input_pin: Callable[[int], Any],
    watch: PinWatch,
    channels: int,
    edges: int,
    seed: int,
    gap_s: tuple[float, float] = (0.0002, 0.001),
) -> tuple[list[float], int]:
    """Drive ``edges`` edges, a random pause in ``gap_s`` after each relay change;
    return edge-to-relay latencies (seconds) and how many relays did not change."""
    rng = random.Random(seed)
    latencies: list[float] = []
    missed = 0
    for k in range(edges):
        channel = (k // 2) % channels  # close then open each contact, round the channels
        closed = k % 2 == 0
        watch.arm()
        set_contact(channel, closed)
        edge = last_change(input_pin(channel))
        got = watch.wait(WAIT_S)
        if got is None:
            missed += 1
        else:
            latencies.append(got[1] - edge)
        time.sleep(rng.uniform(*gap_s))
    return latencies, missed


def _baseline(channels: int, edges: int, *, hop: bool = False) -> dict[str, Any]:
    board = BareBoard(channels, hop=hop)
    watch = PinWatch(board.relay_pins)
    try:
        lat, missed = _drive(
            board.drive, lambda n: board.input_pins[n], watch, channels, edges, seed=1
        )
    finally:
        watch.unwrap()
        board.close()
    return {"latency_ms": summary(x * MS for x in lat), "missed": missed, "_raw": lat}


class _Io:
    """The io process in this process, on simulated pins, configured for the bench."""

    def __init__(self, ctx: Context, channels: int, *, response_ms: int, db_events: int) -> None:
        self.data_dir = ctx.scratch(f"edge-{channels}-{response_ms}")
        copy_into(cached(ctx.cache, db_events, log=ctx.log), self.data_dir)
        board: dict[str, Any] = {"board": "default"}
        if channels != 4:
            board = {"board": "custom", "board_file": board_file(self.data_dir, channels)}
        self.settings = Settings(data_dir=self.data_dir, pins="mock", timezone="UTC", **board)
        self.commit_lat: list[float] = []
        self.record_commits = False  # (set first: the start-up events are committed at once)
        self.io = IoProcess(self.settings, on_event=self._committed)
        self.io.start()
        client = Client(self.settings.socket_path)
        config = bench_config(client.request("config-get"), response_ms=response_ms)
        client.request("config-set", config=config, user="bench")
        assert self.io.sim is not None
        self.sim = self.io.sim
        factory = self.io.board.pin_factory
        self.inputs = [factory.pin(i.pin) for i in self.io.board.inputs]
        self.watch = PinWatch({r.pin: factory.pin(r.pin) for r in self.io.board.relays})
        self.channels = channels

    def _committed(self, event: dict[str, Any]) -> None:  # on the writer thread
        if self.record_commits and event["kind"] == "input":
            self.commit_lat.append((time.monotonic_ns() - event["mono_ns"]) / 1e9)

    def drive(
        self, edges: int, seed: int, gap_s: tuple[float, float] = (0.0002, 0.001)
    ) -> tuple[list[float], int]:
        return _drive(
            lambda n, closed: self.sim.set_contact(n + 1, closed),
            lambda n: self.inputs[n],
            self.watch,
            self.channels,
            edges,
            seed,
            gap_s,
        )

    def stop(self) -> None:
        self.watch.unwrap()
        self.io.stop("bench done")


def survey(port: int, paths: list[str], repeats: int) -> dict[str, float]:
    """Median answer time (ms) of each path that answers 200, one request at a time."""
    medians: dict[str, float] = {}
    for path in paths:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            try:
                status, _ = http_get(port, path)
            except OSError:
                status = 0
            times.append((time.perf_counter() - started) * MS)
            if status != 200:
                break
        else:
            medians[path] = round(statistics.median(times), 3)
    return medians


def _web(ctx: Context, io: _Io) -> tuple[Proc, int]:
    from bench.common import free_port

    port = free_port()
    claim(io.data_dir)
    argv = [*CLI, "web", "--data-dir", str(io.data_dir), "--port", str(port)]
    web = Proc("web", argv, io.data_dir / "web.log").start()
    wait_http(port, "/api/v1/status", proc=web)
    return web, port


def _settle(found: list[float], quiet_s: float = 0.1, limit_s: float = 2.0) -> None:
    """Wait until ``found`` has stopped growing for ``quiet_s`` (at most ``limit_s``)."""
    deadline = time.monotonic() + limit_s
    size, since = len(found), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.01)
        if len(found) != size:
            size, since = len(found), time.monotonic()


def _phase(io: _Io, edges: int, seed: int) -> dict[str, Any]:
    io.commit_lat.clear()
    io.record_commits = True
    watch = Stopwatch()
    lat, missed = io.drive(edges, seed)
    took = watch.elapsed()
    io.io.writer.flush(10)
    _settle(io.commit_lat)  # the commit callbacks run just after the commit
    io.record_commits = False
    return {
        "edges": edges,
        "seconds": round(took, 2),
        "missed": missed,
        "latency_ms": summary(x * MS for x in lat),
        "commit_ms": summary(x * MS for x in io.commit_lat),
        "_raw": lat,
    }


def run(ctx: Context) -> dict[str, Any]:
    mode = ctx.mode
    details: dict[str, Any] = {"connections": CONNECTIONS, "load_tool": ctx.load_tool, "runs": {}}
    checks: list[Check] = []
    heaviest: str | None = None
    curves: dict[str, list[list[float]]] = {}
    raw: dict[str, list[float]] = {}
    for channels in mode.channels:
        ctx.log(f"  {channels} channels: baseline, idle")
        base = _baseline(channels, mode.edges)
        base_hop = _baseline(channels, mode.edges, hop=True)
        io = _Io(ctx, channels, response_ms=0, db_events=mode.db_events)
        web: Proc | None = None
        try:
            time.sleep(0.1 if mode.name == "smoke" else 0.5)  # start-up work passes
            idle = _phase(io, mode.edges, seed=channels)
            web, port = _web(ctx, io)
            if heaviest is None:
                repeats = 1 if mode.name == "smoke" else 15
                medians = survey(port, SURVEY_PATHS, repeats)
                heaviest = max(medians, key=lambda p: medians[p])
                details["survey_ms"] = medians
                details["heaviest"] = heaviest
            ctx.log(f"  {channels} channels: loaded ({CONNECTIONS} connections on {heaviest})")
            with load.Background(
                ctx.load_tool, port, heaviest, connections=CONNECTIONS
            ) as background:
                time.sleep(0.5 if mode.name == "smoke" else 2.0)  # let the load build up
                loaded = _phase(io, mode.edges, seed=100 + channels)
                base_loaded = _baseline(channels, mode.edges)
                achieved = background.stop()
            loaded["load"] = achieved
        finally:
            if web is not None:
                web.stop()
            io.stop()
        run_ = {
            "baseline_idle": base,
            "baseline_hop_idle": base_hop,
            "baseline_loaded": base_loaded,
            "idle": idle,
            "loaded": loaded,
        }
        for name, part in run_.items():
            samples = [round(x * MS, 5) for x in part.pop("_raw")]
            curves[f"{channels}/{name}"] = quantile_curve(samples)
            raw[f"{channels}/{name}"] = samples
        details["runs"][str(channels)] = run_
        checks += _checks(channels, base, base_hop, idle, loaded)

    ctx.log("  4 channels, default 50 ms response time (subtracted)")
    io = _Io(ctx, 4, response_ms=50, db_events=mode.db_events)
    try:
        # Random pauses of 1-60 ms: a fixed short pause would put every debounce deadline
        # at the same phase of the writer's commits.
        lat, missed = io.drive(mode.edges_debounced, seed=50, gap_s=(0.001, 0.060))
    finally:
        io.stop()
    details["debounced_50ms"] = {
        "edges": mode.edges_debounced,
        "missed": missed,
        "latency_minus_50ms_ms": summary((x - 0.050) * MS for x in lat),
    }
    details["curves_ms"] = curves
    first = details["runs"][str(mode.channels[0])]
    for phase in ("idle", "loaded"):
        checks.append(
            Check(
                f"edge.commit.p99.{phase}",
                2,
                f"edge to committed p99, whole io process, {phase} ({mode.channels[0]} channels)",
                first[phase]["commit_ms"].get("p99"),
                "ms",
                Target("<=", 20 if phase == "idle" else 100),
            )
        )
    return {
        "checks": checks_json(checks, NOTES),
        "details": details,
        "pi_note": PI_NOTE,
        "remedies": REMEDIES,
        "raw": raw,
    }


def _checks(
    channels: int,
    base: dict[str, Any],
    hop: dict[str, Any],
    idle: dict[str, Any],
    loaded: dict[str, Any],
) -> list[Check]:
    b50 = base["latency_ms"].get("p50")
    i50, i99 = idle["latency_ms"].get("p50"), idle["latency_ms"].get("p99")
    l99 = loaded["latency_ms"].get("p99")
    return [
        Check(
            f"edge.p50.{channels}",
            1,
            f"p50 idle, {channels} channels",
            i50,
            "ms",
            baseline=b50,
            baseline_label="bare gpiozero",
            ratio_label="p50 / bare gpiozero p50",
        ),
        Check(
            f"edge.p50_hop.{channels}",
            1,
            f"p50 idle against a bare queue hop, {channels} channels",
            i50,
            "ms",
            Target("<=", 2, on="ratio"),
            baseline=hop["latency_ms"].get("p50"),
            baseline_label="bare gpiozero + queue hop",
            ratio_label="p50 / queue-hop p50",
        ),
        Check(
            f"edge.p99.idle.{channels}",
            1,
            f"p99 idle, {channels} channels",
            i99,
            "ms",
            Target("<=", 1.0),
            baseline=base["latency_ms"].get("p99"),
            baseline_label="bare gpiozero",
        ),
        Check(
            f"edge.p99.loaded.{channels}",
            1,
            f"p99 under load, {channels} channels",
            l99,
            "ms",
            Target("<=", 5.0),
            baseline=i99,
            baseline_label="same, idle",
        ),
        Check(
            f"edge.loaded_ratio.{channels}",
            1,
            f"loaded / idle p99, {channels} channels",
            l99,
            "ms",
            Target("<=", 3, on="ratio"),
            baseline=i99,
            baseline_label="idle p99",
            ratio_label="loaded p99 / idle p99",
        ),
    ]
