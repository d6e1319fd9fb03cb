"""Metric 5: live fan-out, edge to receipt at 20 server-sent-event clients.

The real processes (``alarmbridge io`` and ``alarmbridge web``); the clients are
a process of their own (:mod:`bench.sse_clients`). Edges are driven through the
io process's ``sim`` command, one every 100-200 ms, so each is on its own; the
inputs' response time is set to 0 (``config-set``), as in metric 1. An input
event's ``mono_ns`` is the io process's ``time.monotonic_ns()`` at the pin
callback, and the client stamps arrival with the same system-wide clock.

Saturated: 50 connections on ``GET /api/v1/events`` (as metric 4) meanwhile.

Baseline: a direct subscription to the io process's socket in the client
process (what the web process itself receives): the web layer's share is the
difference. Both include the writer's group commit: events are streamed only
once committed (ADR 0003).
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import load
from bench.common import Check, Context, Target, checks_json, quantile_curve, summary
from bench.data import cached, copy_into
from bench.procs import PYTHON, Stack, bench_config

PATH = "/api/v1/events"
CONNECTIONS = 50
WAIT_S = 30.0  # after the last edge, how long the last receipts are waited for

NOTES = {
    "fanout.idle": "An event is streamed only after it is committed (ADR 0003); since #17 "
    "an isolated event is committed at once (classic group commit, ADR 0013), so what is "
    "left is the commit's fsync, the hop to the web process and its event loop. The "
    "direct subscription (baseline) shows the io process's share. Outliers hit all "
    "clients of one edge together (a stalled process, not a slow client).",
    "fanout.loaded": "The saturated web process's event loop is busy with the API "
    "requests (parsing, routing, sending 35 kB pages; their rows-to-JSON work runs in "
    "the worker threads since #17, but a worker thread holds the GIL while it runs), "
    "so the fan-out to the stream clients waits its turn; each live item is rendered "
    "once for all of them.",
}

REMEDIES = {
    "fanout.idle": "See metric 2: the writer's work per commit and the fsync are the floor.",
    "fanout.loaded": "Serve the stream from a process or worker of its own, or cap the "
    "API's concurrency so the loop gets back to the streams between requests.",
}

PI_NOTE = (
    "An isolated event is committed at once on a Pi too; the SD card's fsync adds more "
    "than here, and the web process's share grows with the slower CPU. A browser on the "
    "LAN adds its network round trip."
)


def _split(
    receipts: list[list[int]], windows: dict[str, tuple[int, int]]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {name: [] for name in windows}
    for _client, _seq, edge, received in receipts:
        for name, (start, end) in windows.items():
            if start <= edge < end:
                out[name].append((received - edge) / 1e6)
    return out


def _wait_receipts(clients: subprocess.Popen[str], count: int, timeout: float) -> int:
    """Read the clients' running count until it reaches ``count`` or ``timeout`` passes."""
    assert clients.stdout is not None
    deadline = time.monotonic() + timeout
    got = 0
    while got < count and time.monotonic() < deadline:
        line = clients.stdout.readline()
        if not line:
            break
        got = int(line)
    return got


def _drive(client: Any, edges: int, rng: random.Random, channels: int = 4) -> None:
    for k in range(edges):
        n = (k // 2) % channels + 1
        client.request("sim", action="close" if k % 2 == 0 else "open", input=n)
        time.sleep(rng.uniform(0.1, 0.2))


def run(ctx: Context) -> dict[str, Any]:
    mode = ctx.mode
    directory = ctx.scratch("fanout")
    copy_into(cached(ctx.cache, mode.db_events, log=ctx.log), directory / "data")
    stack = Stack(directory / "data")
    out = directory / "receipts.json"
    clients: subprocess.Popen[str] | None = None
    windows: dict[str, tuple[int, int]] = {}
    rng = random.Random(5)
    expected = mode.fanout_edges * mode.fanout_clients
    try:
        stack.start()
        io = stack.client()
        io.request(
            "config-set",
            config=bench_config(io.request("config-get"), response_ms=0),
            user="bench",
        )
        argv = [
            PYTHON, "-m", "bench.sse_clients", "--port", str(stack.port),
            "--socket", str(stack.socket_path), "--clients", str(mode.fanout_clients),
            "--out", str(out),
        ]  # fmt: skip
        clients = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert clients.stdout is not None
        if clients.stdout.readline().strip() != "ready":
            raise RuntimeError("the SSE clients did not connect")
        time.sleep(0.2 if mode.name == "smoke" else 0.5)
        ctx.log(f"  idle: {mode.fanout_edges} edges, {mode.fanout_clients} clients")
        start = time.monotonic_ns()
        _drive(io, mode.fanout_edges, rng)
        windows["idle"] = (start, time.monotonic_ns())
        _wait_receipts(clients, expected, WAIT_S)
        ctx.log(f"  saturated: {CONNECTIONS} connections on {PATH}")
        with load.Background(ctx.load_tool, stack.port, PATH, connections=CONNECTIONS) as bg:
            time.sleep(0.5 if mode.name == "smoke" else 2.0)
            start = time.monotonic_ns()
            _drive(io, mode.fanout_edges, rng)
            windows["saturated"] = (start, time.monotonic_ns())
            _wait_receipts(clients, 2 * expected, WAIT_S)  # the last events reach the clients
            achieved = bg.stop()
    finally:
        if clients is not None:
            clients.terminate()
            clients.wait(30)
        stack.stop()
    data = json.loads(Path(out).read_text())
    sse = _split(data["sse"], windows)
    direct = _split(data["direct"], windows)
    phases: dict[str, dict[str, Any]] = {
        name: {
            "edges": mode.fanout_edges,
            "clients": mode.fanout_clients,
            "receipts": len(sse[name]),
            "expected": expected,
            "late_or_lost": expected - len(sse[name]),
            "sse_ms": summary(sse[name]),
            "direct_ms": summary(direct[name]),
        }
        for name in windows
    }
    phases["saturated"]["load"] = achieved
    checks = [
        Check(
            "fanout.idle.p99",
            5,
            f"edge to receipt p99, {mode.fanout_clients} SSE clients, idle",
            phases["idle"]["sse_ms"].get("p99"),
            "ms",
            Target("<=", 20),
            baseline=phases["idle"]["direct_ms"].get("p99"),
            baseline_label="direct io-socket subscription",
        ),
        Check(
            "fanout.loaded.p99",
            5,
            f"edge to receipt p99, {mode.fanout_clients} SSE clients, API saturated",
            phases["saturated"]["sse_ms"].get("p99"),
            "ms",
            Target("<=", 100),
            baseline=phases["saturated"]["direct_ms"].get("p99"),
            baseline_label="direct io-socket subscription",
        ),
    ]
    raw = {name: sorted(values) for name, values in sse.items()}
    curves = {f"{name}/sse": quantile_curve(sse[name]) for name in windows}
    curves.update({f"{name}/direct": quantile_curve(direct[name]) for name in windows})
    return {
        "checks": checks_json(checks, NOTES),
        "details": {"phases": phases, "response_ms": 0, "curves_ms": curves},
        "pi_note": PI_NOTE,
        "remedies": REMEDIES,
        "raw": raw,
    }
