"""The io process's control protocol: JSON lines over a local Unix stream socket.

A request is one line ``{"cmd": NAME, ...arguments}``; the reply is one line
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": MESSAGE}``. After
``{"cmd": "subscribe"}`` the server sends ``{"ok": true}`` and then one
``{"event": {...}}`` line per accepted (committed) event until the client leaves.
Each command is a model in app.io.commands; :meth:`Client.send` sends one and
returns its typed reply. See docs/io-protocol.md.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.io.commands import Command, R

MAX_LINE = 1 << 20


class ControlError(Exception):
    """The io process refused a command, or cannot be reached; the message says why."""


class IoUnavailableError(ControlError):
    """The io process cannot be reached (not running, restarting, or gone mid-reply)."""


class NotDoneError(IoUnavailableError):
    """The io process did not act: the command reached it after its deadline."""


class OutcomeUnknownError(ControlError):
    """No answer in time. The io process acts on a command only before its deadline
    (:data:`DEADLINE_MARGIN_S` before the client gives up), so it was done only if
    the io process acted at the last moment and then stalled; the log tells."""


DEADLINE_MARGIN_S = 0.5  # a command's deadline is this long before the client gives up


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class Client:
    """A connection to the io process.

    >>> Client(Path("/nonexistent/io.sock")).request("status")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    app.io.protocol.IoUnavailableError: the io process is not running (no socket at ...
    """

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise IoUnavailableError(
                f"the io process is not running (no socket at {self.path}): "
                "start it with 'alarmbridge io'"
            ) from exc
        except OSError as exc:
            sock.close()
            raise IoUnavailableError(f"cannot reach the io process at {self.path}: {exc}") from exc
        return sock

    def send(self, command: Command[R]) -> R:
        """Send ``command`` and return its reply, of the command's reply type (raise
        :class:`ControlError`, as :meth:`request` does)."""
        result = self.request(command.cmd, **command.arguments())
        try:
            reply: R = command.reply.validate_python(result)
        except ValidationError as exc:
            raise ControlError(
                f"the io process answered {command.cmd!r} with something unexpected: {exc}"
            ) from None
        return reply

    def request(self, cmd: str, **args: Any) -> Any:
        """Send one command, by name and loose arguments, and return its result
        (raise :class:`ControlError`); :meth:`send` is the typed call.

        The command carries a deadline (``timeout`` less :data:`DEADLINE_MARGIN_S`):
        the io process does not act on it after that (:class:`NotDoneError`). With
        no answer within ``timeout``: :class:`OutcomeUnknownError`.
        """
        budget = max(0.05, self.timeout - DEADLINE_MARGIN_S)
        deadline_ns = time.monotonic_ns() + int(budget * 1e9)
        with self._connect() as sock:
            stream = sock.makefile("rwb")
            try:
                stream.write(encode({"cmd": cmd, "deadline_ns": deadline_ns, **args}))
                stream.flush()
                return _reply(stream.readline(MAX_LINE))
            except TimeoutError as exc:
                raise OutcomeUnknownError(
                    f"the io process did not answer {cmd!r} within {self.timeout:g} s. It does "
                    "nothing after a command's deadline, so it was most likely not done; the "
                    "event log shows what happened"
                ) from exc
            except OSError as exc:  # it stopped or restarted under us
                raise IoUnavailableError(f"the io process went away: {exc}") from exc
            finally:
                with contextlib.suppress(OSError):
                    stream.close()

    def subscribe(self) -> Iterator[dict[str, Any]]:
        """Yield every accepted event as it is committed, until the server goes away."""
        with Subscription(self) as subscription:
            yield from subscription


class Subscription:
    """A live stream of accepted events. It is subscribed once the constructor
    returns (events committed from then on will arrive); iterate it to read them,
    and :meth:`close` it, from any thread, to stop a blocked reader."""

    def __init__(self, client: Client) -> None:
        self._sock = client._connect()
        self._stream = self._sock.makefile("rwb")
        try:
            self._stream.write(encode({"cmd": "subscribe"}))
            self._stream.flush()
            _reply(self._stream.readline(MAX_LINE))
        except OSError as exc:
            self.__exit__()
            raise IoUnavailableError(f"the io process went away while subscribing: {exc}") from exc
        except BaseException:
            self.__exit__()
            raise
        self._sock.settimeout(None)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for line in self._stream:  # ends at EOF, also after close()
            message = json.loads(line)
            if "event" in message:
                yield message["event"]
            elif message.get("ok") is False:
                raise ControlError(message.get("error", "the stream ended"))

    def close(self) -> None:
        """Stop the stream: a reader blocked in another thread sees its end. (Only the
        socket is shut down here; closing the buffered file under a reader blocks.)"""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        try:
            with contextlib.suppress(OSError):  # flushing to a peer that has gone
                self._stream.close()
        finally:
            self._sock.close()


def _reply(line: bytes) -> Any:
    if not line:
        raise IoUnavailableError("the io process closed the connection without answering")
    reply = json.loads(line)
    if not reply.get("ok"):
        if reply.get("expired"):
            raise NotDoneError(reply.get("error", "not done: it came too late"))
        raise ControlError(reply.get("error", "the io process refused the command"))
    return reply.get("result")
