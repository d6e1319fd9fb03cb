"""The Integrations page: each destination of the network process (MQTT, webhooks),
its delivery, and (for an admin) a test message, a replay and the destinations'
settings (app/web/api/netsettings.py; the forms: _netsettings.html, netsettings.js).
Its own router and template; the data is the API's (app/web/api/integrations.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from app.auth.store import Role
from app.web.api.integrations import integrations
from app.web.api.netsettings import read
from app.web.deps import State
from app.web.errors import ApiError
from app.web.pages import render
from app.web.security import Principal, require

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Role.VIEWER))])


@router.get("/integrations", response_class=HTMLResponse)
async def integrations_page(request: Request, state: State) -> HTMLResponse:
    info = await integrations(state)
    settings = state.settings
    who: Principal | None = getattr(request.state, "principal", None)
    net, net_error = None, None
    if who is not None and who.role is Role.ADMIN:  # the settings are the admin's
        try:
            net = await read(state)
        except ApiError as exc:
            net_error = exc.message
    return render(
        state,
        request,
        "integrations.html",
        page="integrations",
        info=info,
        configured=any(
            (settings.mqtt_url, settings.webhook_url, settings.smtp_url, settings.apprise_url)
        ),
        backlog_fault_s=settings.backlog_fault_s,
        net=net,
        net_error=net_error,
        net_env={} if net is None else {e.name: e.variable for e in net.environment},
        net_status={d.name: d for d in info.destinations},
    )
