"""What the network process's status says of SIA DC-09 (``sia``): the receiver's
address, each account's last message and supervision, the ACKs and refusals by
reason; the sender's receivers (primary, backup) and which one took the last
message. Read by the web process (the Integrations page, ``/api/v1/integrations``)
and the CLI through app.network.client."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SiaAccountStatus(_Status):
    account: str
    encrypted: bool
    poll_s: int = Field(description="its poll interval; 0: not supervised")
    last_message_utc_us: int | None = Field(description="the last message taken (a NULL counts)")
    supervision: Literal["ok", "silent", "off"] = Field(
        description="ok: heard within its poll interval; silent: missed it (a fault); off: 0 s"
    )


class SiaReceiverStatus(_Status):
    host: str
    tcp_port: int | None = Field(description="None: not listening")
    udp_port: int | None
    acks: int = Field(description="ACKs sent (resends included)")
    accepted: int = Field(description="messages whose events were handed to the io process")
    refused: dict[str, int] = Field(description="NAK (and DUH: data) by reason")
    accounts: list[SiaAccountStatus]


class SiaPeerStatus(_Status):
    role: Literal["primary", "backup"]
    host: str
    port: int
    state: Literal["ok", "failed", "unused"]
    last_ok_utc_us: int | None = None
    last_error_utc_us: int | None = None
    error: str | None = None


class SiaSenderStatus(_Status):
    account: str
    encrypted: bool
    receivers: list[SiaPeerStatus]
    in_use: Literal["primary", "backup"] | None = Field(
        description="the receiver that took the last message"
    )
    acks: int
    naks: int
    last_error: str | None
    duh: list[int] = Field(description="events a receiver could not use (DUH), the last 20")
    clock_offset_s: float = Field(description="the receiver's clock minus ours, from its NAK")


class SiaStatus(_Status):
    receiver: SiaReceiverStatus | None
    sender: SiaSenderStatus | None
