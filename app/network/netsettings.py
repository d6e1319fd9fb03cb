"""The stored network settings: one document for every destination set from the UI
and the API (``GET``/``PUT /api/v1/integrations/settings``), kept by the network
process in its own ``network.db`` (app.network.netstore) and never in the event log.

Strict like the rest of the configuration: unknown fields are refused, a number
is a JSON number, and every error names its field (``mqtt.url``,
``webhooks.1.secret``). Each section has ``enabled``; a section added later (the
recorders) is one more field with a default, so older documents load unchanged.

**Secrets** (the MQTT and mail passwords, webhook secrets, the Apprise URL, the SIA
keys, the recorders' passwords: app.network.netrecorders) never leave the network
process in clear: :func:`masked` replaces each set one with :data:`MASK`, and
:func:`unmask` puts the stored value back where a document sent in still has the
marker (a save from the page, an import onto the same appliance). A marker with no
stored value behind it is an error naming the field (an export imported onto another
appliance: type the secret there).
"""

from __future__ import annotations

import base64
import binascii
import copy
import ssl
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_serializer,
    model_validator,
)

from app.events import Kind
from app.network.actions.linkage import RecordersConfig
from app.network.netrecorders import (
    password_slots,
    revealed,
    url_password,
    url_slots,
    with_password,
)
from app.network.sia.service import SiaConfig
from app.network.smtp_url import is_loopback
from app.text import Text

#: what a set secret reads as outside the network process ("" / null: not set)
MASK = "********"
MAX_WEBHOOKS = 8
#: destination names that are not webhooks (a webhook may not take one)
RESERVED = frozenset({"mqtt", "mail", "apprise", "sia"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _url(schemes: tuple[str, ...], *, credentials: bool = True) -> Any:
    def check(value: str) -> str:
        value = value.strip()
        if not value:
            return value
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 (a bad port raises here)
        except ValueError:
            raise ValueError("the port is not a number from 0 to 65535") from None
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(
                f"must look like {' or '.join(s + '://host' for s in schemes)} "
                f"(got {parts.scheme or 'no scheme'}://...)"
            )
        if not credentials and (parts.username or parts.password):
            raise ValueError("no user or password in the URL: use the username and password fields")
        return value

    return AfterValidator(check)


def _pem(value: str) -> str:
    value = value.strip()
    if not value:
        return value
    if "-----BEGIN CERTIFICATE-----" not in value:
        raise ValueError(
            "not a PEM certificate: paste the CA's certificate, from -----BEGIN CERTIFICATE----- "
            "to -----END CERTIFICATE-----"
        )
    try:
        ssl.create_default_context(cadata=value)
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"the certificate cannot be read: {exc}") from None
    return value + "\n"


def _whsec(value: str) -> str:
    value = value.strip()
    if not value or value == MASK:
        return value
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not value.startswith("whsec_") or len(key) < 24:
        raise ValueError(
            "must be whsec_ followed by base64 of at least 24 bytes (e.g. from: python3 -c "
            "\"import base64,os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\")"
        )
    return value


def _kind(value: str) -> str:
    kinds = {str(k) for k in Kind}
    if value not in kinds:
        raise ValueError(f"no kind {value!r}; the kinds are {', '.join(sorted(kinds))}")
    return value


Secret = Annotated[str, Field(max_length=1000, description=f'"{MASK}" when set, "" when not')]
Host = Annotated[Text, Field(max_length=253)]


class MqttSection(_Model):
    """The MQTT broker (docs/integrations.md#mqtt)."""

    enabled: StrictBool = False
    url: Annotated[str, _url(("mqtt", "mqtts"), credentials=False)] = Field(
        default="",
        max_length=300,
        description="mqtt://host:1883 or mqtts://host:8883 (TLS); no user or password in it",
    )
    username: Annotated[Text, Field(max_length=200)] = ""
    password: Secret = ""
    prefix: Annotated[str, Field(pattern=r"^([A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*)?$")] = Field(
        default="", max_length=200, description="topic prefix; empty: alarmbridge/<device id>"
    )
    discovery: StrictBool = Field(default=True, description="Home Assistant MQTT discovery")
    discovery_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_/-]{1,64}$")] = "homeassistant"
    ca_pem: Annotated[str, AfterValidator(_pem)] = Field(
        default="",
        max_length=20_000,
        description="the CA certificate (PEM) to check an mqtts:// broker with; empty: the "
        "system's CAs",
    )
    commands: StrictBool = Field(
        default=False, description="accept commands over MQTT (they act as an operator)"
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.enabled and not self.url:
            raise ValueError("url: give the broker's URL (mqtt://host:1883) to enable MQTT")
        if self.password and not self.username:
            raise ValueError("username: a password is set but no username")
        return self


class WebhookSection(_Model):
    """One webhook: a signed POST per event (Standard Webhooks)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,29}$")] = Field(
        description="its destination name: a-z, 0-9 and -, e.g. webhook or vms"
    )
    enabled: StrictBool = True
    url: Annotated[str, _url(("http", "https"))] = Field(max_length=2000, min_length=1)
    secret: Annotated[Secret, AfterValidator(_whsec)] = ""
    kinds: list[Annotated[str, AfterValidator(_kind)]] = Field(
        default_factory=list, description="only these event kinds; empty: every kind"
    )
    channels: list[Annotated[Text, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, description="only these channels; empty: every channel"
    )

    @model_validator(mode="after")
    def _name(self) -> Self:
        if self.name in RESERVED:
            raise ValueError(f"name: {self.name!r} is another destination's name")
        return self


class MailSection(_Model):
    """Alarm and fault mail through an SMTP server."""

    enabled: StrictBool = False
    host: Host = ""
    security: Literal["none", "starttls", "tls"] = "starttls"
    port: StrictInt | None = Field(
        default=None, ge=1, le=65535, description="empty: 25, 587 or 465 by the security"
    )
    username: Annotated[Text, Field(max_length=200)] = ""
    password: Secret = ""
    to: list[Annotated[Text, Field(min_length=3, max_length=254)]] = Field(
        default_factory=list, max_length=20
    )
    sender: Annotated[Text, Field(max_length=300)] = Field(
        default="", description="the From; empty: the login if it is an address"
    )
    per_minute: StrictInt = Field(default=5, ge=1, le=60)
    ca_pem: Annotated[str, AfterValidator(_pem)] = Field(
        default="",
        max_length=20_000,
        description="a private CA (PEM) to check the server's certificate with; empty: the "
        "system's CAs",
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if not self.enabled:
            return self
        if not self.host:
            raise ValueError("host: give the SMTP server to enable mail")
        if not self.to:
            raise ValueError("to: give at least one address to mail")
        if self.username and not self.password:
            raise ValueError("password: a username is set but no password")
        if self.password and not self.username:
            raise ValueError("username: a password is set but no username")
        if self.password and self.security == "none" and not is_loopback(self.host):
            raise ValueError(
                "security: the password would go in clear without TLS: choose starttls or tls"
            )
        return self


class AppriseSection(_Model):
    """Notifications through Apprise (the optional extra)."""

    enabled: StrictBool = False
    url: Secret = Field(default="", description="e.g. ntfy://ntfy.sh/my-topic (a secret)")
    per_minute: StrictInt = Field(default=5, ge=1, le=60)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.enabled and not self.url.strip():
            raise ValueError("url: give the Apprise URL to enable Apprise")
        return self


class NetSettings(_Model):
    """Every destination set from the UI and the API (see the module's docstring)."""

    mqtt: MqttSection = Field(default_factory=MqttSection)
    webhooks: list[WebhookSection] = Field(default_factory=list, max_length=MAX_WEBHOOKS)
    mail: MailSection = Field(default_factory=MailSection)
    apprise: AppriseSection = Field(default_factory=AppriseSection)
    sia: SiaConfig = Field(default_factory=SiaConfig)
    recorders: RecordersConfig = Field(
        default_factory=RecordersConfig,
        description="network actions, cameras and links (docs/recorders.md); empty: none",
    )

    @field_serializer("recorders")
    def _recorders(self, value: RecordersConfig) -> dict[str, Any]:
        return revealed(value)  # stored with its passwords (masked() hides them)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [w.name for w in self.webhooks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"webhooks: each needs its own name ({', '.join(dupes)} used twice)")
        return self


# -- secrets --------------------------------------------------------------------------


def _secret_slots(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str, str]]:
    """(field path, the dict holding it, its key, an identity) for each secret field of
    a raw document; the identity pairs list items across two documents (a webhook by
    its name, a SIA account by its number), so a reordered list keeps its secrets."""
    for section, key in (("mqtt", "password"), ("mail", "password"), ("apprise", "url")):
        part = doc.get(section)
        if isinstance(part, dict):
            yield f"{section}.{key}", part, key, section
    hooks = doc.get("webhooks")
    if isinstance(hooks, list):
        for i, hook in enumerate(hooks):
            if isinstance(hook, dict):
                yield f"webhooks.{i}.secret", hook, "secret", f"webhook:{hook.get('name')}"
    sia = doc.get("sia")
    if isinstance(sia, dict):
        sender = sia.get("sender")
        if isinstance(sender, dict):
            yield "sia.sender.key", sender, "key", "sia-sender"
        receiver = sia.get("receiver")
        accounts = receiver.get("accounts") if isinstance(receiver, dict) else None
        if isinstance(accounts, list):
            for i, account in enumerate(accounts):
                if isinstance(account, dict):
                    ident = str(account.get("account", "")).upper()
                    yield f"sia.receiver.accounts.{i}.key", account, "key", f"sia-account:{ident}"
    yield from password_slots(doc)


def masked(settings: NetSettings) -> dict[str, Any]:
    """The document as JSON with every secret masked: :data:`MASK` when set, else as
    unset ("" or null)."""
    doc = settings.model_dump(mode="json")
    for _, holder, key, _ in _secret_slots(doc):
        if holder.get(key):
            holder[key] = MASK
    for _, holder, key, _ in url_slots(doc):
        if url_password(holder[key]) is not None:
            holder[key] = with_password(holder[key], MASK)
    return doc


class MaskedSecretError(ValueError):
    """A document with masked secrets that this appliance does not have."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields
        super().__init__(
            f"{', '.join(fields)}: masked ({MASK}) but this appliance has no stored value: "
            "type the secret again"
        )


def unmask(doc: dict[str, Any], stored: NetSettings) -> dict[str, Any]:
    """A copy of the raw ``doc`` with each :data:`MASK` replaced by the stored secret
    of the same field (paired by identity, see :func:`_secret_slots`);
    :class:`MaskedSecretError` names every masked field with nothing stored."""
    doc = copy.deepcopy(doc)
    old = stored.model_dump()
    known = {ident: holder.get(key) for _, holder, key, ident in _secret_slots(old)}
    missing = []
    for path, holder, key, ident in _secret_slots(doc):
        if holder.get(key) == MASK:
            value = known.get(ident)
            if value:
                holder[key] = value
            else:
                missing.append(path)
    urls = {ident: url_password(holder[key]) for _, holder, key, ident in url_slots(old)}
    for path, holder, key, ident in url_slots(doc):
        if url_password(holder[key]) == MASK:
            if value := urls.get(ident):
                holder[key] = with_password(holder[key], value)
            else:
                missing.append(path)
    if missing:
        raise MaskedSecretError(missing)
    return doc


def problems_of(exc: ValidationError) -> list[dict[str, str]]:
    """Each problem of a failed validation as ``{"field", "message"}`` (field paths
    joined with dots; a check on a whole section names its field in the message)."""
    found = []
    for error in exc.errors():
        where = [str(p) for p in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        # the recorders' check lists every broken reference: "links.Door.on_alarm: ...; ..."
        several = where[:1] == ["recorders"] and error["type"] == "value_error"
        for part in message.split("; ") if several else [message]:
            head, sep, rest = part.partition(": ")
            named = head.isidentifier() or (several and head.startswith("links."))
            if sep and named and error["type"] == "value_error":
                # "url: give ..." from a section's own check
                found.append({"field": ".".join([*where, head]), "message": rest})
            else:
                found.append({"field": ".".join(where), "message": part})
    return found


def parse(doc: Any, stored: NetSettings) -> NetSettings:
    """A document sent in (masked secrets allowed), validated; ``SettingsProblemsError``
    lists every problem."""
    if not isinstance(doc, dict):
        raise SettingsProblemsError([{"field": "", "message": "the settings are a JSON object"}])
    try:
        doc = unmask(doc, stored)
    except MaskedSecretError as exc:
        raise SettingsProblemsError(
            [
                {
                    "field": f,
                    "message": f"masked ({MASK}) but this appliance has no stored value: "
                    "type the secret again",
                }
                for f in exc.fields
            ]
        ) from None
    try:
        return NetSettings.model_validate(doc)
    except ValidationError as exc:
        raise SettingsProblemsError(problems_of(exc)) from None


class SettingsProblemsError(ValueError):
    """The settings cannot be used; ``problems`` names each field at fault."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p['field'] or 'settings'}: {p['message']}" for p in problems))
