"""A small typed client of the network process's status socket (``network.sock``).

JSON lines, as the io socket: ``{"cmd": "status"}``, ``{"cmd": "test", "name": N}``,
``{"cmd": "replay", "name": N, "from_seq": S}``, ``{"cmd": "settings"}`` (the stored
destinations' settings, secrets masked) and ``{"cmd": "configure", "settings": {...},
"user": U, "dry_run": false}`` (check, store and apply them); the reply is ``{"ok": true,
"result": ...}`` or ``{"ok": false, "error": "a sentence"}``. Used by the web process
(the Integrations page and ``/api/v1/integrations``) and the CLI.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.io.protocol import MAX_LINE, encode
from app.network.sia.status import SiaStatus


class NetworkError(Exception):
    """The network process refused a command or cannot be reached; ``problems``
    (``configure``) names each field at fault: ``[{"field", "message"}]``."""

    def __init__(self, message: str, problems: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class NetworkUnavailableError(NetworkError):
    """The network process is not running (or not reachable)."""


class DestinationStatus(BaseModel):
    """One destination's delivery, as the status command reports it."""

    model_config = ConfigDict(extra="ignore")
    name: str
    connected: bool
    cursor: int
    last_delivered_seq: int | None
    last_delivered_utc_us: int | None
    backlog: int
    oldest_undelivered_seq: int | None
    oldest_undelivered_utc_us: int | None
    last_error: str | None
    last_error_utc_us: int | None
    attempts: int
    retry_in_s: float | None
    lost: dict[str, int] | None
    last_test: str | None


class NetworkStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")
    device_id: str
    stream: bool  # whether the io stream is live (else the log is polled)
    stream_error: str | None
    destinations: list[DestinationStatus]
    sia: SiaStatus | None = None  # None: SIA DC-09 is off
    recorders: dict[str, Any] | None = None  # None: no recorders file (docs/recorders.md)


class NetworkClient:
    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout

    def request(self, cmd: str, **args: Any) -> Any:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            try:
                sock.connect(str(self.path))
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                raise NetworkUnavailableError(
                    "the network process is not running (no destinations are configured, or "
                    "it is restarting): start it with 'alarmbridge network'"
                ) from exc
            except OSError as exc:
                raise NetworkUnavailableError(f"cannot reach the network process: {exc}") from exc
            stream = sock.makefile("rwb")
            try:
                stream.write(encode({"cmd": cmd, **args}))
                stream.flush()
                line = stream.readline(MAX_LINE)
            except OSError as exc:
                raise NetworkUnavailableError(f"the network process went away: {exc}") from exc
            finally:
                stream.close()
        finally:
            sock.close()
        if not line:
            raise NetworkUnavailableError("the network process closed the connection")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise NetworkError(
                reply.get("error", "the network process refused the command"),
                reply.get("problems"),
            )
        return reply.get("result")

    def status(self) -> NetworkStatus:
        return NetworkStatus.model_validate(self.request("status"))

    def test(self, name: str) -> None:
        self.request("test", name=name)

    def recorders_test(self, name: str) -> dict[str, Any]:
        """Test a recorder action (its alarm, then its clear) or a camera; what it answered."""
        result: dict[str, Any] = self.request("recorders-test", name=name)
        return result

    def replay(self, name: str, from_seq: int) -> int:
        """Send ``name`` every event from ``from_seq`` on again; the new cursor."""
        return int(self.request("replay", name=name, from_seq=from_seq))

    def settings(self) -> dict[str, Any]:
        """The stored settings (secrets masked), what the environment sets, and what
        could not start (app.network.reload.Configurator.shown)."""
        return dict(self.request("settings"))

    def configure(
        self, settings: dict[str, Any], user: str, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Check, store and apply a whole settings document; ``dry_run``: only check.
        The answer: ``{"version", "added", "removed", "changed"}`` (destination names).
        :class:`NetworkError` with ``problems`` when it is refused."""
        return dict(self.request("configure", settings=settings, user=user, dry_run=dry_run))
