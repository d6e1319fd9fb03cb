"""The control socket server: commands in, live events out. Local only, no network.

Each connection gets a thread. A request is validated once, here, against its
command's model (app/io/commands.py): a handler gets the typed command. Commands
that touch the engine run on the engine's thread through :meth:`EngineRunner.call`;
the socket's threads never switch a relay themselves.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socketserver
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from app.engine.runner import CommandExpiredError
from app.io.commands import Command, InvalidCommandError, Subscribe, parse
from app.io.peer import PeerRule, peer_uid
from app.io.protocol import MAX_LINE, encode

log = logging.getLogger(__name__)

Handler = Callable[[Any], Any]  # a command's model in, its reply out
OnExpired = Callable[[Command[Any], CommandExpiredError], None]
OnRefused = Callable[[str, int | None, str], None]  # command, peer uid, why
# The deadline (time.monotonic_ns()) of the command being handled on this thread:
# a command carries it, and the io process acts on it only before it.
DEADLINE: ContextVar[int | None] = ContextVar("deadline", default=None)
SUBSCRIBER_BACKLOG = 10_000


class CommandError(Exception):
    """A command that cannot be done; its message goes back to the client."""


class EventHub:
    """Fans committed events out to subscribers. A subscriber that falls more than
    ``SUBSCRIBER_BACKLOG`` events behind is dropped (it reconnects and re-reads the
    log) rather than slowing anyone down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[dict[str, Any] | None]] = []

    def subscribe(self) -> queue.Queue[dict[str, Any] | None]:
        q: queue.Queue[dict[str, Any] | None] = queue.Queue(SUBSCRIBER_BACKLOG)
        with self._lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[dict[str, Any] | None]) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def publish(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            try:
                for event in events:
                    q.put_nowait(event)
            except queue.Full:
                self.unsubscribe(q)
                q.queue.clear()
                q.put_nowait(None)

    def close(self) -> None:
        with self._lock:
            subscribers, self._subscribers = self._subscribers, []
        for q in subscribers:
            q.put(None)


class _Connection(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        for line in iter(lambda: self.rfile.readline(MAX_LINE), b""):
            command: Command[Any] | None = None
            try:
                request = json.loads(line)
                if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                    raise CommandError('a request is a JSON object with a "cmd" string')
                cmd = request.pop("cmd")
                deadline = request.pop("deadline_ns", None)
                if deadline is not None and (
                    not isinstance(deadline, int) or isinstance(deadline, bool)
                ):
                    raise CommandError("deadline_ns must be a whole number")
                self._check_peer(cmd)
                command = parse(cmd, request)  # the error names the field at fault
                if isinstance(command, Subscribe):
                    self._stream()
                    return
                handler = self.server.handlers.get(cmd)
                if handler is None:
                    raise CommandError(
                        f"unknown command {cmd!r}: one of {', '.join(sorted(self.server.handlers))}"
                    )
                late = 0 if deadline is None else time.monotonic_ns() - deadline
                if late > 0:
                    raise CommandExpiredError(late // 1_000_000)
                token = DEADLINE.set(deadline)
                try:
                    result = command.reply.dump_python(handler(command), mode="json")
                finally:
                    DEADLINE.reset(token)
                reply: dict[str, Any] = {"ok": True, "result": result}
            except CommandExpiredError as exc:
                if command is not None:
                    self.server.expired(command, exc)
                reply = {"ok": False, "error": str(exc), "expired": True}
            except InvalidCommandError as exc:
                reply = {"ok": False, "error": str(exc)}
            except (CommandError, ValueError, KeyError, TypeError) as exc:
                reply = {"ok": False, "error": str(exc).strip("'\"")}
            except Exception as exc:
                log.exception("control command failed")
                reply = {"ok": False, "error": f"internal error: {exc}"}
            self.wfile.write(encode(reply))
            self.wfile.flush()

    def _check_peer(self, cmd: str) -> None:
        rule = self.server.restricted.get(cmd)
        if rule is None:
            return
        uid = peer_uid(self.connection)
        if not rule.allows(uid):
            why = rule.refusal(cmd)
            self.server.refused(cmd, uid, why)
            raise CommandError(why)

    def _stream(self) -> None:
        q = self.server.hub.subscribe()
        try:
            self.wfile.write(encode({"ok": True}))
            self.wfile.flush()
            while True:
                event = q.get()
                if event is None:
                    return
                self.wfile.write(encode({"event": event}))
                if q.empty():
                    self.wfile.flush()
        except OSError:
            pass  # the client went away
        finally:
            self.server.hub.unsubscribe(q)


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # Connections waiting to be accepted (socketserver's default, 5, refused a burst
    # of 20 clients on an idle appliance). The kernel caps it at net.core.somaxconn.
    request_queue_size = 128

    def __init__(
        self,
        path: Path,
        handlers: dict[str, Handler],
        hub: EventHub,
        restricted: dict[str, PeerRule] | None = None,
        on_expired: OnExpired | None = None,
        on_refused: OnRefused | None = None,
    ) -> None:
        self.handlers = handlers
        self.restricted = restricted or {}  # command -> which peer users may send it
        self.on_refused = on_refused
        self.hub = hub
        self.on_expired = on_expired
        self.path = path
        if path.exists() or path.is_symlink():
            path.unlink()  # a stale socket from a crash
        old = os.umask(0o117)  # owner and group only (the web process's group)
        try:
            super().__init__(str(path), _Connection)
        finally:
            os.umask(old)
        self._thread = threading.Thread(target=self.serve_forever, name="control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def expired(self, command: Command[Any], exc: CommandExpiredError) -> None:
        """A command that was not done because it came too late: say so (logged)."""
        if self.on_expired is not None:
            try:
                self.on_expired(command, exc)
            except Exception:
                log.exception("recording an expired command failed")

    def refused(self, cmd: str, uid: int | None, why: str) -> None:
        """A restricted command from a user that may not send it: say so (logged)."""
        log.warning("command %r refused to uid %s: %s", cmd, uid, why)
        if self.on_refused is not None:
            try:
                self.on_refused(cmd, uid, why)
            except Exception:
                log.exception("recording a refused command failed")

    def stop(self) -> None:
        self.hub.close()
        self.shutdown()
        self.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
