"""The destinations' settings (MQTT, webhooks, e-mail, Apprise, SIA DC-09, and the
recorders and cameras an alarm sets going), the admin's: read with every secret
masked, and replaced as one document. The network process checks, stores (in its own
network.db, never in the event log) and applies them without a restart; this process
never sees a secret in clear. Each change is logged in the event log (an
``integrations-changed`` security event: who, and which destinations; never a
secret). docs/integrations.md, docs/recorders.md, ADR 0016, ADR 0017."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from pydantic import BaseModel, Field

from app.network.client import NetworkClient, NetworkError, NetworkUnavailableError
from app.web import audit as access_log
from app.web.deps import State
from app.web.errors import ApiError, answers
from app.web.models import Problem
from app.web.security import Admin, Principal, client_address

router = APIRouter(tags=["integrations"])

MASK = "********"  # app.network.netsettings.MASK (not imported: the web process needs no SIA)


class EnvironmentDestination(BaseModel):
    name: str = Field(description="mqtt, webhook, mail, apprise or sia")
    variable: str = Field(description="the environment variable that sets it")


class RecordersShown(BaseModel):
    """The recorders (docs/recorders.md): the ``recorders`` section of the document,
    or ``ALARMBRIDGE_RECORDERS_FILE`` when it is set (then read-only here)."""

    origin: str | None = Field(description="'environment', 'stored', or null: none configured")
    variable: str | None = Field(description="the variable that sets them, if it does")
    document: dict[str, Any] | None = Field(
        description="the file's document (secrets masked) when the environment sets them"
    )
    status: dict[str, Any] | None = Field(
        description="the runner's status: read_seq, cursor, pending_events, events_done, "
        "skipped, failing (null: not running)"
    )


class IntegrationSettingsOut(BaseModel):
    """The stored settings; each secret reads ``"********"`` when set, ``""`` (or
    null) when not. Send the document back with the marker to keep a secret."""

    document: dict[str, Any] = Field(
        description="mqtt, webhooks, mail, apprise, sia, recorders (docs/integrations.md, "
        "docs/recorders.md)"
    )
    version: int = Field(description="0: never saved; each save adds 1")
    environment: list[EnvironmentDestination] = Field(
        description="destinations set by the environment: read-only here"
    )
    running: dict[str, str] = Field(
        description="each running destination: 'environment' or 'stored'"
    )
    problems: list[Problem] = Field(
        description="stored parts that could not start (e.g. a package missing)"
    )
    recorders: RecordersShown | None = Field(
        default=None, description="where the recorders come from, and their runner's status"
    )
    applied: dict[str, list[str]] | None = Field(
        default=None, description="after a save: the destinations added, removed, changed"
    )


def client(state: State) -> NetworkClient:
    return NetworkClient(state.settings.network_socket_path, timeout=30.0)


def unavailable(exc: NetworkError) -> ApiError:
    return ApiError(
        f"the network process is not running, so its settings cannot be read or changed now: {exc}",
        status=503,
    )


async def read(state: State) -> IntegrationSettingsOut:
    try:
        shown = await asyncio.to_thread(client(state).settings)
    except NetworkUnavailableError as exc:
        raise unavailable(exc) from None
    except NetworkError as exc:
        raise ApiError(str(exc), status=502) from None
    return IntegrationSettingsOut.model_validate(shown)


async def apply(
    state: State, document: Any, who: Principal, request: Request, *, dry_run: bool = False
) -> dict[str, Any]:
    """Have the network process check (and unless ``dry_run``, store and apply) the
    document; log the change. 422 with every problem, 503 when it is not running."""
    try:
        done: dict[str, Any] = await asyncio.to_thread(
            client(state).configure, document, who.name, dry_run=dry_run
        )
    except NetworkUnavailableError as exc:
        raise unavailable(exc) from None
    except NetworkError as exc:
        problems = [
            Problem(field=p.get("field") or None, message=p.get("message", ""))
            for p in exc.problems
        ]
        raise ApiError(str(exc), problems, status=422 if problems else 502) from None
    if not dry_run and not done.get("unchanged"):
        detail = {
            key: ", ".join(done.get(key) or []) or "-"
            for key in ("settings", "added", "removed", "changed")
        }
        detail = {k: v[:120] for k, v in detail.items()}
        await access_log.audit(
            state.io,
            "integrations-changed",
            who.name,
            client_address(request),
            version=str(done.get("version")),
            **detail,
        )
    return done


@router.get("/integrations/settings")
async def get_settings(state: State, who: Admin) -> IntegrationSettingsOut:
    """The destinations' settings, every secret masked (503: the network process is
    not running)."""
    return await read(state)


@router.put("/integrations/settings")
async def put_settings(
    state: State,
    who: Admin,
    request: Request,
    document: Annotated[
        dict[str, Any],
        Body(description="the whole document, as GET gives it; a masked secret keeps its value"),
    ],
) -> IntegrationSettingsOut:
    """Replace the destinations' settings: checked as a whole (422 lists every
    problem, each naming its field), stored by the network process and applied at
    once (only the destinations that changed restart). Logged with who and which
    destinations changed."""
    done = await apply(state, document, who, request)
    shown = await read(state)
    shown.applied = {k: list(done.get(k) or []) for k in ("added", "removed", "changed")}
    return shown


@router.post("/integrations/recorders/{name}/test", responses=answers(404, 502))
async def test_recorder(
    state: State, who: Admin, name: Annotated[str, Path(min_length=1, max_length=40)]
) -> dict[str, Any]:
    """Test a recorder action (its alarm request, then its clear) or grab one snapshot
    from a camera, by its name; nothing is logged. 502 with the peer's answer when the
    recorder refuses or cannot be reached, 404 for an unknown name, 503 when the network
    process is not running."""
    try:
        result: dict[str, Any] = await asyncio.to_thread(client(state).recorders_test, name)
    except NetworkUnavailableError as exc:
        raise unavailable(exc) from None
    except NetworkError as exc:
        status = 404 if str(exc).startswith(("no action or camera", "no recorders")) else 502
        raise ApiError(str(exc), status=status) from None
    failed = [
        f"{phase}: {result[phase].get('summary') or result[phase]}"
        for phase in ("alarm", "clear")
        if isinstance(result.get(phase), dict) and result[phase].get("ok") is False
    ]
    if failed:
        raise ApiError(f"{name}: the recorder answered {'; '.join(failed)}", status=502)
    return result
