"""Acting on outputs: manual start and stop, the manual trigger, and the simulated
pins. The io process does the work; each action is logged there with its user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.io.commands import FAULT_CODE, ClearFault, Simulate, StartOutput, StopOutput, Trigger
from app.web.deps import State, WholeNumber, check_number
from app.web.errors import NotFoundError, answers
from app.web.models import SimButton, SimContact, StartRequest, Status
from app.web.security import Admin, Operator

router = APIRouter(tags=["actions"])

OutputNumber = Annotated[WholeNumber, Path(description="1-based output number")]
InputNumber = Annotated[WholeNumber, Path(description="1-based input number")]


@router.post("/outputs/{n}/start", responses=answers(400, 404, 413))
async def start_output(
    state: State, who: Operator, n: OutputNumber, body: StartRequest | None = None
) -> Status:
    """Start output ``n`` by hand, for ``duration_s`` or until stopped (a latch that
    survives a restart). Returns the new status."""
    check_number("output", n, len((await state.status()).outputs))
    seconds = None if body is None else body.duration_s
    duration_ms = None if seconds is None else round(seconds * 1000)
    await state.io(StartOutput(output=n, duration_ms=duration_ms, user=who.name))
    return await state.status()


@router.post("/outputs/{n}/stop", responses=answers(400, 404))
async def stop_output(state: State, who: Operator, n: OutputNumber) -> Status:
    """Stop output ``n``: manual and automatic activations both end."""
    check_number("output", n, len((await state.status()).outputs))
    await state.io(StopOutput(output=n, user=who.name))
    return await state.status()


@router.post("/trigger")
async def trigger(state: State, who: Operator) -> Status:
    """The manual trigger: does what the physical button is configured to do."""
    await state.io(Trigger(user=who.name))
    return await state.status()


FaultCode = Annotated[
    str, Path(description="the fault's code, e.g. eventlog-corrupt", pattern=FAULT_CODE)
]


@router.post("/faults/{code}/clear")
async def clear_fault(state: State, who: Admin, code: FaultCode) -> Status:
    """Acknowledge and clear a fault that stays until someone does (a damaged event
    log that was moved aside: ``eventlog-corrupt``). Logged with who cleared it.
    Faults of a live condition (a chattering input, a full disk) clear by themselves."""
    await state.io(ClearFault(code=code, user=who.name))
    return await state.status()


async def _simulated(state: State) -> Status:
    status = await state.status()
    if not status.simulated:
        raise NotFoundError("simulation is only available when running on simulated pins")
    return status


@router.post("/simulation/inputs/{n}", responses=answers(404, 413))
async def simulate_input(state: State, who: Operator, n: InputNumber, body: SimContact) -> Status:
    """Simulated pins only (404 otherwise): close or open input ``n``'s contact."""
    check_number("input", n, len((await _simulated(state)).inputs))
    await state.io(Simulate(action="close" if body.closed else "open", input=n, user=who.name))
    return await state.status()


@router.post("/simulation/button", responses=answers(404, 413))
async def simulate_button(state: State, who: Operator, body: SimButton) -> Status:
    """Simulated pins only (404 otherwise): press or release the manual button."""
    await _simulated(state)
    await state.io(Simulate(action="press" if body.pressed else "release", user=who.name))
    return await state.status()
