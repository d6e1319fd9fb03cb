"""Server-sent-event clients for the fan-out bench, as a process of their own.

    python -m bench.sse_clients --port 8080 --socket data/io.sock --clients 20 --out r.json

Opens ``--clients`` connections to ``/api/v1/events/stream`` (asyncio, one
thread) and one direct subscription to the io process's socket (its own
thread: the baseline). For every input event received it records the event's
``seq``, its edge time (``mono_ns``, the io process's ``time.monotonic_ns()`` at
the pin callback) and the time it arrived here, on the same system-wide
monotonic clock. Prints ``ready`` once every client is connected, then every
50 ms the number of input events received so far over all clients (so the
bench can wait for the last ones), and writes ``--out`` on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from app.io.protocol import Client, ControlError, Subscription
from bench.common import AUTH
from bench.loadgen import read_head

Receipt = tuple[int, int, int, int]  # client (-1 = direct), seq, edge mono_ns, received mono_ns


async def _read_headers(reader: asyncio.StreamReader) -> bool:
    """Whether the stream's answer is chunked (it must be a 200)."""
    status, headers = await read_head(reader)
    if status != 200:
        raise ConnectionError(f"stream answered {status}")
    return "chunked" in headers.get("transfer-encoding", "").lower()


async def _chunks(reader: asyncio.StreamReader, chunked: bool) -> Any:
    while True:
        if chunked:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                return
            data = await reader.readexactly(size + 2)
            yield data[:-2]
        else:
            data = await reader.read(65536)
            if not data:
                return
            yield data


async def _client(
    n: int, port: int, receipts: list[Receipt], connected: list[int], stop: asyncio.Event
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Accept: text/event-stream\r\n{AUTH}\r\n\r\n".encode()
    )
    chunked = await _read_headers(reader)
    connected.append(n)
    buffer = b""
    kind = ""
    data: list[bytes] = []
    try:
        async for chunk in _chunks(reader, chunked):
            received = time.monotonic_ns()
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                line = raw.rstrip(b"\r")
                if not line:  # end of one message
                    if kind == "event" and data:
                        event = json.loads(b"\n".join(data))
                        if event.get("kind") == "input":
                            receipts.append((n, event["seq"], event["mono_ns"], received))
                    kind, data = "", []
                elif line.startswith(b"event:"):
                    kind = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    data.append(line[5:].lstrip())
            if stop.is_set():
                break
    finally:
        writer.close()


def _direct(socket_path: Path, receipts: list[Receipt], ready: threading.Event) -> None:
    try:
        subscription = Subscription(Client(socket_path, timeout=10))
    except ControlError:
        ready.set()
        return
    ready.set()
    with subscription:
        for event in subscription:
            if event.get("kind") == "input":
                receipts.append((-1, event["seq"], event["mono_ns"], time.monotonic_ns()))


async def main_async(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    receipts: list[Receipt] = []
    direct: list[Receipt] = []
    connected: list[int] = []
    ready = threading.Event()
    threading.Thread(target=_direct, args=(args.socket, direct, ready), daemon=True).start()
    tasks = [
        asyncio.create_task(_client(n, args.port, receipts, connected, stop))
        for n in range(args.clients)
    ]
    while len(connected) < args.clients or not ready.is_set():
        done = [t for t in tasks if t.done() and t.exception() is not None]
        if done:
            raise RuntimeError(f"a client failed: {done[0].exception()}")
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    while not stop.is_set():
        print(len(receipts), flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    args.out.write_text(json.dumps({"sse": receipts, "direct": direct}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sse_clients")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
