"""Weekly schedules: listed, created, changed, renamed and deleted as part of the
configuration, and the timeline they give every input and output."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from app import timeline as tl
from app.config import InputKind
from app.io.commands import GetStatus
from app.overrides import overlay
from app.schedules import Schedule
from app.schedules.calendar import DAY_US, to_us
from app.text import SAFE_PATTERN
from app.timefmt import TimeFormatError, local_iso, parse_moment
from app.web.api.config import Doc, change, current
from app.web.deps import State
from app.web.errors import ApiError, NotFoundError, answers
from app.web.models import OffsetChangeOut, SegmentOut, TimelineOut, TimelineRow
from app.web.security import Admin

router = APIRouter(tags=["schedules"])

Name = Annotated[
    str, Path(min_length=1, max_length=40, pattern=SAFE_PATTERN, description="the schedule's name")
]
SPANS = {"24h": DAY_US, "7d": 7 * DAY_US}


def _find(doc: Doc, name: str) -> int:
    for i, schedule in enumerate(doc["schedules"]):
        if schedule["name"] == name:
            return i
    known = ", ".join(s["name"] for s in doc["schedules"]) or "none yet"
    raise NotFoundError(f"there is no schedule {name!r} (schedules: {known})")


def _named(schedules: list[Schedule], name: str) -> Schedule:
    found = [s for s in schedules if s.name == name]
    if found:
        return found[0]
    raise NotFoundError(f"there is no schedule {name!r}")


@router.get("/schedules")
async def list_schedules(state: State) -> list[Schedule]:
    return (await current(state)).schedules


@router.post("/schedules", status_code=201, responses=answers(409, 413))
async def create_schedule(state: State, who: Admin, body: Schedule) -> Schedule:
    """Add a schedule; then choose it on an input (arming) or an output (timed)."""

    def edit(doc: Doc) -> None:
        if any(s["name"] == body.name for s in doc["schedules"]):
            raise ApiError(f"a schedule named {body.name!r} exists already", status=409)
        doc["schedules"].append(body.model_dump(mode="json"))

    return _named((await change(state, edit, who)).schedules, body.name)


@router.get("/schedules/{name}", responses=answers(404))
async def get_schedule(state: State, name: Name) -> Schedule:
    return _named((await current(state)).schedules, name)


@router.put("/schedules/{name}", responses=answers(404, 409, 413))
async def put_schedule(state: State, who: Admin, name: Name, body: Schedule) -> Schedule:
    """Replace a schedule. A new name is carried over to every input and output
    using it. Applied at once: inputs and outputs follow the new windows."""

    def edit(doc: Doc) -> None:
        i = _find(doc, name)
        if body.name != name and any(s["name"] == body.name for s in doc["schedules"]):
            raise ApiError(f"a schedule named {body.name!r} exists already", status=409)
        doc["schedules"][i] = body.model_dump(mode="json")
        for item in [*doc["inputs"], *doc["outputs"]]:
            if item.get("schedule") == name:
                item["schedule"] = body.name

    return _named((await change(state, edit, who)).schedules, body.name)


@router.delete("/schedules/{name}", status_code=204, responses=answers(404, 409))
async def delete_schedule(state: State, who: Admin, name: Name) -> Response:
    """Delete a schedule that no input or output uses."""

    def edit(doc: Doc) -> None:
        i = _find(doc, name)
        users = [
            f"{section[:-1]} {n} ({item['name']})"
            for section in ("inputs", "outputs")
            for n, item in enumerate(doc[section], 1)
            if item.get("schedule") == name
        ]
        if users:
            raise ApiError(
                f"schedule {name!r} is in use by {', '.join(users)}: choose another "
                "schedule there first",
                status=409,
            )
        del doc["schedules"][i]

    await change(state, edit, who)
    return Response(status_code=204)


def timeline_out(timeline: tl.Timeline, tz: Any, zone: str) -> TimelineOut:
    return TimelineOut(
        timezone=zone,
        start=local_iso(timeline.start_us, tz),
        end=local_iso(timeline.end_us, tz),
        legend=tl.STATES,
        rows=[
            TimelineRow(
                section=row.section,
                number=row.number,
                name=row.name,
                schedule=row.schedule,
                segments=[
                    SegmentOut(
                        start=local_iso(s.start_us, tz), end=local_iso(s.end_us, tz), state=s.state
                    )
                    for s in row.segments
                ],
            )
            for row in timeline.rows
        ],
        offset_changes=[
            OffsetChangeOut(
                at=local_iso(c.at_us, tz),
                old_offset_s=c.old_offset_s,
                new_offset_s=c.new_offset_s,
                label=c.label,
            )
            for c in timeline.offset_changes
        ],
    )


# a week and its time zones from there stay inside the calendar's years 1-9999
EARLIEST_US, LATEST_US = (to_us(datetime(y, 1, 1, tzinfo=UTC)) for y in (2, 9999))


async def build_timeline(state: State, span: str, start: str | None) -> tl.Timeline:
    tz = state.settings.tz
    begin = time.time_ns() // 1000 if start is None else parse_moment(start, tz)
    if not EARLIEST_US <= begin < LATEST_US:
        raise TimeFormatError(f"a timeline starts in the years 2 to 9998, not at {start!r}")
    config = await current(state)
    timeline = tl.build(config, tz, begin, begin + SPANS[span])
    raw = await state.io(GetStatus())  # the operator's overrides in force
    bypass = {b["name"]: b["until_utc_us"] for b in raw.get("bypass", [])}
    override = raw.get("arming_override")
    arming = None if override is None else (override["armed"], override["until_utc_us"])
    alarm = {n for n, i in enumerate(config.inputs, 1) if i.enabled and i.kind is InputKind.ALARM}
    return overlay(timeline, bypass, arming, alarm)


@router.get("/timeline")
async def get_timeline(
    state: State,
    span: Annotated[Literal["24h", "7d"], Query(description="how far ahead")] = "24h",
    start: Annotated[
        str | None, Query(description="ISO 8601 (default: now); no offset = local time")
    ] = None,
) -> TimelineOut:
    """Armed/unarmed for every input and on/off for every timed output, from
    ``start`` over ``span``, with daylight-saving changes marked."""
    timeline = await build_timeline(state, span, start)
    return timeline_out(timeline, state.settings.tz, state.settings.timezone)
