"""The walk test's pages: the live walk (on a phone) and the commissioning report
(printable; JSON and CSV from /api/v1/walk-test/report)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from app.auth.store import Role
from app.web.api.walktest import latest_report
from app.web.deps import State
from app.web.pages import attempt, render
from app.web.security import require

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Role.VIEWER))])


@router.get("/walk-test", response_class=HTMLResponse)
async def walk_test_page(request: Request, state: State) -> HTMLResponse:
    status, error = await attempt(state.status())
    found = await attempt(asyncio.to_thread(latest_report, state.read_db()))
    return render(
        state,
        request,
        "walk_test.html",
        page="walk-test",
        status=status,
        io_error=error,
        walk=status.walk_test if status else None,
        last=found[0],
    )


@router.get("/walk-test/report", response_class=HTMLResponse)
async def walk_test_report_page(request: Request, state: State) -> HTMLResponse:
    found, error = await attempt(asyncio.to_thread(latest_report, state.read_db()))
    return render(
        state,
        request,
        "walk_test_report.html",
        page="walk-test",
        io_error=None,
        report=None if found is None else found[2],
        seq=None if found is None else found[0],
        ended_us=None if found is None else found[1],
        error=error,
    )
