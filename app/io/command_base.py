"""The io socket's commands' building blocks: the :class:`Command` base (a request
and its reply's type), :class:`Changed`, and the argument types the commands share
(:mod:`app.io.commands` has one model per command)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
)

from app.config import MAX_MS, MIN_MS
from app.overrides import MAX_S, MIN_S
from app.text import Text, check_name

R = TypeVar("R")  # a reply's type
R_co = TypeVar("R_co", covariant=True)


def _whole(low: int, high: int | None = None) -> BeforeValidator:
    """A JSON whole number from ``low`` (to ``high``), with one message for any miss."""
    span = f"from {low} to {high}" if high is not None else f"of {low} or more"

    def check(value: object) -> object:
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < low
            or (high is not None and value > high)
        ):
            raise ValueError(f"must be a whole number {span}")
        return value

    return BeforeValidator(check)


#: an input's or output's number, 1-based (the board says how many there are)
Number = Annotated[int, Field(ge=1), _whole(1)]
#: a manual start's duration in milliseconds (app.config's limits)
DurationMs = Annotated[int, Field(ge=MIN_MS, le=MAX_MS), _whole(MIN_MS, MAX_MS)]
#: how long an override lasts, in seconds (app/overrides.py's limits)
OverrideS = Annotated[int, Field(ge=MIN_S, le=MAX_S), _whole(MIN_S, MAX_S)]
#: who asks: a user's name or ``token:NAME`` (app.text's rules for names)
Who = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(check_name)]
#: a fault's code, e.g. ``eventlog-corrupt``
FAULT_CODE = r"^[a-z0-9-]{1,40}$"
FaultCode = Annotated[str, Field(pattern=FAULT_CODE)]
SimAction = Literal["close", "open", "press", "release"]
SecurityState = Literal[
    "setup",
    "setup-failed",
    "login",
    "login-failed",
    "login-throttled",
    "logout",
    "password-changed",
    "password-change-failed",
    "password-reset",
    "user-added",
    "user-changed",
    "user-removed",
    "token-created",
    "token-revoked",
    "integrations-changed",
]
SECURITY_STATES = frozenset(get_args(SecurityState))
MAX_DETAIL = 8
DetailText = Annotated[Text, Field(max_length=120)]


class Changed(BaseModel):
    """The reply of a command that may change nothing (and then logs nothing)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    changed: bool


class Command(BaseModel, Generic[R_co]):
    """One request on the io socket; ``R_co`` is its reply's type."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    cmd: ClassVar[str]
    reply: ClassVar[TypeAdapter[Any]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for base in cls.__mro__:
            meta = getattr(base, "__pydantic_generic_metadata__", None)
            if meta and meta["origin"] is Command and meta["args"]:
                cls.reply = TypeAdapter(meta["args"][0])
                return

    def arguments(self) -> dict[str, Any]:
        """The request's arguments as they go on the wire (no ``cmd``, no deadline)."""
        return self.model_dump(mode="json")


_USER = Field(default="local", description="who asks, for the log")
