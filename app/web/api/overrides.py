"""An operator's overrides: bypass an input for a while (a faulty sensor during a
repair), arm or disarm every alarm input for a while. The io process keeps them
(across restarts), ends them at their time, and logs each with who and until when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.io.commands import BypassInput, EndArmingOverride, EndBypass, OverrideArming
from app.web.deps import State, WholeNumber, check_number
from app.web.errors import answers
from app.web.models import ArmingOverrideRequest, BypassRequest, Status
from app.web.security import Operator

router = APIRouter(tags=["overrides"])

InputNumber = Annotated[WholeNumber, Path(description="1-based input number")]


def _seconds(hours: float) -> int:
    return max(60, round(hours * 3600))


@router.post("/inputs/{n}/bypass", responses=answers(400, 404, 413))
async def bypass_input(state: State, who: Operator, n: InputNumber, body: BypassRequest) -> Status:
    """Bypass input ``n`` for ``hours``: its changes are still logged, but it drives
    nothing until then. Again while bypassed: a new end time. Returns the status."""
    check_number("input", n, len((await state.status()).inputs))
    seconds = _seconds(body.hours)
    await state.io(BypassInput(input=n, duration_s=seconds, reason=body.reason, user=who.name))
    return await state.status()


@router.delete("/inputs/{n}/bypass", responses=answers(404))
async def end_bypass(state: State, who: Operator, n: InputNumber) -> Status:
    """End input ``n``'s bypass now (nothing happens, and nothing is logged, if it
    was not bypassed)."""
    check_number("input", n, len((await state.status()).inputs))
    await state.io(EndBypass(input=n, user=who.name))
    return await state.status()


@router.post("/arming/override", responses=answers(400, 413))
async def override_arming(state: State, who: Operator, body: ArmingOverrideRequest) -> Status:
    """Arm (``armed`` true) or disarm every alarm input for ``hours``, whatever the
    schedules and the panel say; it ends by itself then."""
    seconds = _seconds(body.hours)
    await state.io(OverrideArming(armed=body.armed, duration_s=seconds, user=who.name))
    return await state.status()


@router.delete("/arming/override")
async def end_arming_override(state: State, who: Operator) -> Status:
    """Back to the schedules and the panel now."""
    await state.io(EndArmingOverride(user=who.name))
    return await state.status()
