"""The network process (``alarmbridge network``): delivery to the configured
destinations, and its status socket.

An asyncio process. It reads the committed log (live from the io socket's stream,
catch-up read-only from the database: app.network.source), keeps one durable cursor
per destination in its own SQLite file (app.network.outbox), runs one delivery loop
per destination (app.network.delivery), and answers ``status``, ``test NAME`` and
``replay NAME from_seq`` on ``network.sock`` (app.network.client). It writes nothing
in the event log: faults and losses go to the io process (``network-fault``), and
MQTT commands too, as an operator's actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import json
import logging
import os
import signal
from dataclasses import dataclass, field
from typing import Any

from app.io.commands import NetworkFault
from app.io.notify import Notifier
from app.io.protocol import MAX_LINE, Client, encode
from app.network.apprise_dest import apprise_destination
from app.network.checks import check, secret
from app.network.delivery import DeliveryLoop, describe
from app.network.destination import DeliveryError, Destination
from app.network.device import device_id
from app.network.mail import mail_destination
from app.network.mqtt import MqttDestination, MqttSettings
from app.network.outbox import Outbox
from app.network.recreload import Recorders
from app.network.reload import ENVIRONMENT, Configurator, Fleet, SettingsProblemsError
from app.network.sia.sender import SiaSender
from app.network.sia.service import (
    SiaConfig,
    load_sia,
    run_receiver,
    sia_destination,
    sia_receiver,
    sia_status,
)
from app.network.source import EventSource
from app.network.webhook import WebhookDestination
from app.settings import Settings

log = logging.getLogger(__name__)


def destinations(
    settings: Settings, device: str, io: Client, sia: SiaConfig | None = None
) -> list[Destination]:
    """The destinations the settings configure, in a fixed order."""
    found: list[Destination] = []
    if mqtt_url := secret(settings.mqtt_url):
        mqtt = MqttSettings(
            url=mqtt_url,
            device_id=device,
            prefix=(settings.mqtt_prefix or f"alarmbridge/{device}").rstrip("/"),
            discovery=settings.mqtt_discovery,
            discovery_prefix=settings.mqtt_discovery_prefix,
            ca_file=settings.mqtt_ca_file,
            commands=settings.mqtt_commands,
        )
        found.append(MqttDestination(mqtt, io))
    if settings.webhook_url:
        found.append(
            WebhookDestination(
                settings.webhook_url,
                secret(settings.webhook_secret),
                device,
                kinds=settings.webhook_kinds,
                channels=settings.webhook_channels,
            )
        )
    # e-mail and Apprise (app/network/mail.py, apprise_dest.py): a wrong setting is
    # a clear error (MailConfigError, AppriseConfigError) that stops this process only
    for made in (mail_destination(settings), apprise_destination(settings)):
        if made is not None:
            found.append(made)
    sender = None if sia is None else sia_destination(sia)  # SIA DC-09 (app/network/sia)
    if sender is not None:
        found.append(sender)
    return found


@dataclass
class NetworkProcess:
    settings: Settings
    notifier: Notifier = field(default_factory=Notifier)

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        check(settings)  # a wrong destination setting stops this process only
        # SIA DC-09: a wrong settings file (SiaConfigError) stops this process only
        sia = None if settings.sia_file is None else load_sia(settings.sia_file)
        directory = settings.network_state_dir
        directory.mkdir(parents=True, exist_ok=True)
        self.device_id = device_id(directory)
        io = Client(settings.socket_path, timeout=settings.io_timeout_s)
        self.outbox = Outbox(settings.network_db_path)
        self.source = EventSource(settings.db_path, settings.socket_path)

        async def report_fault(code: str, active: bool, message: str) -> None:
            command = NetworkFault(code=code, active=active, message=message[:300])
            await asyncio.to_thread(io.send, command)

        self.sia_receiver = None if sia is None else sia_receiver(sia, io)

        def make_loop(destination: Destination) -> DeliveryLoop:
            return DeliveryLoop(
                destination,
                self.outbox,
                self.source,
                self.device_id,
                report_fault,
                backlog_fault_s=settings.backlog_fault_s,
            )

        self.fleet = Fleet(make_loop, report_fault, io)
        # recorders (app.network.recreload): the file's (a wrong one stops this process
        # only), else the stored settings'; replaced in process when those change
        args = (settings, self.outbox, self.source, io, report_fault, self.device_id)
        self.recorders = Recorders(*args, start_task=self.fleet._task)
        # the environment's destinations, then the stored settings' (app.network.reload)
        for destination in destinations(settings, self.device_id, io, sia):
            self.fleet.start(destination, ENVIRONMENT)
        self.config = Configurator(
            settings, self.device_id, io, self.fleet, self.outbox, self.recorders
        )
        await self.recorders.start(self.config.document.recorders)
        self.config.start()
        if not self.loops:
            log.warning(
                "no destination configured (the Integrations page, or ALARMBRIDGE_MQTT_URL, "
                "ALARMBRIDGE_WEBHOOK_URL, ALARMBRIDGE_SMTP_URL, ALARMBRIDGE_APPRISE_URL, "
                "ALARMBRIDGE_SIA_FILE): the network process waits for settings"
            )
        path = settings.network_socket_path
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket from a crash
        # Owner and group at most (on the Pi the web user joins the group; UMask=0007),
        # never more than the process's umask allows (owner only under 'run').
        current = os.umask(0)
        old = os.umask(current | 0o117)
        try:
            server = await asyncio.start_unix_server(self._connection, str(path), limit=MAX_LINE)
        finally:
            os.umask(old)
        tasks = [asyncio.create_task(self.source.follow(), name="io-stream")]
        if sia is not None and self.sia_receiver is not None:  # panels in: virtual inputs
            receiving = run_receiver(sia, io, stop, receiver=self.sia_receiver)
            tasks.append(asyncio.create_task(receiving, name="sia-receiver"))
        self.notifier.ready(f"{len(self.loops)} destinations")
        names = ", ".join(self.loops) or "none"
        log.info("network process %s: destinations %s", self.device_id, names)
        try:
            stopping = asyncio.create_task(stop.wait())
            crashed = asyncio.ensure_future(self.fleet.crashed)
            watched: list[asyncio.Future[Any]] = [stopping, crashed, *tasks]
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopping and not task.cancelled() and task.exception():
                    raise task.exception()  # type: ignore[misc]  # a bug: exit, be restarted
        finally:
            self.notifier.stopping()
            server.close()
            await self.recorders.stop("the process stops", clear_fault=False)
            await self.fleet.close()
            self.config.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self.source.close()
            self.outbox.close()
            self.notifier.close()

    # -- the status socket ----------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                        raise ValueError('a request is a JSON object with a "cmd" string')
                    reply: dict[str, Any] = {"ok": True, "result": await self._handle(request)}
                except SettingsProblemsError as exc:  # every problem, each naming its field
                    reply = {"ok": False, "error": str(exc), "problems": exc.problems}
                except (ValueError, KeyError, TypeError, DeliveryError) as exc:
                    reply = {"ok": False, "error": describe(exc).strip("'\"")}
                writer.write(encode(reply))
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    @property
    def loops(self) -> dict[str, DeliveryLoop]:
        return self.fleet.loops

    def _sia_status(self) -> dict[str, Any] | None:
        """SIA's part of the status: the environment's receiver, else the stored one;
        the running sender, whichever configured it."""
        receiver = self.sia_receiver or self.fleet.receiver
        senders = (r.destination for r in self.fleet.running.values())
        sender = next((d for d in senders if isinstance(d, SiaSender)), None)
        return sia_status(receiver, sender)

    def _loop(self, request: dict[str, Any]) -> DeliveryLoop:
        name = request.get("name")
        if name not in self.loops:
            known = ", ".join(self.loops) or "none is configured"
            raise ValueError(f"no destination {name!r}: {known}")
        return self.loops[name]

    async def _handle(self, request: dict[str, Any]) -> Any:
        cmd = request["cmd"]
        runner = self.recorders.runner
        if cmd == "status":
            return {
                "device_id": self.device_id,
                "stream": self.source.live,
                "stream_error": self.source.stream_error,
                "destinations": [await loop.status() for loop in self.loops.values()],
                "sia": self._sia_status(),
                "recorders": None if runner is None else runner.status(),
            }
        if cmd == "test":
            await self._loop(request).send_test()
            return None
        if cmd == "recorders-test":  # an action's or a camera's test (docs/recorders.md)
            if runner is None:
                raise ValueError(
                    "no recorders are configured (the Integrations page, or "
                    "ALARMBRIDGE_RECORDERS_FILE)"
                )
            return await runner.test(str(request.get("name")))
        if cmd == "replay":
            loop = self._loop(request)
            from_seq = request.get("from_seq")
            if not isinstance(from_seq, int) or isinstance(from_seq, bool) or from_seq < 1:
                raise ValueError("from_seq must be a whole number of 1 or more")
            return await loop.replay(from_seq)
        if cmd == "settings":  # the stored settings, secrets masked (app.network.reload)
            return self.config.shown()
        if cmd == "configure":
            who = str(request.get("user") or "local")[:100]
            dry_run = request.get("dry_run") is True
            return await self.config.configure(request.get("settings"), who, dry_run=dry_run)
        raise ValueError(
            f"unknown command {cmd!r}: one of configure, replay, settings, status, test"
        )


def run_network(settings: Settings) -> int:
    """Run the network process until SIGTERM or SIGINT. SIGUSR2 writes every thread's
    stack to stderr (the journal on the Pi): for a process that does not stop or answer
    (docs/deploy.md, "When something is wrong")."""
    faulthandler.register(signal.SIGUSR2, all_threads=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await NetworkProcess(settings).run(stop)

    logging.getLogger("app.network").setLevel(settings.log_level)
    asyncio.run(main())
    return 0
