"""The configuration of one network action, one model per vendor.

Each model names its vendor document; the exact requests are in :mod:`.wire`.
Validation gives the installer a clear message (a URL without a scheme, a channel
out of range) instead of an error at the first alarm.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

Phase = Literal["alarm", "clear"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Auth(_Model):
    """How to authenticate: most recorders want HTTP Digest (Hikvision always does)."""

    scheme: Literal["none", "basic", "digest"] = "none"
    user: str = ""
    password: SecretStr = SecretStr("")


class _Http(_Model):
    """What every HTTP action has: where, who, how long to wait, how often to retry."""

    name: str = Field(min_length=1, max_length=40)
    base_url: str = Field(description="scheme, host and port, e.g. http://192.0.2.10:80")
    auth: Auth = Auth()
    timeout_s: float = Field(default=5.0, ge=0.2, le=60.0)
    retries: int = Field(default=2, ge=0, le=10)
    verify_tls: bool = True

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// address with a host")
        if parts.query or parts.fragment:
            raise ValueError("the address takes no query or fragment; the action adds its own")
        return value.rstrip("/")


class HikvisionOutput(_Http):
    """Hikvision ISAPI: set an alarm output high on alarm, low on clear.

    Source: Hikvision ISAPI Core Protocol, ``/ISAPI/System/IO/outputs/<ID>/trigger``.
    """

    kind: Literal["hikvision-output"] = "hikvision-output"
    output_id: int = Field(default=1, ge=1, le=64)


class HikvisionRecord(_Http):
    """Hikvision ISAPI: start manual recording on a channel on alarm, stop it on clear.

    Source: Hikvision ISAPI, ``/ISAPI/ContentMgmt/record/control/manual/{start,stop}/tracks/<ID>``
    (track ID = channel x 100 + 1, the main stream).
    """

    kind: Literal["hikvision-record"] = "hikvision-record"
    channel: int = Field(ge=1, le=256)
    # The playback link on the alarm's event (app/network/actions/playback.py).
    rtsp_port: int = Field(default=554, ge=1, le=65535, description="the recorder's RTSP port")
    recorder_tz: str = Field(
        default="UTC",
        description="the recorder's time zone (an IANA name such as Europe/London): the "
        "playback link gives the alarm's time on the recorder's clock",
    )
    playback_preroll_s: int = Field(
        default=10, ge=0, le=600, description="the playback starts this long before the alarm"
    )

    @field_validator("recorder_tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name (e.g. Europe/London)") from None
        return value


class DahuaOutput(_Http):
    """Dahua / Amcrest HTTP API: alarm output mode 1 (on) on alarm, 0 (off) on clear.

    Source: Dahua HTTP API for IPC & NVR, ``configManager.cgi?action=setConfig&AlarmOut[i].Mode``.
    """

    kind: Literal["dahua-output"] = "dahua-output"
    index: int = Field(default=0, ge=0, le=63)


class DahuaRecord(_Http):
    """Dahua / Amcrest HTTP API: record mode 1 (manual: record now) on alarm, 0 (auto) on clear.

    Source: Dahua HTTP API, ``configManager.cgi?action=setConfig&RecordMode[ch].Mode``.
    """

    kind: Literal["dahua-record"] = "dahua-record"
    channel: int = Field(ge=0, le=255)


class AxisVirtualInput(_Http):
    """Axis VAPIX: activate a virtual input on alarm, deactivate it on clear.

    Source: VAPIX Virtual input API, ``/axis-cgi/virtualinput/{activate,deactivate}.cgi``.
    """

    kind: Literal["axis-virtual-input"] = "axis-virtual-input"
    port: int = Field(ge=1, le=32)


class FrigateEvent(_Http):
    """Frigate: create a manual event on a camera on alarm, end it on clear.

    Source: Frigate HTTP API, ``POST /api/events/<camera>/<label>/create`` and
    ``PUT /api/events/<id>/end``. The event id it returns is kept for the clear.
    """

    kind: Literal["frigate-event"] = "frigate-event"
    camera: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    label: str = Field(default="alarm", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    duration_s: int | None = Field(default=None, ge=1, le=3600)


class GenericHttp(_Http):
    """Any HTTP endpoint: method, path, headers and body templates with the event's fields.

    Templates use ``$name`` placeholders (Python's ``string.Template``): ``$channel``,
    ``$state``, ``$seq``, ``$time``, ``$key`` ... (see :func:`.wire.event_fields`).
    """

    kind: Literal["http"] = "http"
    method: Literal["GET", "POST", "PUT"] = "POST"
    path: str = Field(default="/", pattern=r"^/")
    headers: dict[str, str] = Field(default_factory=dict)
    alarm_body: str = ""
    clear_body: str | None = None  # None: nothing is sent on clear


class OnvifRelay(_Http):
    """ONVIF: a relay output (its ``RelayOutputToken``) active on alarm, inactive on clear.

    Source: ONVIF Core Specification, Device management "Input/Output",
    ``SetRelayOutputState`` (devicemgmt.wsdl), SOAP 1.2 with a WS-Security UsernameToken
    (PasswordDigest) from ``auth.user`` / ``auth.password``; ``auth.scheme`` adds HTTP
    Basic or Digest for a device that also wants it. The exact requests are in
    :mod:`.onvif`.
    """

    kind: Literal["onvif-relay"] = "onvif-relay"
    relay_token: str = Field(
        min_length=1, max_length=64, description="the device's RelayOutputToken, e.g. AlarmOut_0"
    )
    device_path: str = Field(
        default="/onvif/device_service",
        pattern=r"^/[^?#\s]*$",
        description="the device service's path (the ONVIF default unless the maker moved it)",
    )


class ZoneMinderTrigger(_Model):
    """ZoneMinder zmtrigger: ``<monitor>|on...`` on alarm, ``<monitor>|cancel`` on clear.

    Source: ZoneMinder's zmtrigger.pl (TCP port 6802). It does not answer the
    command itself; it reports ``<monitor>|on|<time>|<event id>`` to connected clients
    when the monitor goes into alarm, and that event id is kept as the recording link.
    """

    kind: Literal["zoneminder"] = "zoneminder"
    name: str = Field(min_length=1, max_length=40)
    host: str = Field(min_length=1)
    port: int = Field(default=6802, ge=1, le=65535)
    monitor: int = Field(ge=1)
    score: int = Field(default=100, ge=1, le=1000)
    duration_s: int | None = Field(default=None, ge=1, le=3600)
    timeout_s: float = Field(default=5.0, ge=0.2, le=60.0)
    retries: int = Field(default=2, ge=0, le=10)


class GenericEvent(_Model):
    """Milestone XProtect generic event (or any VMS listening for a text): a TCP or UDP string.

    Source: Milestone XProtect "Generic events" (data sources on TCP 1234 / UDP 1235 by
    default, no authentication).
    """

    kind: Literal["generic-event"] = "generic-event"
    name: str = Field(min_length=1, max_length=40)
    host: str = Field(min_length=1)
    port: int = Field(default=1234, ge=1, le=65535)
    transport: Literal["tcp", "udp"] = "tcp"
    alarm_text: str = Field(default="AlarmBridge $channel alarm", min_length=1)
    clear_text: str | None = None
    timeout_s: float = Field(default=5.0, ge=0.2, le=60.0)
    retries: int = Field(default=2, ge=0, le=10)


HttpAction = (
    HikvisionOutput
    | HikvisionRecord
    | DahuaOutput
    | DahuaRecord
    | AxisVirtualInput
    | FrigateEvent
    | GenericHttp
)
Action = Annotated[
    HttpAction | OnvifRelay | ZoneMinderTrigger | GenericEvent,
    Field(discriminator="kind"),
]
