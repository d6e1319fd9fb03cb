"""The MQTT destination (aiomqtt on paho-mqtt 2.x), with Home Assistant discovery.

A connection task keeps one session with the broker and never gives up: on any
loss it waits (0.5 s doubling to 5 minutes, with jitter) and connects again. On each
connect it publishes ``online`` (the last will says ``offline``), the discovery
document, and every input's, output's and fault's state from the io process
(retained), then listens for Home Assistant's birth message
(``homeassistant/status`` = ``online``: discovery and state again) and, only when
enabled, for commands. Each event is published with QoS 1 and :meth:`deliver`
returns when the broker has acknowledged every message of the batch (PUBACK).
Topics and payloads: app.network.topics and docs/integrations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt

from app.events import Event
from app.io.commands import GetStatus, Signal, StartOutput, StopOutput, Trigger
from app.io.protocol import Client, ControlError
from app.network.delivery import backoff_delays, describe
from app.network.destination import Delivery, DeliveryError
from app.network.topics import (
    OFF,
    ON,
    discovery,
    event_payload,
    input_event,
    slug,
    state_updates,
    status_topics,
)

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 15.0
RECONNECT_MAX_S = 30.0  # a connection attempt is cheap: a broker back is found within this


@dataclass(frozen=True)
class MqttSettings:
    url: str = field(repr=False)  # it may hold a password
    device_id: str
    prefix: str
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    ca_file: Path | None = None
    commands: bool = False

    @property
    def client_id(self) -> str:
        return f"alarmbridge-{self.device_id}"


class MqttDestination:
    """Events to an MQTT broker (see the module's docstring)."""

    name = "mqtt"

    def __init__(self, settings: MqttSettings, io: Client) -> None:
        self.settings = settings
        self.io = io
        self.prefix = settings.prefix
        self._client: aiomqtt.Client | None = None
        self._faults: dict[str, dict[str, Any]] = {}
        self.last_error: str | None = None
        self.connects = 0  # sessions opened (for the status and the tests)
        #: called at each (re)connect: the delivery loop retries at once, not after its backoff
        self.on_connected: Callable[[], None] | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None

    def wants(self, event: Event) -> bool:
        return True

    # -- the connection -----------------------------------------------------------

    def _make_client(self) -> aiomqtt.Client:
        url = urlsplit(self.settings.url)
        tls = url.scheme == "mqtts"
        tls_params = None
        if tls:
            tls_params = aiomqtt.TLSParameters(
                ca_certs=str(self.settings.ca_file) if self.settings.ca_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        return aiomqtt.Client(
            hostname=url.hostname or "localhost",
            port=url.port or (8883 if tls else 1883),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            identifier=self.settings.client_id,
            will=aiomqtt.Will(f"{self.prefix}/availability", "offline", qos=1, retain=True),
            tls_params=tls_params,
            keepalive=30,
            timeout=PUBLISH_TIMEOUT_S,
            max_queued_outgoing_messages=10_000,
        )

    async def run(self) -> None:
        """Stay connected, forever (cancel to stop): the connection task."""
        delays = backoff_delays(last=RECONNECT_MAX_S)
        while True:
            connects = self.connects
            try:
                async with self._make_client() as client:
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                self.last_error = f"broker: {describe(exc)}"
            except (OSError, ssl.SSLError) as exc:
                self.last_error = f"broker: {describe(exc)}"
            finally:
                self._client = None
            if self.connects != connects:  # it was connected: start the backoff again
                delays = backoff_delays(last=RECONNECT_MAX_S)
            delay = next(delays)
            log.warning("mqtt: %s; connecting again in %.1f s", self.last_error, delay)
            await asyncio.sleep(delay)

    async def _session(self, client: aiomqtt.Client) -> None:
        self.connects += 1
        log.info("mqtt: connected to %s", urlsplit(self.settings.url).hostname)
        await client.publish(f"{self.prefix}/availability", "online", qos=1, retain=True)
        if self.settings.discovery:
            await client.subscribe(f"{self.settings.discovery_prefix}/status", qos=1)
        if self.settings.commands:
            await client.subscribe(f"{self.prefix}/output/+/set", qos=1)
            await client.subscribe(f"{self.prefix}/trigger/press", qos=1)
            await client.subscribe(f"{self.prefix}/virtual/+/set", qos=1)
        await self._announce(client)
        self._client = client
        self.last_error = None
        if self.on_connected is not None:
            self.on_connected()
        async for message in client.messages:
            await self._received(client, str(message.topic), bytes(message.payload or b""))

    async def _io_status(self) -> dict[str, Any] | None:
        try:
            status: dict[str, Any] = await asyncio.to_thread(self.io.send, GetStatus())
        except ControlError as exc:
            log.warning("mqtt: no state from the io process: %s", exc)
            return None
        return status

    async def _announce(self, client: aiomqtt.Client) -> None:
        """Discovery and every retained state (at connect, and on HA's birth)."""
        status = await self._io_status()
        if status is None:
            return
        if self.settings.discovery:
            topic, document = discovery(
                self.settings.device_id, self.prefix, self.settings.discovery_prefix, status
            )
            await client.publish(topic, json.dumps(document), qos=1, retain=True)
        topics, self._faults = status_topics(self.prefix, status)
        for topic, value in topics:
            await client.publish(topic, value, qos=1, retain=True)

    async def _received(self, client: aiomqtt.Client, topic: str, payload: bytes) -> None:
        text = payload.decode(errors="replace").strip()
        if topic == f"{self.settings.discovery_prefix}/status":
            if text == "online":
                log.info("mqtt: Home Assistant is online: discovery again")
                await self._announce(client)
            return
        if not self.settings.commands:
            return
        try:
            await asyncio.to_thread(self._command, topic, text)
        except (ControlError, ValueError) as exc:
            log.warning("mqtt: command on %s not done: %s", topic, exc)

    def _command(self, topic: str, text: str) -> None:
        user = f"mqtt:{self.settings.client_id}"[:64]
        if topic == f"{self.prefix}/trigger/press":
            if text == "PRESS":
                self.io.send(Trigger(user=user))
            return
        if topic.startswith(f"{self.prefix}/virtual/"):
            self._signal(topic.removeprefix(f"{self.prefix}/virtual/").removesuffix("/set"), text)
            return
        name = topic.removeprefix(f"{self.prefix}/output/").removesuffix("/set")
        outputs = self.io.send(GetStatus()).get("outputs", [])
        numbers = [n for n, o in enumerate(outputs, 1) if slug(o["name"]) == name]
        if not numbers:
            raise ValueError(f"no output {name!r}")
        if text == ON:
            self.io.send(StartOutput(output=numbers[0], user=user))
        elif text == OFF:
            self.io.send(StopOutput(output=numbers[0], user=user))
        else:
            raise ValueError(f"payload must be ON or OFF, not {text[:20]!r}")

    def _signal(self, name: str, text: str) -> None:
        """A virtual input's signal (#21): ``ON``, ``OFF`` or ``PULSE <seconds>`` on
        ``<prefix>/virtual/<slug or label>/set``."""
        user = f"mqtt:{self.settings.client_id}"[:64]
        virtual = self.io.send(GetStatus()).get("virtual_inputs", [])
        found = [
            int(v["label"][1:])
            for v in virtual
            if name in (slug(v["name"]), str(v["label"]).lower())
        ]
        if not found:
            raise ValueError(f"no virtual input {name!r}")
        word, _, seconds = text.partition(" ")
        if text == ON:
            self.io.send(Signal(virtual=found[0], action="active", user=user))
        elif text == OFF:
            self.io.send(Signal(virtual=found[0], action="inactive", user=user))
        elif word == "PULSE" and seconds.isdigit():
            self.io.send(Signal(virtual=found[0], action="pulse", pulse_s=int(seconds), user=user))
        else:
            raise ValueError(f"payload must be ON, OFF or PULSE <seconds>, not {text[:20]!r}")

    # -- the contract ------------------------------------------------------------------

    async def deliver(self, batch: Sequence[Delivery]) -> None:
        client = self._client
        if client is None:
            raise DeliveryError(f"not connected: {self.last_error or 'connecting'}")
        publishes = []
        for delivery in batch:
            event = delivery.event
            payload = event_payload(delivery.key, event, self.settings.device_id)
            publishes.append(client.publish(f"{self.prefix}/event", payload, qos=1))
            if happened := input_event(self.prefix, delivery.key, event):
                publishes.append(client.publish(*happened, qos=1))  # HA's event entity
            for topic, value in state_updates(self.prefix, event, self._faults):
                publishes.append(client.publish(topic, value, qos=1, retain=True))
        outcomes = await asyncio.gather(*publishes, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                raise DeliveryError(f"the broker did not take the batch: {describe(outcome)}")

    async def send_test(self) -> None:
        client = self._client
        if client is None:
            raise DeliveryError(f"not connected: {self.last_error or 'connecting'}")
        body = json.dumps({"test": True, "device_id": self.settings.device_id})
        try:
            await client.publish(f"{self.prefix}/test", body, qos=1)
        except (aiomqtt.MqttError, TimeoutError) as exc:
            raise DeliveryError(f"the broker did not take the test: {describe(exc)}") from exc

    async def aclose(self) -> None:
        """Say ``offline`` (retained) before the process stops."""
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError, OSError):
                await asyncio.wait_for(
                    client.publish(f"{self.prefix}/availability", "offline", qos=1, retain=True),
                    2.0,
                )
