"""Operator configuration: inputs, outputs, the button, as validated data.

One document, ``extra="forbid"`` everywhere and a schema version, so it can be
exported and imported as a file and every error names the field at fault. Types
are strict: a number is a JSON number (``true`` is not 1, ``"50"`` is not 50), a
switch is ``true`` or ``false``, and names follow app.text's rules.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from app.schedules import ALWAYS, Schedule
from app.text import Name, Text
from hardware.boards import BoardSpec

SCHEMA_VERSION = 1
MAX_SCHEDULES = 32
MAX_VIRTUAL_INPUTS = 8  # V1..V8, beside the board's wired inputs
MAX_REFRESH_S = 24 * 3600
MIN_MS = 25
MAX_MS = 24 * 3600 * 1000


class InputKind(StrEnum):
    ALARM = "alarm"  # acts only while armed
    H24 = "24h"  # always acts: tamper, panic
    DVR = "dvr"  # the DVR's own alarm-out relay: motion, video loss
    ARMED_STATE = "armed-state"  # the panel's "armed" output: arms the alarm inputs


class Contact(StrEnum):
    NO = "NO"  # normally open: closed = alarm
    NC = "NC"  # normally closed: open = alarm (a cut wire reads as alarm)


class ArmedBy(StrEnum):
    SCHEDULE = "schedule"
    PANEL = "panel"
    BOTH = "both"  # armed only while the schedule AND the panel say so


Recorder = Literal["generic", "avtech", "hikvision", "dahua"]


def upgrade_document(data: Any) -> Any:
    """A stored or exported configuration document from an older version, made valid
    for this one without changing what it does. Returns a new document (or ``data``
    itself when there is nothing to change).

    Before "follow, then hold" existed, ``hold: follow`` with a ``hold_ms`` was
    accepted and the hold time did nothing (the Outputs page hid the field, so it
    was usually left over from a fixed hold). It now becomes 0: the output keeps
    following its inputs exactly as before; choose ``follow-hold`` for a hold.

    >>> upgrade_document({"outputs": [{"name": "A", "hold": "follow", "hold_ms": 5000}]})
    {'outputs': [{'name': 'A', 'hold': 'follow', 'hold_ms': 0}]}
    """
    if not isinstance(data, dict) or not isinstance(data.get("outputs"), list):
        return data
    outputs = data["outputs"]
    stale = [
        n
        for n, o in enumerate(outputs)
        if isinstance(o, dict) and o.get("hold", "follow") == "follow" and _was_valid(o)
    ]
    if not stale:
        return data
    outputs = [dict(o, hold_ms=0) if n in stale else o for n, o in enumerate(outputs)]
    return {**data, "outputs": outputs}


def _was_valid(output: dict[str, Any]) -> bool:
    """A hold time older versions accepted (and ignored) with hold follow: only
    those are upgraded; anything else stays for validation to refuse."""
    ms = output.get("hold_ms")
    return isinstance(ms, int) and not isinstance(ms, bool) and MIN_MS <= ms <= MAX_MS


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class InputConfig(_Model):
    name: Name
    enabled: StrictBool = True
    contact: Contact = Contact.NO
    response_ms: StrictInt = Field(default=50, ge=0, le=10_000)
    kind: InputKind = InputKind.ALARM
    outputs: list[StrictInt] = Field(default_factory=list, description="linked outputs, 1-based")
    schedule: Name = Field(default=ALWAYS, description="'always' or a schedule's name")
    armed_by: ArmedBy = ArmedBy.SCHEDULE
    stuck_after_s: StrictInt = Field(default=3600, ge=0, le=7 * 24 * 3600, description="0 = never")
    chatter_changes: StrictInt = Field(default=20, ge=2, le=10_000)
    chatter_window_s: StrictInt = Field(default=10, ge=1, le=3600)


class VirtualInputConfig(_Model):
    """An input with no wire (V1..V8): a SIA DC-09 zone, an analytics detection, a
    call to ``POST /api/v1/inputs/{n}/signal``. Kind, schedule, linkage, arming and
    logging are a wired input's; there is no contact type and no debounce (the
    sender has done it). With ``refresh_s``, the sender must repeat its state at
    least that often: otherwise the input falls back to normal and a fault is raised."""

    name: Name
    enabled: StrictBool = True
    kind: InputKind = InputKind.ALARM
    outputs: list[StrictInt] = Field(default_factory=list, description="linked outputs, 1-based")
    schedule: Name = Field(default=ALWAYS, description="'always' or a schedule's name")
    armed_by: ArmedBy = ArmedBy.SCHEDULE
    refresh_s: StrictInt = Field(
        default=0,
        ge=0,
        le=MAX_REFRESH_S,
        description="the sender repeats its state at least this often; 0 = no timeout",
    )
    stuck_after_s: StrictInt = Field(default=3600, ge=0, le=7 * 24 * 3600, description="0 = never")
    chatter_changes: StrictInt = Field(default=20, ge=2, le=10_000)
    chatter_window_s: StrictInt = Field(default=10, ge=1, le=3600)

    def as_input(self) -> InputConfig:
        """The engine's view: a normally-open input with no debounce."""
        return InputConfig(
            name=self.name,
            enabled=self.enabled,
            contact=Contact.NO,
            response_ms=0,
            kind=self.kind,
            outputs=list(self.outputs),
            schedule=self.schedule,
            armed_by=self.armed_by,
            stuck_after_s=self.stuck_after_s,
            chatter_changes=self.chatter_changes,
            chatter_window_s=self.chatter_window_s,
        )


class OutputConfig(_Model):
    name: Name
    dvr_channel: Text = Field(default="", max_length=20)
    valid_signal: Literal["close", "open"] = "close"
    mode: Literal["switch", "pulse"] = "switch"
    pulse_on_ms: StrictInt = Field(default=500, ge=MIN_MS, le=MAX_MS)
    pulse_off_ms: StrictInt = Field(default=500, ge=MIN_MS, le=MAX_MS)
    pulse_count: StrictInt = Field(default=0, ge=0, le=100_000, description="0 = until the end")
    hold: Literal["follow", "fixed", "follow-hold"] = Field(
        default="follow",
        description="follow: while a linked input is in alarm; fixed: hold_ms from the alarm; "
        "follow-hold: while in alarm, then hold_ms more (a recorder's post-alarm time)",
    )
    hold_ms: StrictInt = Field(
        default=0,
        ge=0,
        le=MAX_MS,
        description="fixed: the hold (0 = until stopped); follow-hold: the time after the "
        "alarm clears (required); follow: must be 0",
    )
    retrigger: Literal["extend", "restart", "ignore"] = "extend"
    min_off_ms: StrictInt = Field(default=0, ge=0, le=MAX_MS)
    schedule: Name | None = Field(
        default=None, description="timed output: active in this schedule's windows"
    )
    recorder: Recorder = Field(
        default="generic",
        description="the recorder this output is wired to: says what to set on its alarm "
        "input (app/recorders.py)",
    )

    @model_validator(mode="after")
    def _hold_range(self) -> Self:
        if self.hold == "follow" and self.hold_ms:
            raise ValueError(
                "hold_ms must be 0 with hold 'follow' (it would do nothing): for an output "
                "that follows the input and then stays on, choose hold 'follow-hold'"
            )
        if self.hold == "follow-hold" and self.hold_ms < MIN_MS:
            raise ValueError(
                "hold 'follow-hold' needs hold_ms: how long the output stays on after the "
                f"alarm clears (at least {MIN_MS} ms; recorders use 10-300 s)"
            )
        if self.hold_ms and self.hold_ms < MIN_MS:
            raise ValueError(f"hold_ms must be 0 (until stopped) or at least {MIN_MS} ms")
        return self


class ButtonConfig(_Model):
    action: Literal["pulse", "none"] = "pulse"
    outputs: list[StrictInt] | None = Field(default=None, description="None = every DVR output")
    duration_ms: StrictInt = Field(default=3000, ge=MIN_MS, le=MAX_MS)


class Config(_Model):
    schema_version: Literal[1] = 1
    inputs: list[InputConfig]
    outputs: list[OutputConfig]
    button: ButtonConfig = Field(default_factory=ButtonConfig)
    schedules: list[Schedule] = Field(default_factory=list, max_length=MAX_SCHEDULES)
    healthy_output: StrictInt | None = Field(
        default=None, description="1-based output energised only while the engine is alive"
    )
    virtual_inputs: list[VirtualInputConfig] = Field(
        default_factory=list,
        max_length=MAX_VIRTUAL_INPUTS,
        description="inputs with no wire, V1..V8: set by network signals (none by default)",
    )

    def all_inputs(self) -> list[tuple[str, InputConfig | VirtualInputConfig]]:
        """Every input with how messages name it: ``input N`` or ``virtual input VN``."""
        return [(f"input {i}", x) for i, x in enumerate(self.inputs, 1)] + [
            (f"virtual input V{k}", x) for k, x in enumerate(self.virtual_inputs, 1)
        ]

    @model_validator(mode="after")
    def _links(self) -> Self:
        n_out = len(self.outputs)
        problems = []
        every = self.all_inputs()
        for label, inp in every:
            for o in inp.outputs:
                if not 1 <= o <= n_out:
                    problems.append(f"{label} ({inp.name}) links output {o}, which does not exist")
                elif o == self.healthy_output:
                    problems.append(
                        f"{label} ({inp.name}) links output {o}, which is the healthy relay: "
                        "unlink it first"
                    )
        for o in self.button.outputs or []:
            if not 1 <= o <= n_out:
                problems.append(f"the button uses output {o}, which does not exist")
        known = {s.name for s in self.schedules}
        if len(known) != len(self.schedules):
            problems.append("schedule names must be unique")
        for label, inp in every:
            if inp.schedule != ALWAYS and inp.schedule not in known:
                problems.append(f"{label} ({inp.name}): schedule {inp.schedule!r} does not exist")
            if inp.armed_by is not ArmedBy.SCHEDULE and not any(
                x.kind is InputKind.ARMED_STATE for _, x in every
            ):
                problems.append(
                    f"{label} ({inp.name}) is armed by the panel, but no input is of kind "
                    "'armed-state'"
                )
        for o, out in enumerate(self.outputs, 1):
            if out.schedule not in (None, ALWAYS) and out.schedule not in known:
                problems.append(
                    f"output {o} ({out.name}): schedule {out.schedule!r} does not exist"
                )
        if self.healthy_output is not None and not 1 <= self.healthy_output <= n_out:
            problems.append(f"healthy_output {self.healthy_output} does not exist")
        names = [i.name for _, i in every] + [o.name for o in self.outputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"names must be unique: {', '.join(dupes)} used twice")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def schedule_users(self, name: str) -> list[str]:
        """The inputs and outputs that use schedule ``name``."""
        return [f"{label} ({x.name})" for label, x in self.all_inputs() if x.schedule == name] + [
            f"output {o} ({x.name})" for o, x in enumerate(self.outputs, 1) if x.schedule == name
        ]

    def fits(self, spec: BoardSpec) -> list[str]:
        """Problems running this config on ``spec`` (counts must match the board)."""
        problems = []
        if len(self.inputs) != len(spec.inputs):
            problems.append(
                f"{len(self.inputs)} inputs configured, the board has {len(spec.inputs)}"
            )
        if len(self.outputs) != len(spec.relays):
            problems.append(
                f"{len(self.outputs)} outputs configured, the board has {len(spec.relays)}"
            )
        return problems


def default_config(spec: BoardSpec) -> Config:
    """A fresh appliance: input N drives relay N (DVR channel CHN), follow-source, NO
    contacts, kind alarm, always armed."""
    n_out = len(spec.relays)
    return Config(
        inputs=[
            InputConfig(name=i.name, outputs=[n] if n <= n_out else [])
            for n, i in enumerate(spec.inputs, 1)
        ],
        outputs=[
            OutputConfig(name=r.name, dvr_channel=f"CH{n}") for n, r in enumerate(spec.relays, 1)
        ],
    )
