"""A small HTTP/1.1 load generator: keep-alive connections on asyncio, GET only.

Used where wrk is not installed, and wherever an exact number of requests is
needed (wrk runs for a time, not a count). Run as its own process, so it never
shares an interpreter with what it measures::

    python -m bench.loadgen --port 8080 --path /api/v1/events --connections 50 --seconds 10
    python -m bench.loadgen --port 8080 --path /a --path /b --requests 10000

It prints one JSON object: requests, errors, non-2xx, rate and the latency
summary (milliseconds). SIGTERM or SIGINT ends a timed run early, still printing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
import sys
import time
from typing import Any

from bench.common import AUTH, summary


class _Counter:
    def __init__(self, total: int | None) -> None:
        self.left = total

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """A response's status and headers (names in lower case)."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; return its status. Handles Content-Length and chunked."""
    status, headers = await read_head(reader)
    length = int(headers.get("content-length", 0))
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _worker(
    host: str,
    port: int,
    paths: itertools.cycle[str],
    stop: asyncio.Event,
    counter: _Counter,
    latencies: list[float],
    stats: dict[str, int],
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while not stop.is_set() and counter.take():
        path = next(paths)
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{AUTH}\r\n\r\n".encode()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            latencies.append((time.perf_counter() - started) * 1e3)
            stats["requests"] += 1
            if not 200 <= status < 400:
                stats["non2xx"] += 1
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
            stats["errors"] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def run(
    *,
    host: str,
    port: int,
    paths: list[str],
    connections: int,
    seconds: float | None,
    requests: int | None,
) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    latencies: list[float] = []
    stats = {"requests": 0, "errors": 0, "non2xx": 0}
    counter = _Counter(requests)
    cycle = itertools.cycle(paths)
    started = time.perf_counter()
    workers = [
        asyncio.create_task(_worker(host, port, cycle, stop, counter, latencies, stats))
        for _ in range(connections)
    ]
    if seconds is not None:
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            stop.set()
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    return {
        "tool": "python",
        "connections": connections,
        "paths": paths,
        "seconds": round(elapsed, 3),
        "requests": stats["requests"],
        "errors": stats["errors"],
        "non2xx": stats["non2xx"],
        "rps": round(stats["requests"] / elapsed, 1) if elapsed else 0.0,
        "latency_ms": summary(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", action="append", required=True)
    parser.add_argument("--connections", type=int, default=1)
    limit = parser.add_mutually_exclusive_group(required=True)
    limit.add_argument("--seconds", type=float)
    limit.add_argument("--requests", type=int)
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(
            host=args.host,
            port=args.port,
            paths=args.path,
            connections=args.connections,
            seconds=args.seconds,
            requests=args.requests,
        )
    )
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
