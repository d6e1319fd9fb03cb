"""systemd's notify protocol (``sd_notify``): READY, WATCHDOG, STOPPING, STATUS.

A no-op when ``NOTIFY_SOCKET`` is unset. The watchdog ping is sent from the engine
loop, so when the engine stalls the pings stop and systemd restarts the service.
It is rate-limited to a quarter of ``WATCHDOG_USEC``: the loop turns at least once
a second, so pings are at most a quarter of the timeout plus a second apart,
inside it for ``WatchdogSec=2`` and up (at half, ``WatchdogSec=2`` got one just as
the timeout ran out).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address or None
        usec = int(env.get("WATCHDOG_USEC", "0") or 0)
        self.watchdog_interval_s = usec / 4e6 if usec else None
        self._last_ping = 0.0
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def send(self, message: str) -> None:
        if self._sock is None or self.address is None:
            return
        with contextlib.suppress(OSError):  # the supervisor is gone: nothing to do
            self._sock.sendto(message.encode(), self.address)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def ready(self, status: str = "") -> None:
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        """Ping the watchdog if a quarter of its timeout has passed since the last ping."""
        if self.watchdog_interval_s is None:
            return
        now = time.monotonic()
        if now - self._last_ping >= self.watchdog_interval_s:
            self._last_ping = now
            self.send("WATCHDOG=1")
