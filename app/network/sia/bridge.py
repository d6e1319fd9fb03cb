"""From the SIA receiver to the io process: its signals, faults and refusals as
io socket commands (``signal``, ``network-fault``, ``sia-refused``), sent from a
worker thread so the receiver's event loop never blocks on the socket. An io process that cannot be
reached raises: the receiver then does not ACK, and the panel sends again."""

from __future__ import annotations

import asyncio
from typing import Literal

from app.io.commands import NetworkFault, SiaRefused, Signal
from app.io.protocol import Client
from app.network.sia.receiver import Apply, Fault
from app.network.sia.refusals import Send


def io_apply(client: Client) -> Apply:
    async def apply(virtual: int, action: str, source: str) -> None:
        if action not in ("active", "inactive"):
            raise ValueError(f"a panel's signal is active or inactive, not {action!r}")
        state: Literal["active", "inactive"] = "active" if action == "active" else "inactive"
        command = Signal(virtual=virtual, action=state, user=source[:64])
        await asyncio.to_thread(client.send, command)

    return apply


def io_fault(client: Client) -> Fault:
    async def fault(code: str, active: bool, message: str) -> None:
        command = NetworkFault(code=code, active=active, message=message[:300])
        await asyncio.to_thread(client.send, command)

    return fault


def io_refused(client: Client) -> Send:
    async def refused(command: SiaRefused) -> None:
        await asyncio.to_thread(client.send, command)

    return refused
