"""Live status and the system page's facts."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from fastapi import APIRouter

from app.eventlog.queries import count_events, time_span
from app.io.commands import GetBoard
from app.timefmt import local_iso, utc_iso
from app.web.deps import State
from app.web.models import BoardInfo, DatabaseInfo, DiskInfo, Status, SystemInfo

router = APIRouter(tags=["status"])


@router.get("/status")
async def get_status(state: State) -> Status:
    """Every input (raw contact, interpreted state, armed, faults) and output (active,
    mode, time left), the active faults, clock sync, version, uptime, simulation."""
    return await state.status()


def _size(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            total += part.stat().st_size
    return total


def _database(state: State) -> DatabaseInfo:
    path = state.settings.db_path
    db = state.read_db()
    span = time_span(db)
    return DatabaseInfo(
        size_bytes=_size(path),
        events=count_events(db),
        oldest_utc=None if span is None else utc_iso(span[0]),
        newest_utc=None if span is None else utc_iso(span[1]),
    )


@router.get("/system")
async def get_system(state: State) -> SystemInfo:
    """Version, clock, disk and database use, the board and its pin map."""
    status = await state.status()
    board = BoardInfo.model_validate(await state.io(GetBoard()))
    usage = shutil.disk_usage(state.settings.data_dir)
    database = await asyncio.to_thread(_database, state)
    now_us = time.time_ns() // 1000
    return SystemInfo(
        version=status.version,
        uptime_s=status.uptime_s,
        simulated=status.simulated,
        clock_synced=status.clock_synced,
        now_utc=utc_iso(now_us),
        now_local=local_iso(now_us, state.settings.tz),
        timezone=state.settings.timezone,
        boot_id=status.boot_id,
        board=board,
        disk=DiskInfo(total_bytes=usage.total, used_bytes=usage.used, free_bytes=usage.free),
        database=database,
        writer=status.eventlog,
    )
