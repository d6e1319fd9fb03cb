"""The SIA DC-09 settings: the receiver's accounts and mapping, the sender's
receivers and codes. Validated like the rest of the configuration (strict types,
unknown fields refused, every error naming its field)."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from app.config import MAX_VIRTUAL_INPUTS
from app.network.sia.frame import check_key
from app.text import Text


def _key(value: str | None) -> str | None:
    if value is not None:
        check_key(value)
    return value


#: an account number: 3 to 16 hex digits (upper case on the wire)
AccountId = Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{3,16}$"), AfterValidator(str.upper)]
#: an AES key: 16, 24 or 32 characters, used as their ASCII bytes; None: not encrypted
Key = Annotated[str | None, AfterValidator(_key)]
HexId = Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{1,6}$"), AfterValidator(str.upper)]
Virtual = Annotated[StrictInt, Field(ge=1, le=MAX_VIRTUAL_INPUTS)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
ListenPort = Annotated[StrictInt, Field(ge=0, le=65535, description="0: any free port")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ZoneMap(_Model):
    """A panel zone that drives a virtual input: alarm -> active, restore -> normal."""

    zone: StrictInt = Field(ge=0, le=9999)
    area: StrictInt | None = Field(default=None, ge=0, le=99, description="None: any area")
    virtual: Virtual = Field(description="k of the virtual input Vk")


class SiaAccount(_Model):
    """A panel (or communicator) that reports to this appliance."""

    account: AccountId
    key: Key = None
    poll_s: StrictInt = Field(
        default=0, ge=0, le=86_400, description="its NULL/poll interval; 0 = not supervised"
    )
    zones: list[ZoneMap] = Field(default_factory=list, max_length=64)
    armed_virtual: Virtual | None = Field(
        default=None,
        description="a virtual input of kind armed-state: closing -> active, opening -> normal",
    )


class ReceiverSettings(_Model):
    enabled: StrictBool = False
    host: Text = Field(default="0.0.0.0", max_length=64)
    port: ListenPort = 12000
    udp: StrictBool = True
    receiver: HexId | None = Field(default=None, description="our R number; None: any")
    accounts: list[SiaAccount] = Field(default_factory=list, max_length=32)
    window_s: tuple[StrictInt, StrictInt] = (40, 20)  # accepted: 40 s behind to 20 s ahead

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [a.account for a in self.accounts]
        dupes = sorted({a for a in ids if ids.count(a) > 1})
        if dupes:
            raise ValueError(f"accounts must be unique: {', '.join(dupes)} used twice")
        return self


class Peer(_Model):
    host: Text = Field(min_length=1, max_length=253)
    port: Port


def _code(default: int, what: str) -> Any:
    return Field(default=default, ge=100, le=999, description=what)


class CidCodes(_Model):
    """The Contact ID event codes we send (SIA DC-05), with the usual defaults.
    An alarm is sent with qualifier 1 (new event), its end with 3 (restore)."""

    alarm: StrictInt = _code(130, "an alarm input's alarm: burglary")
    h24: StrictInt = _code(137, "a 24 h input's alarm: tamper")
    fault: StrictInt = _code(300, "a fault: system trouble")
    arming: StrictInt = _code(401, "an armed-state input: 3 closing (armed), 1 opening")
    started: StrictInt = _code(305, "the io process started: system reset")
    stopped: StrictInt = _code(308, "the io process stopped, relays safe: system shutdown")


class SenderSettings(_Model):
    enabled: StrictBool = False
    primary: Peer | None = None
    backup: Peer | None = None
    account: AccountId = "0000"
    key: Key = None
    receiver: HexId | None = "0"  # DC-09: always send the R field
    prefix: HexId = "0"
    null_s: StrictInt = Field(default=60, ge=0, le=86_400, description="0 = no NULL messages")
    timeout_s: StrictInt = Field(default=10, ge=1, le=120, description="wait for an ACK")
    codes: CidCodes = Field(default_factory=CidCodes)
    zones: dict[Text, StrictInt] = Field(
        default_factory=dict, description="channel name -> zone; unset: its position"
    )
