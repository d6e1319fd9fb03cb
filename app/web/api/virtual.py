"""Virtual inputs (#21): their configuration (V1..V8) and their signals.

A virtual input is numbered after the board's wired inputs (on a board with 4
inputs, V1 is input 5); ``POST /inputs/{n}/signal`` takes either that number or
the label (``V1``). The io process logs each change with who signalled it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from app.config import MAX_VIRTUAL_INPUTS, VirtualInputConfig
from app.io.commands import Signal
from app.web.api.config import Doc, Number, _read, _write, change, current
from app.web.deps import State, check_number
from app.web.errors import ApiError, NotFoundError, answers
from app.web.models import Status
from app.web.security import Admin, Operator

router = APIRouter(tags=["virtual inputs"])

InputRef = Annotated[
    str,
    Path(
        description="the input's number (wired inputs first, then V1...) or its label, e.g. V1",
        pattern=r"^([Vv][1-8]|[0-9]{1,3})$",
    ),
]


class SignalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["active", "inactive", "pulse"] = Field(
        description="active (alarm), inactive (normal), or pulse: active for pulse_s seconds"
    )
    pulse_s: StrictInt | None = Field(
        default=None, ge=1, le=86_400, description="for a pulse: its length in seconds"
    )

    @model_validator(mode="after")
    def _pulse_length(self) -> Self:
        if self.state == "pulse" and self.pulse_s is None:
            raise ValueError("a pulse needs its length in seconds: pulse_s")
        if self.state != "pulse" and self.pulse_s is not None:
            raise ValueError(f"pulse_s is for a pulse only, not for {self.state!r}")
        return self


def virtual_number(ref: str, status: Status) -> int:
    """k of Vk for ``ref`` (a label or an input's number); a clear 404 or 409."""
    wired, count = len(status.inputs), len(status.virtual_inputs)
    span = f"V1-V{count} (inputs {wired + 1}-{wired + count})" if count else "none configured"
    if re.fullmatch(r"[Vv]\d", ref):
        k = int(ref[1:])
    else:
        n = int(ref)
        if 1 <= n <= wired:
            raise ApiError(
                f"input {n} is wired: only virtual inputs take signals (virtual inputs: {span})",
                status=409,
            )
        k = n - wired
    if not 1 <= k <= count:
        raise NotFoundError(f"there is no virtual input {ref} (virtual inputs: {span})")
    return k


@router.post("/inputs/{n}/signal", responses=answers(404, 409, 413))
async def signal_input(state: State, who: Operator, n: InputRef, body: SignalRequest) -> Status:
    """Set virtual input ``n`` active or inactive, or pulse it for ``pulse_s``
    seconds (a camera's detection, a rule in a VMS or in Home Assistant). It acts
    as a wired input's alarm would (kind, arming, linked outputs) and is logged with
    who signalled it. Repeat the state within its ``refresh_s`` if it has one: a
    virtual input not refreshed in time falls back to normal and raises a fault.
    Returns the new status."""
    k = virtual_number(n, await state.status())
    await state.io(Signal(virtual=k, action=body.state, pulse_s=body.pulse_s, user=who.name))
    return await state.status()


@router.get("/virtual-inputs")
async def list_virtual_inputs(state: State) -> list[VirtualInputConfig]:
    return (await current(state)).virtual_inputs


@router.get("/virtual-inputs/{n}", responses=answers(404))
async def get_virtual_input(state: State, n: Number) -> VirtualInputConfig:
    item: VirtualInputConfig = await _read(state, "virtual_inputs", n)
    return item


@router.put("/virtual-inputs/{n}", responses=answers(404, 413))
async def put_virtual_input(
    state: State, who: Admin, n: Number, body: VirtualInputConfig
) -> VirtualInputConfig:
    """Change every setting of virtual input V``n``; applied at once."""
    item: VirtualInputConfig = await _write(state, "virtual_inputs", n, body, who)
    return item


@router.post("/virtual-inputs", status_code=201, responses=answers(409, 413))
async def add_virtual_input(
    state: State, who: Admin, body: VirtualInputConfig
) -> list[VirtualInputConfig]:
    """Add a virtual input (the next free V number; at most 8). It starts normal."""

    def edit(doc: Doc) -> None:
        items = doc.setdefault("virtual_inputs", [])
        if len(items) >= MAX_VIRTUAL_INPUTS:
            raise ApiError(f"there are {MAX_VIRTUAL_INPUTS} virtual inputs already", status=409)
        items.append(body.model_dump(mode="json"))

    return (await change(state, edit, who)).virtual_inputs


@router.delete("/virtual-inputs/{n}", responses=answers(404))
async def remove_virtual_input(state: State, who: Admin, n: Number) -> list[VirtualInputConfig]:
    """Remove virtual input V``n``; those after it move up one (V3 becomes V2).
    The outputs it drives let go of it."""

    def edit(doc: Doc) -> None:
        items = doc.setdefault("virtual_inputs", [])
        check_number("virtual input", n, len(items))
        del items[n - 1]

    return (await change(state, edit, who)).virtual_inputs
