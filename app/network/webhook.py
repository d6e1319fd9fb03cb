"""The webhook destination: one signed POST per event (Standard Webhooks).

Each request carries ``webhook-id`` (the idempotency key ``<device id>-<seq>``: a
receiver drops a repeat), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (``v1,`` + base64 of HMAC-SHA256 over ``id.timestamp.body``
with the secret's bytes, the secret being ``whsec_`` + base64). The body is
``{"type": "alarmbridge.<kind>", "timestamp": ISO 8601, "data": {...the log row,
"key", "device_id"}}``. Any 2xx is taken; anything else (or no answer in 10 s) is an
error, and the delivery loop sends the same events again later, in order.
Filters: event kinds and channels (default: all).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from app import __version__
from app.events import Event
from app.network.delivery import describe
from app.network.destination import Delivery, DeliveryError

TIMEOUT_S = 10.0


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value.

    >>> sign("whsec_" + base64.b64encode(b"k" * 24).decode(), "a-1", 1, b"{}")[:3]
    'v1,'
    """
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def body_of(kind: str, data: dict[str, Any], utc_us: int) -> bytes:
    moment = datetime.fromtimestamp(utc_us / 1e6, UTC).isoformat().replace("+00:00", "Z")
    document = {"type": f"alarmbridge.{kind}", "timestamp": moment, "data": data}
    return json.dumps(document, separators=(",", ":")).encode()


class WebhookDestination:
    """Events to an HTTP endpoint (see the module's docstring)."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | None,
        device_id: str,
        *,
        kinds: Iterable[str] = (),
        channels: Iterable[str] = (),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.device_id = device_id
        self.kinds = frozenset(kinds)
        self.channels = frozenset(channels)
        self._http = httpx.AsyncClient(
            timeout=TIMEOUT_S,
            transport=transport,
            headers={"user-agent": f"alarmbridge/{__version__}"},
            follow_redirects=False,
        )

    def wants(self, event: Event) -> bool:
        if self.kinds and str(event.kind) not in self.kinds:
            return False
        return not self.channels or event.channel in self.channels

    async def _post(self, msg_id: str, body: bytes) -> None:
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
        }
        if self.secret:
            headers["webhook-signature"] = sign(self.secret, msg_id, timestamp, body)
        try:
            response = await self._http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {describe(exc)}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(
                f"the receiver answered {response.status_code} {response.reason_phrase} "
                f"for {msg_id}"
            )

    async def deliver(self, batch: Sequence[Delivery]) -> None:
        for delivery in batch:  # one at a time: in order
            event = delivery.event
            data = {"key": delivery.key, "device_id": self.device_id, **event.to_json()}
            await self._post(delivery.key, body_of(str(event.kind), data, event.utc_us))

    async def send_test(self) -> None:
        now_us = time.time_ns() // 1000
        msg_id = f"{self.device_id}-test-{now_us}"
        data = {"key": msg_id, "device_id": self.device_id, "test": True}
        await self._post(msg_id, body_of("test", data, now_us))

    async def aclose(self) -> None:
        await self._http.aclose()
