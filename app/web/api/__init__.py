"""The JSON API, ``/api/v1``: one router per area."""

from fastapi import APIRouter

from app.web.api import actions, config, events, schedules, status
from app.web.errors import COMMON_ERRORS

router = APIRouter(prefix="/api/v1", responses=COMMON_ERRORS)
for module in (status, config, schedules, actions, events):
    router.include_router(module.router)
