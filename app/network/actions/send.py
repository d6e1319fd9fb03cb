"""Send one phase of one network action, with authentication, a timeout and retries.

Retries are for what may pass: a refused or dropped connection, a timeout, a 5xx or
429 answer. A 4xx answer or a vendor's refusal (Hikvision's ``statusCode`` other
than 1, Dahua's ``Error``) is a configuration problem: retrying would not help and
would only delay the next action, so it is reported at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from app.events import Event
from app.network.actions import wire
from app.network.actions.model import (
    Action,
    Auth,
    GenericEvent,
    HttpAction,
    OnvifRelay,
    Phase,
    ZoneMinderTrigger,
)

_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 5.0


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What one phase of one action did: the detail of a ``network-action`` log row."""

    name: str
    kind: str
    phase: Phase
    ok: bool
    summary: str  # the peer's answer in one line, or why there was none
    attempts: int
    elapsed_ms: float
    ref: str | None = None  # an id the peer gave (Frigate or ZoneMinder event)
    sent: bool = True  # False: this phase sends nothing (e.g. no clear text)

    def to_detail(self) -> dict[str, Any]:
        """A JSON-able dict for the event log."""
        return asdict(self)


class _RetryableError(Exception):
    """This attempt failed in a way another attempt may not."""


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per process (per ``verify``), shared by every request.

    Each ``httpx.AsyncClient`` would otherwise load the CA bundle again: about 40 ms
    of CPU on a busy machine, paid per action and per attempt (ten actions on one
    alarm took 1.3 s to all go out before this; docs/recorders.md)."""
    if verify:
        return ssl.create_default_context()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def http_auth(auth: Auth) -> httpx.Auth | None:
    password = auth.password.get_secret_value()
    if auth.scheme == "basic":
        return httpx.BasicAuth(auth.user, password)
    if auth.scheme == "digest":
        return httpx.DigestAuth(auth.user, password)
    return None


async def run_action(
    action: Action, phase: Phase, event: Event, key: str, *, ref: str | None = None
) -> ActionResult:
    """Send this phase of ``action`` for ``event``; never raises for a peer's failure."""
    fields = wire.event_fields(event, key)
    started = time.monotonic()
    attempts = 0
    last = "not sent"
    answer: wire.Answer | None = None
    for attempt in range(action.retries + 1):
        if attempt:
            await asyncio.sleep(min(_FIRST_BACKOFF_S * 2 ** (attempt - 1), _MAX_BACKOFF_S))
        attempts += 1
        try:
            answer = await _attempt(action, phase, fields, ref)
            break
        except _RetryableError as retry:
            last = str(retry)
    elapsed = (time.monotonic() - started) * 1000
    if answer is None:
        return ActionResult(action.name, action.kind, phase, False, last, attempts, elapsed)
    sent = answer.summary != "nothing to send"
    return ActionResult(
        action.name,
        action.kind,
        phase,
        answer.ok,
        answer.summary,
        attempts if sent else 0,
        elapsed,
        answer.ref,
        sent,
    )


async def _attempt(
    action: Action, phase: Phase, fields: dict[str, str], ref: str | None
) -> wire.Answer:
    if isinstance(action, ZoneMinderTrigger):
        return await _zoneminder(action, phase, fields)
    if isinstance(action, GenericEvent):
        return await _generic_event(action, phase, fields)
    if isinstance(action, OnvifRelay):
        return await _onvif_relay(action, phase)
    request = wire.http_request(action, phase, fields, ref)
    if request is None:
        return wire.Answer(True, "nothing to send")
    try:
        async with httpx.AsyncClient(
            base_url=action.base_url,
            auth=http_auth(action.auth),
            timeout=action.timeout_s,
            verify=tls_context(action.verify_tls),
            follow_redirects=False,
        ) as client:
            response = await client.request(
                request.method, request.target, content=request.body, headers=dict(request.headers)
            )
    except httpx.HTTPError as error:
        raise _unreached(action, error) from None
    answer = wire.check_answer(action, response.status_code, response.content)
    if not answer.ok and (response.status_code >= 500 or response.status_code == 429):
        raise _RetryableError(answer.summary)
    return answer


async def _onvif_relay(action: OnvifRelay, phase: Phase) -> wire.Answer:
    from app.network.actions import onvif  # it uses this module's TLS context and auth

    try:
        return wire.Answer(True, await onvif.set_relay(action, phase))
    except onvif.OnvifError as error:
        if error.retry:
            raise _RetryableError(str(error)) from None
        return wire.Answer(False, f"refused: {error}")
    except httpx.HTTPError as error:
        raise _unreached(action, error) from None


def _unreached(action: HttpAction | OnvifRelay, error: httpx.HTTPError) -> _RetryableError:
    """An HTTP request that got no answer (a timeout, a refused connection): retried."""
    if isinstance(error, httpx.TimeoutException):
        return _RetryableError(f"no answer within {action.timeout_s:g} s")
    return _RetryableError(f"could not reach {action.base_url}: {error or type(error).__name__}")


async def _zoneminder(
    action: ZoneMinderTrigger, phase: Phase, fields: dict[str, str]
) -> wire.Answer:
    line = wire.zoneminder_line(action, phase, fields)
    try:
        async with asyncio.timeout(action.timeout_s):
            reader, writer = await asyncio.open_connection(action.host, action.port)
    except (OSError, TimeoutError) as error:
        raise _RetryableError(
            f"could not reach zmtrigger at {action.host}:{action.port}: {error}"
        ) from None
    try:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        if phase == "clear":
            return wire.Answer(True, "cancel sent")
        event_id = await _zoneminder_report(reader, action)
        if event_id is None:
            return wire.Answer(True, f"sent; no event id reported within {action.timeout_s:g} s")
        return wire.Answer(True, f"event {event_id}", event_id)
    except OSError as error:
        raise _RetryableError(f"zmtrigger connection failed: {error}") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _zoneminder_report(reader: asyncio.StreamReader, action: ZoneMinderTrigger) -> str | None:
    """Read zmtrigger's reports until this monitor's new event shows up (or time runs out)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(action.timeout_s):
            while line := await reader.readline():
                event_id = wire.zoneminder_event_id(line.decode("utf-8", "replace"), action.monitor)
                if event_id is not None:
                    return event_id
    return None


async def _generic_event(action: GenericEvent, phase: Phase, fields: dict[str, str]) -> wire.Answer:
    text = wire.generic_text(action, phase, fields)
    if text is None:
        return wire.Answer(True, "nothing to send")
    data = text.encode()
    try:
        async with asyncio.timeout(action.timeout_s):
            if action.transport == "udp":
                loop = asyncio.get_running_loop()
                transport, _ = await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, remote_addr=(action.host, action.port)
                )
                try:
                    transport.sendto(data)
                finally:
                    transport.close()
                return wire.Answer(True, f"{len(data)} bytes sent over UDP")
            _, writer = await asyncio.open_connection(action.host, action.port)
            try:
                writer.write(data)
                await writer.drain()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError) as error:
        raise _RetryableError(
            f"could not send to {action.host}:{action.port}: {error or 'timeout'}"
        ) from None
    return wire.Answer(True, f"{len(data)} bytes sent over TCP")
