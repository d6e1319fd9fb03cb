"""Settings: command-line options and ``ALARMBRIDGE_``-prefixed environment variables.

File paths are settings, never constants: several instances can run side by side,
each with its own ``--data-dir``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hardware.boards import BoardSpec, load_spec


def system_timezone() -> str:
    """The machine's IANA time zone name (``TZ``, ``/etc/timezone``, the
    ``/etc/localtime`` link), or ``UTC`` when none can be found."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    with contextlib.suppress(OSError):
        candidates.append(str(Path("/etc/localtime").readlink()).partition("zoneinfo/")[2])
    for name in candidates:
        if name and not name.startswith("/"):
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return "UTC"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALARMBRIDGE_", extra="forbid")

    data_dir: Path = Field(
        default=Path("data"),
        description="database and control socket ('/var/lib/alarmbridge' on the Pi)",
    )
    web_dir: Path | None = Field(
        default=None,
        description="the web process's own files: accounts (auth.db), the setup code and the "
        "TLS certificate (default: data_dir; '/var/lib/alarmbridge-web' on the Pi, so the web "
        "process needs no write access to the event log)",
    )
    pins: Literal["auto", "lgpio", "rpigpio", "mock"] = "auto"
    board: str = Field(default="default", description="a board preset, or 'custom' with board_file")
    board_file: Path | None = None
    retain_events: int = Field(default=100_000, ge=1000)
    retain_days: int = Field(default=365, ge=1)
    max_events: int = Field(default=1_000_000, ge=10_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    timezone: str = Field(
        default_factory=system_timezone,
        description="IANA time zone for pages and schedules, e.g. Europe/Brussels",
    )
    host: str = Field(default="127.0.0.1", description="web UI address ('0.0.0.0' on the Pi)")
    port: int = Field(default=8080, ge=1, le=65535, description="web UI port")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="extra host names the web UI answers to (IP addresses, localhost, this "
        "machine's name and NAME.local always work)",
    )
    tls: Literal["off", "self-signed", "own"] = Field(
        default="off",
        description="HTTPS: off, a per-device self-signed certificate, or your own (tls_cert, "
        "tls_key)",
    )
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_check_delay_s: float = Field(
        default=30.0,
        ge=0,
        le=86400,
        description="seconds after the io process starts to check the event log's whole hash "
        "chain (in a low-priority process of its own)",
    )
    io_timeout_s: float = Field(
        default=5.0,
        ge=0.5,
        le=60,
        description="how long the web process waits for the io process to answer a command; "
        "the io process never acts on a command after this (less half a second)",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="addresses of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto "
        "headers are believed (default: none, so no client can choose the address that "
        "throttling counts and the audit log records)",
    )
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=24 * 30)
    # -- the network process (docs/integrations.md) ---------------------------------
    network_dir: Path | None = Field(
        default=None,
        description="the network process's own files: its outbox (network.db), the device "
        "id and its status socket (default: data_dir; '/var/lib/alarmbridge-network' on the "
        "Pi, so it needs no write access to the event log)",
    )
    mqtt_url: SecretStr | None = Field(
        default=None,
        description="MQTT broker: mqtt://user:pass@host:1883 or mqtts://... (TLS); unset: no MQTT",
    )
    mqtt_prefix: str | None = Field(
        default=None, description="topic prefix (default alarmbridge/<device id>)"
    )
    mqtt_discovery: bool = Field(default=True, description="Home Assistant MQTT discovery")
    mqtt_discovery_prefix: str = Field(default="homeassistant", pattern=r"^[A-Za-z0-9_/-]{1,64}$")
    mqtt_ca_file: Path | None = Field(
        default=None, description="CA certificate (PEM) to check an mqtts:// broker with"
    )
    mqtt_commands: bool = Field(
        default=False,
        description="accept commands over MQTT (start/stop an output, the trigger): off unless "
        "set; they act as an operator, logged as mqtt:<client id>",
    )
    webhook_url: str | None = Field(
        default=None, description="POST every event here, signed (Standard Webhooks)"
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="whsec_ + base64 of 24 bytes or more (signs each webhook)"
    )
    webhook_kinds: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="only these event kinds (default: every kind)"
    )
    webhook_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="only these channels (default: every channel)"
    )
    backlog_fault_s: float = Field(
        default=300.0,
        ge=5,
        le=7 * 86400,
        description="a destination whose oldest undelivered event is older than this raises "
        "a fault",
    )
    sia_file: Path | None = Field(
        default=None,
        description="SIA DC-09 settings (a JSON document: the receiver's accounts, keys and "
        "zone mapping, the sender's receiving centres; docs/integrations.md); unset: no SIA",
    )
    recorders_file: Path | None = Field(
        default=None,
        description="network actions, cameras and what each input's alarm sets going (a JSON "
        "document: docs/recorders.md); unset: no recorder actions or snapshots",
    )
    # -- e-mail (app/network/mail.py; docs/integrations.md) --------------------------
    smtp_url: SecretStr | None = Field(
        default=None,
        description="the SMTP server for alarm and fault mail: smtp://host, "
        "smtp+starttls://user:password@host:587 or smtps://user:password@host:465 "
        "(unset: no mail)",
    )
    mail_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="who gets the mail: addresses, comma-separated"
    )
    mail_from: str | None = Field(
        default=None,
        description="the mail's From (default: the SMTP login if it is an address, else "
        "alarmbridge@<this machine's name>)",
    )
    mail_per_minute: int = Field(
        default=5,
        ge=1,
        le=60,
        description="at most this many mails a minute; beyond it, one summary mail lists "
        "every event",
    )
    apprise_url: SecretStr | None = Field(
        default=None,
        description="an Apprise URL (ntfy://, tgram://, pover://, mailto://...) for alarm and "
        "fault notifications; needs the apprise extra: pip install 'alarmbridge[apprise]'",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}: use an IANA name such as Europe/Brussels or UTC"
            ) from None
        return name

    @field_validator(
        "allowed_hosts",
        "trusted_proxies",
        "mail_to",
        "webhook_kinds",
        "webhook_channels",
        mode="before",
    )
    @classmethod
    def _host_list(cls, value: object) -> object:
        """``ALARMBRIDGE_ALLOWED_HOSTS=cctv.lan,bridge.example`` (a comma-separated list)"""
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @property
    def local_url(self) -> str:
        """Where to browse to the web UI from this machine: ``https://`` under TLS,
        and a loopback address for a wildcard host.

        >>> Settings(host="0.0.0.0", port=80, tls="self-signed").local_url
        'https://127.0.0.1:80'
        >>> Settings(host="::1").local_url
        'http://[::1]:8080'
        """
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"{'http' if self.tls == 'off' else 'https'}://{host}:{self.port}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "alarmbridge.db"

    @property
    def web_state_dir(self) -> Path:
        """Where the web process keeps its own files (``web_dir``, else ``data_dir``)."""
        return self.data_dir if self.web_dir is None else self.web_dir

    @property
    def auth_db_path(self) -> Path:
        return self.web_state_dir / "auth.db"

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "io.sock"

    @property
    def network_state_dir(self) -> Path:
        """The network process's own files (``network_dir``, else ``data_dir``)."""
        return self.data_dir if self.network_dir is None else self.network_dir

    @property
    def network_db_path(self) -> Path:
        return self.network_state_dir / "network.db"

    @property
    def network_socket_path(self) -> Path:
        return self.network_state_dir / "network.sock"

    def board_spec(self) -> BoardSpec:
        """The board to open: a preset, or the custom map in ``board_file``."""
        return load_spec(self.board, self.board_file)
