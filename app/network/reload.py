"""The running destinations, and changing them without restarting the process.

:class:`Fleet` owns each running destination: its delivery loop, its watch task,
and its own tasks (the MQTT connection, the SIA NULL supervision), plus the SIA
receiver. :class:`Configurator` answers the network socket's ``settings`` and
``configure`` commands: a document sent in is unmasked (app.network.netsettings),
validated, checked against the environment's destinations (app.network.netbuild),
its destinations made (so a refused setting is an error before anything changes),
stored in one transaction (app.network.netstore), and then applied: only the
destinations whose settings changed are stopped (loops, tasks and connections
closed, their faults cleared) and started again; the others run on untouched.

Cursors are kept per destination name (app.network.outbox): a destination whose
settings change, or that is disabled and enabled again, goes on from its cursor
(a webhook whose URL changes gets, at the new URL, what the old one had not
taken); a webhook removed from the document loses its cursor, so one added (or
renamed) later starts at the log's end like every new destination (ADR 0016).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.io.protocol import Client
from app.network.delivery import DeliveryLoop, FaultReporter, describe
from app.network.destination import Destination
from app.network.mqtt import MqttDestination
from app.network.netbuild import (
    BuildError,
    Planned,
    build,
    clashes,
    from_environment,
    plan,
    receiver_of,
)
from app.network.netrecorders import configures_anything
from app.network.netsettings import NetSettings, SettingsProblemsError, masked, parse
from app.network.netstore import SettingsStore
from app.network.outbox import Outbox
from app.network.recreload import Recorders
from app.network.sia.receiver import SiaReceiver
from app.network.sia.sender import SiaSender
from app.network.sia.service import SiaConfig, run_receiver, sia_receiver
from app.settings import Settings

log = logging.getLogger(__name__)

ENVIRONMENT = "environment"


@dataclass
class Running:
    destination: Destination
    loop: DeliveryLoop
    fingerprint: str
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


class Fleet:
    """The running destinations (see the module's docstring). A task of theirs that
    ends with an exception (a bug) sets :attr:`crashed`: the process then exits and
    is restarted, as before."""

    def __init__(
        self,
        make_loop: Callable[[Destination], DeliveryLoop],
        report_fault: FaultReporter,
        io: Client,
    ) -> None:
        self.make_loop = make_loop
        self.report_fault = report_fault
        self.io = io
        self.running: dict[str, Running] = {}
        self.crashed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._receiver: tuple[str, asyncio.Task[None], asyncio.Event] | None = None
        self.receiver_error: str | None = None
        self.receiver: SiaReceiver | None = None  # the stored settings' (for its status)

    @property
    def loops(self) -> dict[str, DeliveryLoop]:
        return {name: r.loop for name, r in self.running.items()}

    def _task(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self.crashed.done():
            return
        exc = task.exception()
        if exc is not None:
            self.crashed.set_exception(exc)

    def start(self, destination: Destination, fingerprint: str) -> None:
        name = destination.name
        loop = self.make_loop(destination)
        running = Running(destination, loop, fingerprint)
        if isinstance(destination, MqttDestination):
            destination.on_connected = loop.retry_now
            running.tasks.append(self._task(destination.run(), "mqtt-connection"))
        if isinstance(destination, SiaSender) and destination.settings.null_s:
            running.tasks.append(self._task(destination.supervise(), "sia-null"))
        running.tasks.append(self._task(loop.run(), f"deliver-{name}"))
        running.tasks.append(self._task(loop.watch(), f"watch-{name}"))
        self.running[name] = running
        log.info("destination %s started", name)

    async def stop(self, name: str, why: str) -> None:
        """Stop ``name``: its tasks, its connection, and the faults it raised."""
        running = self.running.pop(name)
        await _close(running)
        for code, (active, _) in list(running.loop.faults.items()):
            if active:
                with contextlib.suppress(Exception):
                    await self.report_fault(code, False, f"{name}: {why}")
        log.info("destination %s stopped (%s)", name, why)

    def start_receiver(self, fingerprint: str, sia: SiaConfig) -> asyncio.Future[Any]:
        """Start the SIA receiver; the future is done once it listens (its ports) or
        could not (a port in use: :attr:`receiver_error`, the process goes on)."""
        stop = asyncio.Event()
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.receiver_error = None
        self.receiver = receiver = sia_receiver(sia, self.io)

        async def receive() -> None:
            try:
                await run_receiver(sia, self.io, stop, ready, receiver=receiver)
            except OSError as exc:  # a setting (the port), not a bug: shown, not fatal
                self.receiver_error = f"the SIA receiver cannot listen: {describe(exc)}"
                log.error("%s", self.receiver_error)
                if not ready.done():
                    ready.set_result(None)

        task = self._task(receive(), "sia-receiver")
        self._receiver = (fingerprint, task, stop)
        return ready

    async def stop_receiver(self) -> None:
        if self._receiver is not None:
            _, task, stop = self._receiver
            self._receiver = None
            self.receiver = None
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), 10)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @property
    def receiver_fingerprint(self) -> str | None:
        return None if self._receiver is None else self._receiver[0]

    async def close(self) -> None:
        for name in list(self.running):
            await _close(self.running.pop(name))
        await self.stop_receiver()


async def _close(running: Running) -> None:
    """Stop delivering, then close the destination while its connection still runs
    (MQTT says ``offline`` then: a clean disconnect sends no last will), then the rest."""
    loop_tasks = running.tasks[-2:]  # deliver and watch (started last)
    for task in loop_tasks:
        task.cancel()
    await asyncio.gather(*loop_tasks, return_exceptions=True)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(running.destination.aclose(), 10)
    for task in running.tasks:
        task.cancel()
    await asyncio.gather(*running.tasks, return_exceptions=True)


class Configurator:
    """The stored document and the ``settings`` / ``configure`` commands."""

    def __init__(
        self,
        settings: Settings,
        device: str,
        io: Client,
        fleet: Fleet,
        outbox: Outbox,
        recorders: Recorders | None = None,
    ) -> None:
        self.settings = settings
        self.recorders = recorders  # the recorders runner (app.network.recreload)
        self.device = device
        self.io = io
        self.fleet = fleet
        self.outbox = outbox
        self.env = from_environment(settings)
        self.store = SettingsStore(settings.network_db_path)
        self.document, self.version = self.store.load()
        self.problems: list[dict[str, str]] = []  # what could not start from the stored one
        self._lock = asyncio.Lock()

    def close(self) -> None:
        self.store.close()

    def start(self) -> None:
        """Start what the stored document asks for (after the environment's). A part
        that cannot start (it clashes with the environment, a package is missing) is
        logged and shown with the settings; the rest starts."""
        self.problems = clashes(self.document, self.env)
        for planned in plan(self.document, self.settings, self.device, self.io, self.env):
            if planned.name in self.fleet.running:
                continue
            try:
                self.fleet.start(build(planned), planned.fingerprint)
            except BuildError as exc:
                log.error("stored network settings: %s", exc)
                self.problems.append({"field": exc.field, "message": exc.message})
        receiver = receiver_of(self.document, self.env)
        if receiver is not None:
            self.fleet.start_receiver(*receiver)

    def shown(self) -> dict[str, Any]:
        """The ``settings`` command's answer: the document with its secrets masked, and
        the destinations the environment sets (read-only)."""
        origin = {name: ENVIRONMENT for name in self.env}
        return {
            "document": masked(self.document),
            "version": self.version,
            "environment": [{"name": n, "variable": v} for n, v in self.env.items()],
            "running": {name: origin.get(name, "stored") for name in self.fleet.running},
            "recorders": None if self.recorders is None else self.recorders.shown(self.document),
            "problems": self.problems
            + ([] if self.recorders is None else self.recorders.problems)
            + (
                [{"field": "sia.receiver.port", "message": self.fleet.receiver_error}]
                if self.fleet.receiver_error
                else []
            ),
        }

    async def configure(self, doc: Any, who: str, *, dry_run: bool = False) -> dict[str, Any]:
        """Check, store and apply a whole document (see the module's docstring).
        :class:`SettingsProblemsError` lists everything wrong; nothing changes then."""
        async with self._lock:
            new = parse(doc, self.document)
            problems = clashes(new, self.env)
            recorders = new.recorders != self.document.recorders and "recorders" not in self.env
            if recorders and self.recorders is not None:
                problems += await self.recorders.check(new.recorders)
            planned = plan(new, self.settings, self.device, self.io, self.env)
            current = {
                name: r.fingerprint
                for name, r in self.fleet.running.items()
                if name not in self.env
            }
            made: dict[str, Destination] = {}
            for p in planned:
                if current.get(p.name) == p.fingerprint:
                    continue  # unchanged: it runs on
                try:
                    made[p.name] = build(p)
                except BuildError as exc:
                    problems.append({"field": exc.field, "message": exc.message})
            if problems or dry_run:
                for destination in made.values():
                    with contextlib.suppress(Exception):
                        await destination.aclose()
            if problems:
                raise SettingsProblemsError(problems)
            wanted = {p.name: p for p in planned}
            changes = _changes(current, wanted)
            receiver = receiver_of(new, self.env)
            before, after = self.fleet.receiver_fingerprint, receiver and receiver[0]
            if before != after:
                which = "changed" if before and after else "added" if after else "removed"
                changes[which].append("sia-receiver")
            if recorders:
                had, has = (
                    configures_anything(self.document.recorders),
                    configures_anything(new.recorders),
                )
                changes["changed" if had and has else "added" if has else "removed"].append(
                    "recorders"
                )
            edited = _edited(self.document, new)
            if dry_run or not edited:
                return {
                    "version": self.version,
                    "unchanged": not edited,
                    "settings": edited,
                    **changes,
                }
            self.version = await asyncio.to_thread(self.store.save, new, who)
            old_hooks = {h.name for h in self.document.webhooks}
            self.document = new
            self.problems = []
            await self._apply(current, wanted, made, receiver)
            if recorders and self.recorders is not None:
                await self.recorders.replace(new.recorders)
            for name in old_hooks - {h.name for h in new.webhooks}:
                if name not in self.env:
                    self.outbox.forget(name)
            log.info("network settings version %d by %s: %s", self.version, who, changes)
            return {"version": self.version, "unchanged": False, "settings": edited, **changes}

    async def _apply(
        self,
        current: dict[str, str],
        wanted: dict[str, Planned],
        made: dict[str, Destination],
        receiver: tuple[str, SiaConfig] | None,
    ) -> None:
        for name, fingerprint in current.items():
            if name not in wanted:
                await self.fleet.stop(name, "removed from the settings")
            elif wanted[name].fingerprint != fingerprint:
                await self.fleet.stop(name, "its settings changed")
        for name, destination in made.items():
            self.fleet.start(destination, wanted[name].fingerprint)
        if self.fleet.receiver_fingerprint != (receiver[0] if receiver else None):
            await self.fleet.stop_receiver()
            self.fleet.receiver_error = None
            if receiver is not None:
                ready = self.fleet.start_receiver(*receiver)
                with contextlib.suppress(Exception):  # (shown with the settings)
                    await asyncio.wait_for(asyncio.shield(ready), 5)


def _parts(doc: NetSettings) -> dict[str, Any]:
    parts: dict[str, Any] = {
        "mqtt": doc.mqtt,
        "mail": doc.mail,
        "apprise": doc.apprise,
        "sia": doc.sia,
        "recorders": doc.recorders,
    }
    parts.update({f"webhook {h.name}": h for h in doc.webhooks})
    return parts


def _edited(old: NetSettings, new: NetSettings) -> list[str]:
    """The parts of the document that differ (secrets compared too, never shown)."""
    before, after = _parts(old), _parts(new)
    return sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))


def _changes(current: dict[str, str], wanted: dict[str, Planned]) -> dict[str, list[str]]:
    return {
        "added": sorted(set(wanted) - set(current)),
        "removed": sorted(set(current) - set(wanted)),
        "changed": sorted(
            n for n in set(current) & set(wanted) if current[n] != wanted[n].fingerprint
        ),
    }


def describe_problems(exc: Exception) -> list[dict[str, str]]:
    if isinstance(exc, SettingsProblemsError):
        return exc.problems
    return [{"field": "", "message": describe(exc)}]


__all__ = ["Configurator", "Fleet", "NetSettings", "SettingsProblemsError"]
