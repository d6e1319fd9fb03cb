"""What the network process (app/network/process.py) calls to run SIA DC-09.

The settings are one JSON document (the file ``ALARMBRIDGE_SIA_FILE`` names),
``{"receiver": {...}, "sender": {...}}`` (app/network/sia/settings.py); a key is a
secret, so the file is readable by the network process's user only.

    sia = load_sia(path)                       # SiaConfigError names every problem
    destination = sia_destination(sia)         # a Destination, or None
    receiver = sia_receiver(sia, io_client)    # a SiaReceiver, or None
    await run_receiver(sia, io_client, stop, receiver=receiver)  # until ``stop`` is set
    sia_status(receiver, destination)          # for the network process's status
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.io.protocol import Client
from app.network.sia.bridge import io_apply, io_fault, io_refused
from app.network.sia.receiver import SiaReceiver, silent_code
from app.network.sia.refusals import RefusalReport
from app.network.sia.sender import SiaSender
from app.network.sia.settings import ReceiverSettings, SenderSettings

log = logging.getLogger("alarmbridge.sia")


class SiaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receiver: ReceiverSettings = Field(default_factory=ReceiverSettings)
    sender: SenderSettings = Field(default_factory=SenderSettings)


class SiaConfigError(ValueError):
    """A SIA settings file that cannot be used; the message names every problem."""


def load_sia(path: Path) -> SiaConfig:
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise SiaConfigError(f"the SIA settings {path} cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise SiaConfigError(f"the SIA settings {path} are not valid JSON: {exc}") from None
    try:
        return SiaConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise SiaConfigError(f"the SIA settings {path}: {problems}") from None


def sia_destination(sia: SiaConfig) -> SiaSender | None:
    """The sender, if it is enabled and has somewhere to send."""
    sender = sia.sender
    if not sender.enabled:
        return None
    if sender.primary is None and sender.backup is None:
        raise SiaConfigError("the SIA sender is enabled but has no receiver (primary)")
    return SiaSender(sender)


def sia_receiver(sia: SiaConfig, io: Client) -> SiaReceiver | None:
    """The receiver, if it is enabled: its signals, faults and refusals (summed up,
    app/network/sia/refusals.py) go to the io process."""
    if not sia.receiver.enabled:
        return None
    report = RefusalReport(io_refused(io))
    return SiaReceiver(sia.receiver, io_apply(io), io_fault(io), report=report)


def sia_status(receiver: SiaReceiver | None, sender: SiaSender | None) -> dict[str, Any] | None:
    """The ``sia`` part of the network process's status (None: SIA is off)."""
    if receiver is None and sender is None:
        return None
    return {
        "receiver": None if receiver is None else receiver.status(),
        "sender": None if sender is None else sender.status(),
    }


async def run_receiver(
    sia: SiaConfig,
    io: Client,
    stop: asyncio.Event,
    ready: asyncio.Future[tuple[int, int | None]] | None = None,
    *,
    receiver: SiaReceiver | None = None,
) -> None:
    """Run the receiver (if enabled; ``receiver``: this one) until ``stop`` is set.
    ``ready`` gets its (TCP, UDP) ports once it listens. The supervision faults it
    raised are cleared when it stops."""
    receiver = receiver or sia_receiver(sia, io)
    if receiver is None:
        return
    fault = io_fault(io)
    tcp, udp = await receiver.start()
    if ready is not None:
        ready.set_result((tcp, udp))
    log.info("SIA DC-09 receiver on TCP %s%s", tcp, f" and UDP {udp}" if udp else "")
    try:
        await stop.wait()
    finally:
        await receiver.stop()
        for account in sia.receiver.accounts:
            if account.poll_s:
                with contextlib.suppress(Exception):
                    await fault(silent_code(account.account), False, "receiver stopped")
