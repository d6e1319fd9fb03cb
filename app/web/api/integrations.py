"""The network process's destinations (MQTT, webhooks): their delivery, a test
message, a replay. Read by any viewer; the actions are the admin's. The web
process asks the network process over its status socket (app.network.client)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from app.network.client import (
    DestinationStatus,
    NetworkClient,
    NetworkError,
    NetworkUnavailableError,
)
from app.network.sia.status import SiaStatus
from app.web.deps import State
from app.web.errors import ApiError, NotFoundError, answers
from app.web.security import Admin, Viewer

router = APIRouter(tags=["integrations"])

DestinationName = Annotated[
    str, Path(description="a destination: mqtt, webhook", pattern=r"^[a-z0-9-]{1,40}$")
]


class IntegrationsOut(BaseModel):
    """Each configured destination's delivery (``running`` false: the network process
    does not answer, and ``error`` says why)."""

    running: bool
    error: str | None = None
    device_id: str | None = None
    stream: bool = Field(
        default=False, description="whether the io stream is live (else the log is polled)"
    )
    destinations: list[DestinationStatus] = Field(default_factory=list)
    sia: SiaStatus | None = Field(
        default=None,
        description="SIA DC-09: the receiver (address, accounts, ACKs and refusals) and the "
        "sender (primary and backup receivers); null when it is off",
    )


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    from_seq: int = Field(ge=1, description="send every event from this seq on again")


def client(state: State) -> NetworkClient:
    return NetworkClient(state.settings.network_socket_path, timeout=30.0)


async def integrations(state: State) -> IntegrationsOut:
    try:
        status = await asyncio.to_thread(client(state).status)
    except NetworkError as exc:
        return IntegrationsOut(running=False, error=str(exc))
    return IntegrationsOut(
        running=True,
        device_id=status.device_id,
        stream=status.stream,
        destinations=status.destinations,
        sia=status.sia,
    )


@router.get("/integrations")
async def get_integrations(state: State, who: Viewer) -> IntegrationsOut:
    """Per destination: connected, the last event delivered and when, the backlog and
    its oldest event, the last error, events lost to the log's retention."""
    return await integrations(state)


async def _act(state: State, name: str, call: str, *args: int) -> None:
    try:
        await asyncio.to_thread(getattr(client(state), call), name, *args)
    except NetworkUnavailableError as exc:
        raise ApiError(str(exc), status=503) from None
    except NetworkError as exc:
        message = str(exc)
        if message.startswith("no destination"):
            raise NotFoundError(message) from None
        raise ApiError(f"{name}: {message}", status=502) from None


@router.post("/integrations/{name}/test", responses=answers(404, 502))
async def send_test(state: State, who: Admin, name: DestinationName) -> IntegrationsOut:
    """Send a test message to the destination now (502 with the peer's error if it
    did not take it)."""
    await _act(state, name, "test")
    return await integrations(state)


@router.post("/integrations/{name}/replay", responses=answers(404))
async def replay(
    state: State, who: Admin, name: DestinationName, body: ReplayRequest
) -> IntegrationsOut:
    """Send the destination every event from ``from_seq`` on again (those the log
    still has), in order; receivers drop repeats by their idempotency key."""
    await _act(state, name, "replay", body.from_seq)
    return await integrations(state)
