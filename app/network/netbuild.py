"""The destinations a stored settings document (app.network.netsettings) asks for,
and the rule between them and the environment's.

**The environment wins, and says so.** A destination set from the environment
(``ALARMBRIDGE_MQTT_URL``, ``ALARMBRIDGE_WEBHOOK_URL`` (named ``webhook``),
``ALARMBRIDGE_SMTP_URL``, ``ALARMBRIDGE_APPRISE_URL``, ``ALARMBRIDGE_SIA_FILE``; the
recorders by ``ALARMBRIDGE_RECORDERS_FILE``) is read-only from the UI and the API; a
stored document that enables the same destination is refused with an error naming the
field and the variable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from app.io.protocol import Client
from app.network.apprise_dest import AppriseConfigError, AppriseDestination
from app.network.destination import Destination
from app.network.mail import MailConfigError, MailDestination, default_sender
from app.network.mqtt import MqttDestination, MqttSettings
from app.network.netrecorders import VARIABLE as RECORDERS_VARIABLE
from app.network.netrecorders import env_clash
from app.network.netsettings import NetSettings
from app.network.sia.service import SiaConfig, SiaConfigError, sia_destination
from app.network.smtp_url import SCHEMES, SmtpUrl
from app.network.webhook import WebhookDestination
from app.settings import Settings

#: destination name -> the environment variable that sets it
ENV_VARIABLES = {
    "mqtt": "ALARMBRIDGE_MQTT_URL",
    "webhook": "ALARMBRIDGE_WEBHOOK_URL",
    "mail": "ALARMBRIDGE_SMTP_URL",
    "apprise": "ALARMBRIDGE_APPRISE_URL",
    "sia": "ALARMBRIDGE_SIA_FILE",
    "recorders": RECORDERS_VARIABLE,  # not a destination: the recorders runner (#20)
}


def from_environment(settings: Settings) -> dict[str, str]:
    """The destinations the environment sets: name -> its variable."""
    found = {
        "mqtt": settings.mqtt_url is not None and settings.mqtt_url.get_secret_value().strip(),
        "webhook": bool(settings.webhook_url),
        "mail": settings.smtp_url is not None and settings.smtp_url.get_secret_value().strip(),
        "apprise": settings.apprise_url is not None
        and settings.apprise_url.get_secret_value().strip(),
        "sia": settings.sia_file is not None,
        "recorders": settings.recorders_file is not None,
    }
    return {name: ENV_VARIABLES[name] for name, on in found.items() if on}


def clashes(doc: NetSettings, env: dict[str, str]) -> list[dict[str, str]]:
    """Each part of ``doc`` that enables a destination the environment sets."""
    found = []

    def clash(field: str, name: str) -> None:
        found.append(
            {
                "field": field,
                "message": f"{name} is set by the environment ({env[name]}) on this appliance: "
                "disable it here, or remove the variable and restart alarmbridge-network",
            }
        )

    for name in ("mqtt", "mail", "apprise"):
        if name in env and getattr(doc, name).enabled:
            clash(f"{name}.enabled", name)
    for i, hook in enumerate(doc.webhooks):
        if hook.name in env:
            clash(f"webhooks.{i}.name", hook.name)
    if "sia" in env and (doc.sia.receiver.enabled or doc.sia.sender.enabled):
        clash("sia", "sia")
    if "recorders" in env and (problem := env_clash(doc.recorders)) is not None:
        found.append(problem)
    return found


@dataclass
class Planned:
    """A destination a document asks for, not started yet. ``fingerprint`` changes
    whenever any of its settings do (secrets included; kept in memory only)."""

    name: str
    fingerprint: str
    make: Callable[[], Destination]
    field: str  # where its settings are in the document, for an error


def _fingerprint(part: Any) -> str:
    text = json.dumps(part, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _ca_file(directory: Path, pem: str, what: str = "mqtt") -> Path | None:
    """The PEM text as a file (named by its hash, so a running destination's file is
    never rewritten under it), for the TLS libraries that read a CA from a path."""
    if not pem:
        return None
    path = directory / f"{what}-ca-{hashlib.sha256(pem.encode()).hexdigest()[:12]}.pem"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(pem)
        tmp.replace(path)
    return path


def plan(
    doc: NetSettings, settings: Settings, device: str, io: Client, env: dict[str, str]
) -> list[Planned]:
    """The enabled destinations of ``doc`` that the environment does not set."""
    found: list[Planned] = []
    mqtt = doc.mqtt
    if mqtt.enabled and "mqtt" not in env:

        def make_mqtt() -> Destination:
            scheme, _, rest = mqtt.url.partition("://")
            who = ""
            if mqtt.username:
                who = quote(mqtt.username, safe="")
                who += (":" + quote(mqtt.password, safe="")) if mqtt.password else ""
                who += "@"
            return MqttDestination(
                MqttSettings(
                    url=f"{scheme}://{who}{rest}",
                    device_id=device,
                    prefix=(mqtt.prefix or f"alarmbridge/{device}").rstrip("/"),
                    discovery=mqtt.discovery,
                    discovery_prefix=mqtt.discovery_prefix,
                    ca_file=_ca_file(settings.network_state_dir, mqtt.ca_pem),
                    commands=mqtt.commands,
                ),
                io,
            )

        found.append(Planned("mqtt", _fingerprint(mqtt.model_dump()), make_mqtt, "mqtt"))
    for i, hook in enumerate(doc.webhooks):
        if not hook.enabled or hook.name in env:
            continue

        def make_hook(hook: Any = hook) -> Destination:
            made = WebhookDestination(
                hook.url, hook.secret or None, device, kinds=hook.kinds, channels=hook.channels
            )
            made.name = hook.name  # the class's default is "webhook"
            return made

        found.append(
            Planned(hook.name, _fingerprint(hook.model_dump()), make_hook, f"webhooks.{i}")
        )
    mail = doc.mail
    if mail.enabled and "mail" not in env:

        def make_mail() -> Destination:
            security, port = next((s, p) for s, p in SCHEMES.values() if s == mail.security)
            url = SmtpUrl(
                mail.host,
                mail.port or port,
                security,
                mail.username or None,
                mail.password or None,
                _ca_file(settings.network_state_dir, mail.ca_pem, "smtp"),
            )
            sender = mail.sender or default_sender(url)
            return MailDestination(url, mail.to, sender, settings.tz, per_minute=mail.per_minute)

        found.append(Planned("mail", _fingerprint(mail.model_dump()), make_mail, "mail"))
    apprise = doc.apprise
    if apprise.enabled and "apprise" not in env:

        def make_apprise() -> Destination:
            url = apprise.url.strip()
            return AppriseDestination(url, settings.tz, per_minute=apprise.per_minute)

        found.append(
            Planned("apprise", _fingerprint(apprise.model_dump()), make_apprise, "apprise")
        )
    if doc.sia.sender.enabled and "sia" not in env:
        sia = doc.sia

        def make_sia() -> Destination:
            made = sia_destination(sia)
            assert made is not None  # enabled
            return made

        found.append(Planned("sia", _fingerprint(sia.sender.model_dump()), make_sia, "sia.sender"))
    return found


def build(planned: Planned) -> Destination:
    """Make the destination; a setting it refuses is a ``ValueError`` naming its field
    (``mail.to: ...``)."""
    try:
        return planned.make()
    except (MailConfigError, AppriseConfigError, SiaConfigError) as exc:
        message = (
            str(exc)
            .replace("ALARMBRIDGE_APPRISE_URL: ", "")
            .replace(" (ALARMBRIDGE_MAIL_FROM)", "")
        )
        message = message.replace("ALARMBRIDGE_APPRISE_URL is set but ", "the URL is set but ")
        field = planned.field
        if isinstance(exc, MailConfigError):
            field += ".sender" if "sender" in message else ".to"
        elif isinstance(exc, AppriseConfigError):
            field += ".url"
        else:
            field += ".primary"
        raise BuildError(field, message) from None


class BuildError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def receiver_of(doc: NetSettings, env: dict[str, str]) -> tuple[str, SiaConfig] | None:
    """The SIA receiver the document runs (with its fingerprint), if enabled."""
    if not doc.sia.receiver.enabled or "sia" in env:
        return None
    return _fingerprint(doc.sia.receiver.model_dump()), doc.sia
