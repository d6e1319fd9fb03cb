"""The JSON API's request and response models (what ``/openapi.json`` documents)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from app.config import MAX_MS, MIN_MS
from app.events import Cause, Kind


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Problem(BaseModel):
    field: str | None = Field(description="the field at fault, dotted (None: the whole request)")
    message: str


class ErrorOut(BaseModel):
    """Every error: one sentence for a person, and the fields at fault if any."""

    error: str
    problems: list[Problem] = Field(default_factory=list)


class Message(BaseModel):
    message: str


# -- live state -----------------------------------------------------------------


class InputState(_Out):
    number: int = Field(description="1-based, as in the configuration")
    name: str
    enabled: bool
    kind: str
    contact_type: str = Field(description="NO or NC")
    schedule: str = Field(description="the schedule that arms it ('always' or a name)")
    armed_by: str = Field(description="schedule, panel or both")
    contact: str = Field(description="the raw contact: open or closed")
    alarm: bool = Field(description="the interpreted state: NO closed or NC open")
    armed: bool | None = Field(description="for alarm inputs: armed now")
    acts: bool = Field(description="a change now drives the linked outputs")
    bypassed: bool = Field(default=False, description="bypassed by an operator for a while")
    overridden: bool = Field(
        default=False, description="an alarm input whose arming an operator's override sets"
    )
    chattering: bool
    stuck: bool


class VirtualInputState(_Out):
    number: int = Field(description="numbered after the wired inputs (V1 is input N+1)")
    label: str = Field(description="V1..V8")
    name: str
    enabled: bool
    kind: str
    schedule: str
    armed_by: str
    alarm: bool = Field(description="active (signalled), or normal")
    armed: bool | None
    acts: bool
    chattering: bool
    stuck: bool
    refresh_s: int = Field(description="its sender repeats its state this often; 0: no timeout")
    signal_lost: bool = Field(description="not refreshed in time: taken as normal, a fault")
    signalled_by: str | None = Field(description="who sent its last signal")


class OutputState(_Out):
    number: int
    name: str
    dvr_channel: str
    active: bool
    energised: bool = Field(description="the relay coil (valid signal open: energised when idle)")
    healthy_relay: bool
    mode: str
    hold: str
    schedule: str | None = Field(description="timed output: its schedule (null: not timed)")
    scheduled: bool = Field(description="inside its schedule's windows now")
    latched: bool = Field(description="started until stopped by hand: survives a restart")
    holding: bool = Field(
        default=False, description="follow-hold: in its post-alarm time (the alarm cleared)"
    )
    time_left_ms: int | None
    until_stopped: bool
    cause: str | None
    source: str | None


class FaultOut(_Out):
    key: str
    code: str
    message: str


class WriterState(_Out):
    fault: str | None
    pending: int
    dropped: int


class BypassOut(_Out):
    input: int | None = Field(description="1-based input number (null: no input of that name)")
    name: str
    until: str = Field(description="ISO 8601 UTC: it ends by itself then")
    until_utc_us: int
    since: str
    by: str
    reason: str


class ArmingOverrideOut(_Out):
    armed: bool = Field(description="true: every alarm input armed; false: disarmed")
    until: str
    until_utc_us: int
    since: str
    by: str


class OverridesOut(_Out):
    bypass: list[BypassOut] = Field(default_factory=list)
    arming_override: ArmingOverrideOut | None = None


class Status(_Out):
    version: str
    uptime_s: float
    simulated: bool
    board: str
    boot_id: str
    clock_synced: bool
    running: bool
    panel_armed: bool
    inputs: list[InputState]
    virtual_inputs: list[VirtualInputState] = Field(default_factory=list)
    outputs: list[OutputState]
    faults: list[FaultOut]
    eventlog: WriterState
    overrides: OverridesOut = Field(default_factory=OverridesOut)
    walk_test: dict[str, Any] | None = Field(
        default=None, description="the walk test running now, as its report so far (null: none)"
    )


def status_from_io(raw: dict[str, Any]) -> Status:
    """The io process's status reply, numbered for the API."""
    data = dict(raw)
    bypassed = {b["name"] for b in raw.get("bypass", [])}
    override = raw.get("arming_override") is not None
    data["inputs"] = [
        {"number": n, **i, "bypassed": i["name"] in bypassed}
        | {"overridden": override and i.get("armed") is not None}
        for n, i in enumerate(raw["inputs"], 1)
    ]
    data["outputs"] = [{"number": n, **o} for n, o in enumerate(raw["outputs"], 1)]
    wired = len(raw["inputs"])
    data["virtual_inputs"] = [
        {"number": wired + k, **v} for k, v in enumerate(raw.get("virtual_inputs", []), 1)
    ]
    data["overrides"] = {
        "bypass": raw.get("bypass", []),
        "arming_override": raw.get("arming_override"),
    }
    return Status.model_validate(data)


# -- events ---------------------------------------------------------------------


class EventOut(_Out):
    seq: int = Field(description="the event's number in the log: the true order")
    utc: str = Field(description="ISO 8601 UTC, e.g. 2026-11-21T08:00:00.000Z")
    local: str = Field(description="the same moment in the appliance's time zone")
    utc_us: int
    mono_ns: int
    boot_id: str
    clock_synced: bool = Field(description="False: the wall clock was not yet synchronised")
    kind: Kind
    state: str
    cause: Cause
    channel: str | None
    dvr_channel: str | None
    source: str | None
    detail: dict[str, Any] | None
    summary: str = Field(description="what it means, in a few words (may be empty)")


class EventPage(BaseModel):
    events: list[EventOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as cursor for the next, older page")


class HistogramBucket(BaseModel):
    start_utc: str
    start_local: str
    counts: dict[str, int] = Field(description="events per channel in this bucket")


class Histogram(BaseModel):
    span: str
    bucket_s: int
    channels: list[str]
    buckets: list[HistogramBucket]


# -- actions --------------------------------------------------------------------


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duration_s: StrictFloat | None = Field(
        default=None,
        ge=MIN_MS / 1000,  # the io socket's limits (app/io/commands.py): in seconds
        le=MAX_MS / 1000,
        description="seconds; omit or null: until stopped (survives a restart)",
    )


class BypassRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hours: StrictFloat | StrictInt = Field(
        ge=1 / 60, le=7 * 24, description="how long: from 1 minute (1/60) to 168 hours"
    )
    reason: str = Field(default="", max_length=100, description="for the log, e.g. the repair")


class ArmingOverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    armed: StrictBool = Field(description="true: arm every alarm input; false: disarm them")
    hours: StrictFloat | StrictInt = Field(
        ge=1 / 60, le=7 * 24, description="how long: from 1 minute (1/60) to 168 hours"
    )


class SimContact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    closed: StrictBool = Field(description="true: close the contact; false: open it")


class SimButton(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pressed: StrictBool


class HealthyRelay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    output: StrictInt | None = Field(
        description="1-based output energised only while the appliance is alive; null: none"
    )


# -- system ---------------------------------------------------------------------


class PinRow(BaseModel):
    function: str
    gpio: int
    header_pin: int
    wiring: str


class BoardInfo(BaseModel):
    name: str
    title: str
    notes: str
    pins: list[PinRow]
    config_txt: list[str]


class DiskInfo(BaseModel):
    total_bytes: int
    used_bytes: int
    free_bytes: int


class DatabaseInfo(BaseModel):
    size_bytes: int = Field(description="the database file and its write-ahead log")
    events: int
    oldest_utc: str | None
    newest_utc: str | None


class SystemInfo(BaseModel):
    version: str
    uptime_s: float
    simulated: bool
    clock_synced: bool
    now_utc: str
    now_local: str
    timezone: str
    boot_id: str
    board: BoardInfo
    disk: DiskInfo
    database: DatabaseInfo
    writer: WriterState


# -- schedules ------------------------------------------------------------------


class SegmentOut(BaseModel):
    start: str = Field(description="ISO 8601 in the appliance's time zone")
    end: str
    state: str = Field(description="one of the timeline's states (see legend)")


class TimelineRow(BaseModel):
    section: str = Field(description="input or output")
    number: int
    name: str
    schedule: str | None
    segments: list[SegmentOut]


class OffsetChangeOut(BaseModel):
    at: str = Field(description="the instant, ISO 8601 in the appliance's time zone")
    old_offset_s: int
    new_offset_s: int
    label: str


class TimelineOut(BaseModel):
    timezone: str
    start: str
    end: str
    legend: dict[str, str]
    rows: list[TimelineRow]
    offset_changes: list[OffsetChangeOut] = Field(description="daylight-saving changes")
