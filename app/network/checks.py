"""The network process's settings, checked when it starts (not in app.settings: a
mistake in a destination's URL or secret must stop only this process, never the io
process, which reads the same settings file)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from pydantic import SecretStr

from app.events import Kind
from app.settings import Settings


class NetworkSettingsError(ValueError):
    """A destination's setting is wrong; the message names it."""


def _url(name: str, value: str, schemes: tuple[str, ...]) -> str | None:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        return f"{name}: the port is not a number from 0 to 65535"
    if parts.scheme not in schemes or not parts.hostname:
        return (
            f"{name} must look like {' or '.join(s + '://host' for s in schemes)} "
            f"(got {parts.scheme or 'no scheme'}://...)"
        )
    return None


def secret(value: SecretStr | None) -> str | None:
    """A secret setting's text, stripped; None when unset or blank."""
    text = "" if value is None else value.get_secret_value().strip()
    return text or None


def check(settings: Settings) -> None:
    """Raise :class:`NetworkSettingsError` naming every wrong setting.

    >>> try:
    ...     check(Settings(mqtt_url="http://broker"))
    ... except NetworkSettingsError as exc:
    ...     print(str(exc)[:57])
    ALARMBRIDGE_MQTT_URL must look like mqtt://host or mqtts:
    """
    problems = []
    mqtt_url = secret(settings.mqtt_url)
    if mqtt_url:
        problems.append(_url("ALARMBRIDGE_MQTT_URL", mqtt_url, ("mqtt", "mqtts")))
    if settings.mqtt_ca_file and not settings.mqtt_ca_file.is_file():
        problems.append(f"ALARMBRIDGE_MQTT_CA_FILE: no file {settings.mqtt_ca_file}")
    if settings.webhook_url:
        problems.append(_url("ALARMBRIDGE_WEBHOOK_URL", settings.webhook_url, ("http", "https")))
    webhook_secret = secret(settings.webhook_secret)
    if webhook_secret:
        try:
            key = base64.b64decode(webhook_secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not webhook_secret.startswith("whsec_") or len(key) < 24:
            problems.append(
                "ALARMBRIDGE_WEBHOOK_SECRET must be whsec_ followed by base64 of at least 24 "
                'bytes (e.g. from: python3 -c "import base64,os; '
                "print('whsec_' + base64.b64encode(os.urandom(32)).decode())\")"
            )
    kinds = {str(k) for k in Kind}
    if wrong := sorted(set(settings.webhook_kinds) - kinds):
        problems.append(
            f"ALARMBRIDGE_WEBHOOK_KINDS: no kind {', '.join(wrong)}; the kinds are "
            + ", ".join(sorted(kinds))
        )
    found = [p for p in problems if p]
    if found:
        raise NetworkSettingsError("; ".join(found))
