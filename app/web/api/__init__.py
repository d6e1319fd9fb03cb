"""The JSON API, ``/api/v1``: one router per area. Everything but setup and login
needs at least the viewer role; writes name the role they need (security.py)."""

from fastapi import APIRouter, Depends

from app.auth.store import Role
from app.web import evidence
from app.web.api import (
    actions,
    auth,
    config,
    events,
    integrations,
    netsettings,
    overrides,
    schedules,
    status,
    virtual,
    walktest,
)
from app.web.errors import COMMON_ERRORS
from app.web.security import require

router = APIRouter(prefix="/api/v1", responses=COMMON_ERRORS)
router.include_router(auth.public)
protected = APIRouter(dependencies=[Depends(require(Role.VIEWER))])
for module in (
    status,
    config,
    schedules,
    actions,
    overrides,
    walktest,
    events,
    integrations,
    netsettings,
    virtual,
    evidence,  # an event's annotations and snapshots (#20)
):
    protected.include_router(module.router)
protected.include_router(auth.router)
router.include_router(protected)
