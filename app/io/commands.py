"""The io socket's commands: one model per command, shared by the io process, the
web process and the CLI.

A request on the wire is ``{"cmd": NAME, "deadline_ns": N, ...arguments}``; the
arguments are the fields of NAME's model in :data:`COMMANDS`. The io process
validates each request once (:func:`parse`), so a handler gets a typed command,
and a client sends one (``Client.send(StartOutput(output=3, user="ann"))``). Types
are strict: ``true`` is not 1, ``"3"`` is not 3, an unknown field is refused, and
every name follows app.text's rules. Each command's reply is its ``reply`` type.

docs/io-protocol.md's command table is made from these models:
``python -m app.io.commands_doc --write docs/io-protocol.md`` (tests/io/test_commands.py
fails when it differs).
"""

from __future__ import annotations

from typing import (
    Annotated,
    Any,
    Literal,
    Self,
    get_args,
)

from pydantic import (
    Field,
    ValidationError,
    model_validator,
)

from app.config import MAX_VIRTUAL_INPUTS, Config
from app.io.command_base import (
    _USER,
    MAX_DETAIL,
    DetailText,
    DurationMs,
    FaultCode,
    Number,
    OverrideS,
    SimAction,
    Who,
    _whole,
)
from app.io.command_base import FAULT_CODE as FAULT_CODE  # re-exported
from app.io.command_base import SECURITY_STATES as SECURITY_STATES  # re-exported
from app.io.command_base import Changed as Changed  # re-exported
from app.io.command_base import Command as Command  # re-exported
from app.io.command_base import R as R  # re-exported
from app.io.command_base import SecurityState as SecurityState  # re-exported
from app.text import Name, Text


class GetStatus(Command[dict[str, Any]]):
    """every input (contact, alarm, armed, schedule, armed_by, acts, chattering,
    stuck) and output (active, energised, mode, hold, schedule, scheduled, latched,
    time_left_ms, cause), the virtual inputs apart (`virtual_inputs`: label, alarm,
    refresh_s, signal_lost, signalled_by), faults, version, uptime, board, simulated, boot id, clock
    sync, event-log writer state"""

    cmd = "status"


class StartOutput(Command[None]):
    """null. A start until stopped is a latch: it survives a restart"""

    cmd = "start"
    output: Number
    duration_ms: DurationMs | None = Field(default=None, description="null: until stopped")
    user: Who = _USER


class StopOutput(Command[Changed]):
    """`{"changed": true}`. Stops manual and automatic activations; a follow-source
    output waits for its inputs' next alarm. An idle output with no start waiting for
    its off-gap has nothing to stop: `{"changed": false}`, nothing logged"""

    cmd = "stop"
    output: Number
    user: Who = _USER


class Trigger(Command[None]):
    """null. The manual trigger: what the physical button does"""

    cmd = "trigger"
    user: Who = _USER


class Simulate(Command[SimAction]):
    """the action. Only on simulated pins; an error otherwise"""

    cmd = "sim"
    action: SimAction = Field(
        description="`close`/`open` an input's contact, `press`/`release` the button"
    )
    input: Number | None = Field(default=None, description="for close and open only")
    user: Who = _USER

    @model_validator(mode="after")
    def _input_for_contacts(self) -> Self:
        if self.action in ("close", "open") and self.input is None:
            raise ValueError(f"{self.action} needs the input's number: input")
        if self.action in ("press", "release") and self.input is not None:
            raise ValueError(f"{self.action} is the button's: it takes no input")
        return self


#: a pulse's length in seconds (a day at most)
PulseS = Annotated[int, Field(ge=1, le=86_400), _whole(1, 86_400)]
VirtualNumber = Annotated[int, Field(ge=1, le=MAX_VIRTUAL_INPUTS), _whole(1, MAX_VIRTUAL_INPUTS)]


class Signal(Command[Changed]):
    """`{"changed": true}` if the virtual input's state changed. Sets virtual input
    V`virtual` active or inactive, or pulses it for `pulse_s` seconds: the engine
    takes it as a debounced edge (kind, arming, linkage, logging with `user` as the
    source). A repeat of its state only refreshes it (`{"changed": false}`, nothing
    logged); one not refreshed within its `refresh_s` falls back to normal with a
    `signal-lost` fault"""

    cmd = "signal"
    virtual: VirtualNumber = Field(description="k of the virtual input Vk")
    action: Literal["active", "inactive", "pulse"]
    pulse_s: PulseS | None = Field(default=None, description="a pulse's length, seconds")
    user: Who = _USER

    @model_validator(mode="after")
    def _pulse_length(self) -> Self:
        if self.action == "pulse" and self.pulse_s is None:
            raise ValueError("a pulse needs its length in seconds: pulse_s")
        if self.action != "pulse" and self.pulse_s is not None:
            raise ValueError(f"pulse_s is for a pulse only, not for {self.action!r}")
        return self


class GetConfig(Command[dict[str, Any]]):
    """the configuration document"""

    cmd = "config-get"


class SetConfig(Command[Changed]):
    """`{"changed": true}`. Validated, stored, applied without restart; logged with
    old and new values, then what it did to each channel (below). The running
    configuration again: `{"changed": false}`, nothing logged"""

    cmd = "config-set"
    config: Config = Field(description="a whole configuration document")
    user: Who = _USER


class Reload(Command[None]):
    """null. Re-reads the stored configuration; logged as `config-reloaded`, then what
    it did (nothing if it is the running one)"""

    cmd = "reload"


class GetBoard(Command[dict[str, Any]]):
    """the board in use: name, title, notes, `pins` (function, gpio, header_pin,
    wiring), `config_txt` lines"""

    cmd = "board"


class SecurityEvent(Command[None]):
    """null. An access event for the audit log: a `security` event with `source` =
    `user`. **Only from the web process's user**, see below"""

    cmd = "security"
    state: SecurityState = Field(description="the access event")
    user: Who = _USER
    detail: dict[Name, DetailText] = Field(
        default_factory=dict,
        max_length=MAX_DETAIL,
        description=f"at most {MAX_DETAIL} strings of up to 120 characters, e.g. `address`",
    )


class ClearFault(Command[None]):
    """null. Clears a fault that stays until someone acknowledges it (a damaged log
    moved aside); logged with the user. Other faults clear when their cause goes;
    asking to clear one is an error that lists the clearable ones"""

    cmd = "fault-clear"
    code: FaultCode = Field(description="e.g. `eventlog-corrupt`")
    user: Who = _USER


class BypassInput(Command[None]):
    """null. The input drives nothing until then (its changes are still logged, an
    alarm as `alarm-bypassed`); again while bypassed: a new end. Logged as `bypass`
    with who and until when; ends by itself (`bypass-ended`), also across a restart"""

    cmd = "bypass"
    input: Number
    duration_s: OverrideS = Field(description="seconds")
    reason: Annotated[Text, Field(max_length=100)] = Field(default="", description="for the log")
    user: Who = _USER


class EndBypass(Command[Changed]):
    """`{"changed": true}`; `false` if the input was not bypassed (nothing logged)"""

    cmd = "bypass-end"
    input: Number
    user: Who = _USER


class OverrideArming(Command[None]):
    """null. Every alarm input armed (or disarmed) until then, whatever its schedule
    or the panel say. Logged as `arming-override`, then each input's arming change;
    ends by itself (`arming-override-ended`), also across a restart"""

    cmd = "arming-override"
    armed: bool
    duration_s: OverrideS = Field(description="seconds")
    user: Who = _USER


class EndArmingOverride(Command[Changed]):
    """`{"changed": true}`: back to the schedules and the panel; `false` if there was
    no override (nothing logged)"""

    cmd = "arming-override-end"
    user: Who = _USER


class WalkTestStart(Command[None]):
    """null. Starts a walk test (one at a time): every input's alarms, changes,
    bounces and shortest pulse count from now; linked relays still fire. Logged as
    `walk-test-started`. Its progress is `walk_test` in the status"""

    cmd = "walk-test-start"
    user: Who = _USER


class WalkTestPulse(Command[None]):
    """null. During a walk test: starts the output for 5 s so its recorder channel
    can mark an alarm (a `manual-start` row)"""

    cmd = "walk-test-pulse"
    output: Number
    user: Who = _USER


class WalkTestConfirm(Command[None]):
    """null. During a walk test, after a pulse: whether the recorder marked an alarm
    on that channel; logged as `walk-test-channel-ok` or `walk-test-channel-failed`"""

    cmd = "walk-test-confirm"
    output: Number
    marked: bool = Field(description="true: the recorder marked an alarm")
    note: Annotated[Text, Field(max_length=100)] = Field(default="", description="for the report")
    user: Who = _USER


class WalkTestEnd(Command[dict[str, Any]]):
    """the commissioning report: every input (tested, alarms, changes, bounces,
    shortest pulse) and output (recorder setting, pulse, confirmation, who, when).
    Logged as `walk-test-ended` with the report as its detail"""

    cmd = "walk-test-end"
    user: Who = _USER


class NetworkFault(Command[None]):
    """null. The network process's faults (a destination's backlog grown old, events
    the log removed before a destination got them, a SIA DC-09 panel that missed its
    poll interval): raised or cleared on channel `network`, logged once per change.
    Sending the same state again changes nothing"""

    cmd = "network-fault"
    code: FaultCode = Field(description="e.g. `mqtt-backlog`")
    active: bool = Field(description="true: raise it; false: clear it")
    message: Annotated[Text, Field(max_length=300)] = Field(
        default="", description="what is wrong, for a person"
    )


#: why the SIA DC-09 receiver refused a frame (app/network/sia/receiver.py)
SiaReason = Annotated[str, Field(pattern=r"^[a-z]{1,20}$")]
UtcUs = Annotated[int, Field(ge=0), _whole(0)]


class SiaRefused(Command[None]):
    """null. Frames the SIA DC-09 receiver refused from one address for one reason,
    summed up by the network process (the first at once, then at most one row per
    address, reason and minute): a `security` event `sia-refused` with the count.
    **Only from the network process's user**, see below"""

    cmd = "sia-refused"
    address: Annotated[Text, Field(min_length=1, max_length=64)] = Field(
        description="the sender's IP address"
    )
    reason: SiaReason = Field(
        description="`crc`, `length`, `format`, `account`, `receiver`, `key`, `decrypt`, "
        "`timestamp`, `replay` (NAK); `data` (DUH)"
    )
    answer: Literal["NAK", "DUH"]
    refused: Annotated[int, Field(ge=1), _whole(1)] = Field(description="how many frames")
    first_utc_us: UtcUs = Field(description="when the first of them came")
    last_utc_us: UtcUs = Field(description="when the last of them came")
    account: Annotated[str, Field(pattern=r"^[0-9A-F]{0,16}$")] = Field(
        default="", description="the account the last one named"
    )
    message: Annotated[Text, Field(max_length=300)] = Field(
        default="", description="why the last one was refused, for a person"
    )


SHA256 = r"^[0-9a-f]{64}$"
AnnotationKind = Literal["network-action", "snapshot", "recorders-skipped"]
ANNOTATION_KINDS = frozenset(get_args(AnnotationKind))
Pixels = Annotated[int, Field(ge=1, le=20_000), _whole(1, 20_000)]


class Annotate(Command[Changed]):
    """`{"changed": true}` when logged. The network process's result for an event
    (`event`: its seq): a network action's answer, a snapshot's hash and size, or an
    alarm skipped as too old. Logged as a `system` row with that state, on the event's
    channel, with `event` in its detail. At most 30 a second with bursts of 120
    (`{"changed": false}` beyond: dropped, counted in one `annotations-dropped` row)"""

    cmd = "annotate"
    event: Annotated[int, Field(ge=1), _whole(1)] = Field(description="the event's seq")
    what: AnnotationKind
    name: Name = Field(description="the action's or the camera's name")
    channel: Name | None = Field(default=None, description="the event's channel")
    ok: bool
    summary: Annotated[Text, Field(max_length=300)] = Field(default="", description="the answer")
    phase: Literal["alarm", "clear"] | None = None
    attempts: Annotated[int, Field(ge=0, le=100), _whole(0, 100)] = 0
    elapsed_ms: UtcUs = 0
    ref: Annotated[Text, Field(max_length=120)] | None = Field(
        default=None, description="an id the recorder gave (Frigate or ZoneMinder event)"
    )
    link: Annotated[Text, Field(max_length=500, pattern=r"^(https?|rtsp)://")] | None = Field(
        default=None, description="the recording: a web page or clip, or an RTSP playback URI"
    )
    sha256: Annotated[str, Field(pattern=SHA256)] | None = None
    size: Annotated[int, Field(ge=0, le=50_000_000), _whole(0, 50_000_000)] | None = None
    width: Pixels | None = None
    height: Pixels | None = None
    offset_s: Annotated[float, Field(ge=0, le=3600)] | None = None
    taken_utc_us: UtcUs | None = Field(default=None, description="when a snapshot arrived")


class Subscribe(Command[None]):
    """`{"ok": true}`, then one `{"event": {...}}` line per event"""

    cmd = "subscribe"


#: every command by its name on the wire, in the order the docs list them
COMMANDS: dict[str, type[Command[Any]]] = {
    c.cmd: c
    for c in (
        GetStatus,
        StartOutput,
        StopOutput,
        Trigger,
        Simulate,
        Signal,
        GetConfig,
        ClearFault,
        SetConfig,
        Reload,
        GetBoard,
        SecurityEvent,
        BypassInput,
        EndBypass,
        OverrideArming,
        EndArmingOverride,
        WalkTestStart,
        WalkTestPulse,
        WalkTestConfirm,
        WalkTestEnd,
        NetworkFault,
        SiaRefused,
        Annotate,
        Subscribe,
    )
}


class InvalidCommandError(ValueError):
    """A request that is no command: its message names the field at fault."""


def parse(cmd: str, arguments: dict[str, Any]) -> Command[Any]:
    """``cmd``'s model, validated from a request's ``arguments``."""
    model = COMMANDS.get(cmd)
    if model is None:
        raise InvalidCommandError(f"unknown command {cmd!r}: one of {', '.join(sorted(COMMANDS))}")
    try:
        return model.model_validate(arguments)
    except ValidationError as exc:
        raise InvalidCommandError(f"invalid {cmd!r} command: {explain(exc)}") from None


_PHRASES = {
    "missing": "is required",
    "extra_forbidden": "is not an argument of this command",
}


def explain(exc: ValidationError) -> str:
    r"""Pydantic's errors as one line for a person, each naming its field.

    >>> try:
    ...     StartOutput.model_validate({"output": True, "duration_ms": 10, "for": 3})
    ... except ValidationError as exc:
    ...     print(*explain(exc).split("; "), sep="\n")
    output must be a whole number of 1 or more
    duration_ms must be a whole number from 25 to 86400000
    for is not an argument of this command
    """
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = _PHRASES.get(error["type"]) or error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and len(error["loc"]) > 1:
            message = "is not a known field"
        for pydantic_says in ("Input should", "String should", "Dictionary should"):
            if message.startswith(pydantic_says):
                message = "must" + message.removeprefix(pydantic_says)
        joint = " " if message[:1].islower() and where else ": "
        problems.append(f"{where}{joint}{message}".removeprefix(": "))
    return "; ".join(problems)
