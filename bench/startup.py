"""Metric 8: start-up: process start to relays in their safe state, and to the first HTTP 200.

- Relays safe: ``alarmbridge io`` run through :mod:`bench.probe` (the real
  command, which prints when its last relay has been claimed at its off level),
  from just before ``exec`` (the bench's ``time.monotonic_ns()``, system-wide).
  Also when it first answers on its socket. Two cases: a restart with an event log
  of 100,000 events (the usual case; its start-up ``quick_check`` reads the whole
  file), and a first boot (no database: it is created and migrated).
- First HTTP 200: ``alarmbridge run`` (the supervisor starts both processes) until
  ``GET /api/v1/status`` answers 200 (which needs both), polled every 10 ms.
- Baselines: the bare gpiozero script (start to its ``OutputDevice``s claimed),
  the interpreter alone (start to its first line of output), and a bare FastAPI
  app (start to its first 200).
- The import time of the io process's modules (``python -X importtime``), the
  largest first: where the time before the relays goes.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import Check, Context, Target, checks_json, free_port
from bench.data import cached, copy_into
from bench.procs import CLI, PYTHON, Proc, claim, wait_http, wait_io

NOTES = {
    "startup.safe": "Since #17 `alarmbridge io` takes the instance lock and claims the "
    "relays (app/io/claim.py) from its arguments and the environment, before it imports "
    "pydantic, the settings, SQLAlchemy, Alembic, the engine or the rest of the io "
    "process, and before the database is opened: what comes first is the interpreter, "
    "argparse, app.cli's light imports and gpiozero (the import breakdown in the details "
    "has the shares). The bare gpiozero script, which imports gpiozero alone, is the "
    "floor.",
    "startup.http": "The first 200 of GET /api/v1/status needs both processes: the "
    "supervisor (itself a Python process that imports the command line) starts "
    "`alarmbridge io` and `alarmbridge web` side by side, and the answer waits for the "
    "slower of the two on two shared cores: the io process answering on its socket (the "
    "'socket answers' row: its imports after the relays, the log's quick_check over the "
    "whole 100k-event file, the engine) and the web process's imports and app start "
    "(FastAPI, pydantic, SQLAlchemy, Jinja2, uvicorn; the bare FastAPI row is that "
    "framework's share alone). Timed while writing #17 (`alarmbridge run` on a "
    "20k-event log, load average about 2): the io socket appeared about 1.4 s and the web "
    "port listened about 1.85 s after the start. `python -X importtime` of the web "
    "process's imports at the same time: 1.2 s in all, of which AlarmBridge's own "
    "modules 0.44 s (building the API's pydantic models and routes: app.web.api.auth "
    "alone 0.1 s, the typed io commands 0.04 s), SQLAlchemy 0.2 s, FastAPI 0.14 s, "
    "pydantic 0.09 s. One more cost on that path is gone since #17: the unknown-user "
    "password hash (argon2, 64 MiB) was computed at import.",
}

REMEDIES = {
    "startup.safe": "A smaller entry point for the io unit (a module that parses the "
    "io command's four options itself, without argparse's whole command line) and "
    "byte-compiled, frozen imports on the image.",
    "startup.http": "Start the web process's routers and models lazily or from a "
    "cached schema, and let the supervisor start the web process after the io process "
    "has claimed its relays, so the two do not compete for the cores at once.",
}

PI_NOTE = (
    "Interpreter start and imports are CPU- and storage-bound: on a Pi 4 with an SD card "
    "expect them several times slower (a rule of thumb: 3-5 times for the CPU, more on a "
    "cold page cache). Until the io process claims them, the relays are held off by the "
    "config.txt gpio= lines and the pulls (docs/wiring.md), so start-up time is about when "
    "alarms start to flow, not about a relay clicking."
)


def _first_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 60) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the process ended before printing {prefix!r}")
        if line.startswith(prefix):
            return int(line.split()[1])
    raise RuntimeError(f"no {prefix!r} within {timeout} s")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()


def io_start(data_dir: Path) -> dict[str, float]:
    argv = [PYTHON, "-m", "bench.probe", "io", "--data-dir", str(data_dir), "--pins", "mock"]
    started = time.monotonic_ns()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        safe = _first_line(proc, "relays-safe")
        ready = wait_io(data_dir / "io.sock")
    finally:
        _stop(proc)
    return {"relays_safe_ms": (safe - started) / 1e6, "socket_ready_ms": (ready - started) / 1e6}


def run_start(data_dir: Path, log: Path) -> float:
    port = free_port()
    claim(data_dir)
    argv = [*CLI, "run", "--pins", "mock", "--data-dir", str(data_dir), "--port", str(port)]
    proc = Proc("run", argv, log).start()
    try:
        ready = wait_http(port, "/api/v1/status", proc=proc)
    finally:
        proc.stop()
    return (ready - proc.started_ns) / 1e6


def baseline_gpiozero() -> float:
    argv = [PYTHON, "-m", "bench.baselines", "gpiozero", "--channels", "4"]
    started = time.monotonic_ns()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        safe = _first_line(proc, "relays-safe")
    finally:
        _stop(proc)
    return (safe - started) / 1e6


def baseline_interpreter() -> float:
    argv = [PYTHON, "-c", "import time; print('up', time.monotonic_ns(), flush=True)"]
    started = time.monotonic_ns()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        up = _first_line(proc, "up")
    finally:
        _stop(proc)
    return (up - started) / 1e6


def baseline_api(directory: Path) -> float:
    body = directory / "body.json"
    body.write_text('{"ok": true}')
    port = free_port()
    argv = [PYTHON, "-m", "bench.baselines", "api", "--port", str(port), "--body", str(body)]
    proc = Proc("baseline-api", argv, directory / "baseline-api.log").start()
    try:
        ready = wait_http(port, "/api/v1/status", proc=proc)
    finally:
        proc.stop()
    return (ready - proc.started_ns) / 1e6


def import_breakdown(top: int = 10) -> dict[str, Any]:
    """``python -X importtime`` of what ``alarmbridge io`` imports before the board:
    the total, and each top-level package's own share (its modules' self times, so
    the shares add up to the total)."""
    code = "import app.cli, app.io.claim"  # since #17 the board comes before the rest
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", code], capture_output=True, text=True, timeout=120
    )
    own: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if match:
            root = match.group(3).split(".")[0]
            own[root] = own.get(root, 0) + int(match.group(1))
    largest = sorted(own.items(), key=lambda kv: -kv[1])[:top]
    return {
        "total_ms": round(sum(own.values()) / 1e3, 1),
        "own_ms_by_package": {name: round(us / 1e3, 1) for name, us in largest},
    }


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def run(ctx: Context) -> dict[str, Any]:
    mode = ctx.mode
    directory = ctx.scratch("startup")
    source = cached(ctx.cache, mode.db_events, log=ctx.log)
    restart: list[dict[str, float]] = []
    first: list[dict[str, float]] = []
    run_200: list[float] = []
    base_gz: list[float] = []
    base_py: list[float] = []
    base_api: list[float] = []
    ctx.log(f"  {mode.startup_reps} starts of each")
    for rep in range(mode.startup_reps):
        data = directory / f"restart-{rep}"
        copy_into(source, data)
        restart.append(io_start(data))
        first.append(io_start(directory / f"first-{rep}"))
        data = directory / f"run-{rep}"
        copy_into(source, data)
        run_200.append(run_start(data, directory / f"run-{rep}.log"))
        base_gz.append(baseline_gpiozero())
        base_py.append(baseline_interpreter())
        base_api.append(baseline_api(directory))
    imports = import_breakdown()
    safe = [r["relays_safe_ms"] for r in restart]
    details = {
        "reps": mode.startup_reps,
        "io_restart_100k": {
            "relays_safe_ms": [round(r["relays_safe_ms"], 1) for r in restart],
            "socket_ready_ms": [round(r["socket_ready_ms"], 1) for r in restart],
        },
        "io_first_boot": {
            "relays_safe_ms": [round(r["relays_safe_ms"], 1) for r in first],
            "socket_ready_ms": [round(r["socket_ready_ms"], 1) for r in first],
        },
        "run_first_http_200_ms": [round(x, 1) for x in run_200],
        "baseline_gpiozero_safe_ms": [round(x, 1) for x in base_gz],
        "baseline_interpreter_ms": [round(x, 1) for x in base_py],
        "baseline_fastapi_first_200_ms": [round(x, 1) for x in base_api],
        "imports": imports,
        "python": sys.version.split()[0],
    }
    checks = [
        Check(
            "startup.safe",
            8,
            "start to relays safe (median; restart, 100k-event log)",
            _median(safe),
            "ms",
            Target("<=", 150),
            baseline=_median(base_gz),
            baseline_label="bare gpiozero script",
        ),
        Check(
            "startup.safe.first_boot",
            8,
            "start to relays safe (median; first boot, no database)",
            _median([r["relays_safe_ms"] for r in first]),
            "ms",
            Target("<=", 150),
            baseline=_median(base_gz),
            baseline_label="bare gpiozero script",
        ),
        Check(
            "startup.ready",
            8,
            "start to io socket answering (median; restart, 100k)",
            _median([r["socket_ready_ms"] for r in restart]),
            "ms",
            baseline=_median(base_py),
            baseline_label="interpreter start alone",
        ),
        Check(
            "startup.http",
            8,
            "alarmbridge run: start to first HTTP 200 (median)",
            _median(run_200),
            "ms",
            Target("<=", 1000),
            baseline=_median(base_api),
            baseline_label="bare FastAPI app",
        ),
    ]
    return {
        "checks": checks_json(checks, NOTES),
        "details": details,
        "pi_note": PI_NOTE,
        "remedies": REMEDIES,
    }
