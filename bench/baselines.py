"""The baselines each figure is compared with, run in the same invocation.

- :func:`bare_gpiozero`: a bare gpiozero script on mock pins where an input's
  ``when_activated`` switches an ``OutputDevice``: no engine, no queue, no log.
- ``python -m bench.baselines gpiozero``: the same as a process of its own, for
  the start-up, idle and memory baselines (it prints when its outputs are claimed).
- ``python -m bench.baselines api``: a bare FastAPI app on the same uvicorn
  settings as ``alarmbridge web``, answering one route with a fixed body: what
  the framework and the server cost without AlarmBridge's work.
"""

from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RELAY_SHARE = 8  # more inputs than this share relays round-robin, as on the bench boards


def pins_for(channels: int) -> tuple[list[int], list[int]]:
    """Input and relay BCM pins for a board of ``channels`` inputs (mock pins)."""
    relays = channels if channels <= RELAY_SHARE else min(RELAY_SHARE, 28 - channels)
    numbers = list(range(2, 28))
    return numbers[:channels], numbers[channels : channels + relays]


class BareBoard:
    """A bare gpiozero 'script': ``when_activated`` / ``when_deactivated`` switch
    an ``OutputDevice``, on gpiozero's own ``MockFactory``.

    With ``hop=True`` the callbacks only put the change on a queue and a second
    thread switches the relay: the hand-off AlarmBridge makes (ADR 0002), with no
    engine behind it.
    """

    def __init__(self, channels: int, *, hop: bool = False) -> None:
        from gpiozero import DigitalInputDevice, OutputDevice
        from gpiozero.pins.mock import MockFactory

        self.factory = MockFactory()
        input_pins, relay_pins = pins_for(channels)
        self.outputs = [OutputDevice(p, pin_factory=self.factory) for p in relay_pins]
        self.inputs = [
            DigitalInputDevice(p, pull_up=True, bounce_time=None, pin_factory=self.factory)
            for p in input_pins
        ]
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        for n, device in enumerate(self.inputs):
            relay = self.outputs[n % len(self.outputs)]
            if hop:
                device.when_activated = self._enqueue(relay.on)
                device.when_deactivated = self._enqueue(relay.off)
            else:
                device.when_activated = relay.on
                device.when_deactivated = relay.off
        if hop:
            self._thread = threading.Thread(target=self._switch, daemon=True)
            self._thread.start()
        self.input_pins = [self.factory.pin(p) for p in input_pins]
        self.relay_pins = {p: self.factory.pin(p) for p in relay_pins}

    def _enqueue(self, action: Callable[[], None]) -> Callable[[], None]:
        def callback() -> None:  # no parameters: gpiozero would pass the device to one
            self._queue.put(action)

        return callback

    def _switch(self) -> None:
        while (action := self._queue.get()) is not None:
            action()

    def drive(self, n: int, closed: bool) -> None:
        """Close (pin LOW) or open contact ``n`` (0-based)."""
        pin = self.input_pins[n]
        if closed:
            pin.drive_low()
        else:
            pin.drive_high()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(5)
        for device in [*self.inputs, *self.outputs]:
            device.close()
        self.factory.reset()


def bare_gpiozero(channels: int) -> BareBoard:
    return BareBoard(channels)


# ------------------------------------------------------------ as a process


def _gpiozero_process(channels: int) -> None:
    """Claim the outputs, say when (monotonic ns) and RSS, then idle until SIGTERM."""
    board = BareBoard(channels)
    print(f"relays-safe {time.monotonic_ns()}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    board.close()


def _api_process(port: int, body_file: Path) -> None:
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import Response

    body = body_file.read_bytes()
    app = FastAPI()

    @app.get("/api/v1/events")
    async def events() -> Response:
        return Response(body, media_type="application/json")

    @app.get("/api/v1/status")
    async def status() -> Response:
        return Response(body, media_type="application/json")

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=1,
    )
    uvicorn.Server(config).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines")
    sub = parser.add_subparsers(dest="what", required=True)
    gz = sub.add_parser("gpiozero")
    gz.add_argument("--channels", type=int, default=4)
    api = sub.add_parser("api")
    api.add_argument("--port", type=int, required=True)
    api.add_argument("--body", type=Path, required=True)
    args = parser.parse_args(argv)
    runners: dict[str, Callable[[], Any]] = {
        "gpiozero": lambda: _gpiozero_process(args.channels),
        "api": lambda: _api_process(args.port, args.body),
    }
    runners[args.what]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
