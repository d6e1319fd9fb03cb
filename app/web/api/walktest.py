"""The walk test (commissioning) through the API: start it, pulse each channel and
say whether the recorder marked it, end it; the report of the latest one (from
the log: the detail of its ``walk-test-ended`` row) as JSON or CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import Engine, select

from app.eventlog.rows import row_to_event
from app.eventlog.schema import events
from app.io.commands import WalkTestConfirm, WalkTestEnd, WalkTestPulse, WalkTestStart
from app.timefmt import local_iso
from app.web.deps import State, WholeNumber, check_number
from app.web.errors import NotFoundError, answers
from app.web.models import Status
from app.web.security import Operator

router = APIRouter(tags=["walk test"])
OutputNumber = Annotated[WholeNumber, Path(description="1-based output number")]


class ConfirmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marked: StrictBool = Field(description="true: the recorder marked an alarm on the channel")
    note: str = Field(default="", max_length=100, description="for the report")


@router.post("/walk-test/start", responses=answers(400))
async def start_walk_test(state: State, who: Operator) -> Status:
    """Start a walk test; its progress is ``walk_test`` in the status. Linked relays
    still fire during it (the recorder sees the walk too)."""
    await state.io(WalkTestStart(user=who.name))
    return await state.status()


@router.post("/walk-test/outputs/{n}/pulse", responses=answers(400, 404))
async def pulse_channel(state: State, who: Operator, n: OutputNumber) -> Status:
    """Start output ``n`` for 5 s so its recorder channel can mark an alarm."""
    check_number("output", n, len((await state.status()).outputs))
    await state.io(WalkTestPulse(output=n, user=who.name))
    return await state.status()


@router.post("/walk-test/outputs/{n}/confirm", responses=answers(400, 404, 413))
async def confirm_channel(
    state: State, who: Operator, n: OutputNumber, body: ConfirmRequest
) -> Status:
    """Say whether the recorder marked an alarm on output ``n``'s channel."""
    check_number("output", n, len((await state.status()).outputs))
    await state.io(WalkTestConfirm(output=n, marked=body.marked, note=body.note, user=who.name))
    return await state.status()


@router.post("/walk-test/end", responses=answers(400))
async def end_walk_test(state: State, who: Operator) -> dict[str, Any]:
    """End the walk test: its report (logged as the ``walk-test-ended`` row)."""
    report: dict[str, Any] = await state.io(WalkTestEnd(user=who.name))
    return report


def latest_report(db: Engine) -> tuple[int, int, dict[str, Any]] | None:
    """The newest walk test's report: (its row's seq, utc_us, report), or None."""
    query = (
        select(events)
        .where(events.c.kind == "operator", events.c.state == "walk-test-ended")
        .order_by(events.c.seq.desc())
        .limit(1)
    )
    with db.connect() as connection:
        row = connection.execute(query).mappings().first()
    if row is None:
        return None
    event = row_to_event(row)
    return event.seq, event.utc_us, dict(event.detail or {})


COLUMNS = ["section", "number", "name", "detail", "result", "by", "when"]


def report_rows(report: dict[str, Any]) -> list[list[str]]:
    """The report as CSV rows: every input, then every output."""
    rows: list[list[str]] = []
    for i in report.get("inputs", []):
        pulse = i.get("shortest_pulse_ms")
        detail = (
            f"{i['kind']}, {i['contact_type']}, {i['changes']} changes, {i['bounces']} bounces"
            + (f", shortest {pulse} ms" if pulse is not None else "")
        )
        result = "tested" if i.get("tested") else "NOT TESTED"
        rows.append(
            ["input", str(i["number"]), i["name"], detail, result, report.get("started_by", ""),
             i.get("first_alarm") or ""]
        )  # fmt: skip
    for o in report.get("outputs", []):
        marked = o.get("marked_alarm")
        result = "not checked" if marked is None else ("marked" if marked else "NOT MARKED")
        detail = f"{o['dvr_channel'] or '-'}: {o['recorder_setting']}"
        if o.get("note"):
            detail += f" ({o['note']})"
        rows.append(
            ["output", str(o["number"]), o["name"], detail, result, o.get("confirmed_by") or "",
             o.get("confirmed_at") or ""]
        )  # fmt: skip
    return rows


@router.get(
    "/walk-test/report",
    responses={
        **answers(404),
        200: {"content": {"application/json": {}, "text/csv": {}}},
    },
)
async def walk_test_report(
    state: State,
    response: Response,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> Any:
    """The newest walk test's report: the hand-over document (404: none yet)."""
    found = await asyncio.to_thread(latest_report, state.read_db())
    if found is None:
        raise NotFoundError("there is no walk test report yet: run a walk test first")
    seq, utc_us, report = found
    name = f"alarmbridge-walk-test-{seq}"
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(report_rows(report))
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return {"seq": seq, "ended": local_iso(utc_us, state.settings.tz), **report}
