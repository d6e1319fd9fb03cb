"""What the network did for an event, and its snapshots (issue #20).

The network process's results come back into the log as ``system`` rows
(``network-action``, ``snapshot``, ``recorders-skipped``) with the event's seq as
``detail.event`` (app/io/annotate.py). They are written after the event, so they
are looked for among the :data:`SEARCH_AFTER` events that follow it, by primary key.

The snapshots themselves are files in the network process's evidence directory,
named by their SHA-256; the web process (in that process's group) serves them to a
logged-in viewer by hash, with a strict pattern: no other name reaches the disk.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, func, select

from app.eventlog.queries import MAX_INTEGER
from app.eventlog.schema import events
from app.io.commands import ANNOTATION_KINDS
from app.settings import Settings
from app.web.deps import State, WholeNumber
from app.web.errors import NotFoundError, answers

router = APIRouter(tags=["events"])
SEARCH_AFTER = 100_000  # annotations are looked for in this many events after their event
SHA256_PATTERN = r"^[0-9a-f]{64}$"
RELAY_SCAN = 200  # rows after an input's change looked at for the outputs it moved


class Annotation(BaseModel):
    seq: int = Field(description="the annotation's own row")
    utc_us: int
    what: str = Field(description="network-action, snapshot or recorders-skipped")
    name: str = Field(description="the action's or the camera's name")
    ok: bool
    summary: str
    phase: str | None = None
    attempts: int | None = None
    elapsed_ms: int | None = None
    ref: str | None = Field(default=None, description="the recorder's event id")
    link: str | None = Field(default=None, description="the recording, where there is one")
    sha256: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    offset_s: float | None = None
    image: str | None = Field(default=None, description="where the snapshot is served")


class RelayChange(BaseModel):
    """An output the event's input changed: the DVR being told (or told to stop)."""

    seq: int = Field(description="the output's own row")
    output: str
    state: str = Field(description="active or idle")
    dvr_channel: str | None = None
    relay: str | None = Field(default=None, description="energised or released")
    after_ms: float = Field(description="how long after the input's change")


class EventAnnotations(BaseModel):
    event: int
    relays: list[RelayChange] = Field(
        default_factory=list, description="the outputs this input change moved, in order"
    )
    actions: list[Annotation] = Field(description="each network action's result, in order")
    snapshots: list[Annotation]
    skipped: list[Annotation] = Field(description="jobs not run: the event was too old")
    links: list[str] = Field(description="the recordings of this event")


@dataclass
class Found:
    actions: list[Annotation] = field(default_factory=list)
    snapshots: list[Annotation] = field(default_factory=list)
    skipped: list[Annotation] = field(default_factory=list)

    @property
    def links(self) -> list[str]:
        return [a.link for a in self.actions if a.link]

    def __bool__(self) -> bool:
        return bool(self.actions or self.snapshots or self.skipped)


def annotations_of(db: Engine, seq: int) -> Found:
    """The annotations of event ``seq``, oldest first."""
    query = (
        select(events.c.seq, events.c.utc_us, events.c.state, events.c.source, events.c.detail)
        .where(
            events.c.seq > seq,
            events.c.seq <= min(seq + SEARCH_AFTER, MAX_INTEGER),
            events.c.kind == "system",
            events.c.state.in_(sorted(ANNOTATION_KINDS)),
            func.json_extract(events.c.detail, "$.event") == seq,
        )
        .order_by(events.c.seq)
    )
    with db.connect() as connection:
        rows = connection.execute(query).all()
    found = Found()
    for row_seq, utc_us, state, source, detail_text in rows:
        detail: dict[str, Any] = json.loads(detail_text or "{}")
        known = {k: v for k, v in detail.items() if k in Annotation.model_fields}
        item = Annotation(
            **(known | {"seq": row_seq, "utc_us": utc_us, "what": state, "name": source or ""}),
        )
        if item.sha256 and item.ok:
            item.image = f"/api/v1/evidence/{item.sha256}.jpg"
        {"network-action": found.actions, "snapshot": found.snapshots}.get(
            state, found.skipped
        ).append(item)
    return found


def relays_of(db: Engine, seq: int) -> list[RelayChange]:
    """The outputs an input's change moved: the output rows caused by that input in the
    same boot, up to the input's next change (among the :data:`RELAY_SCAN` rows that
    follow it; the engine writes them in the same tick, right after the input's row).
    Empty for any other kind of event."""
    columns = (
        events.c.seq,
        events.c.kind,
        events.c.channel,
        events.c.state,
        events.c.cause,
        events.c.source,
        events.c.dvr_channel,
        events.c.detail,
        events.c.mono_ns,
        events.c.boot_id,
    )
    with db.connect() as connection:
        first = connection.execute(select(*columns).where(events.c.seq == seq)).first()
        if first is None or first.kind != "input":
            return []
        rows = connection.execute(
            select(*columns)
            .where(
                events.c.seq > seq,
                events.c.seq <= min(seq + RELAY_SCAN, MAX_INTEGER),
                events.c.kind.in_(("input", "output")),
            )
            .order_by(events.c.seq)
        ).all()
    moved: list[RelayChange] = []
    for row in rows:
        if row.boot_id != first.boot_id:
            break
        if row.kind == "input":
            if row.channel == first.channel:
                break  # its next change: what follows is that one's
            continue
        if row.cause == "input" and row.source == first.channel:
            detail = json.loads(row.detail or "{}")
            moved.append(
                RelayChange(
                    seq=row.seq,
                    output=row.channel or "",
                    state=row.state,
                    dvr_channel=row.dvr_channel,
                    relay=detail.get("relay") if isinstance(detail, dict) else None,
                    after_ms=round((row.mono_ns - first.mono_ns) / 1e6, 3),
                )
            )
    return moved


def image_path(settings: Settings, sha256: str) -> Path | None:
    """The stored snapshot's file (app/network/evidence/store.py's layout), or None."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        return None
    path = settings.network_state_dir / "evidence" / sha256[:2] / f"{sha256}.jpg"
    return path if path.is_file() else None


@router.get("/events/{seq}/annotations")
async def event_annotations(
    state: State, seq: Annotated[WholeNumber, PathParam(ge=1, le=MAX_INTEGER)]
) -> EventAnnotations:
    """What an event set off: the outputs an input's change moved (the DVR told), and
    what the network process did: each network action's answer, the snapshots (with
    their hash and where to fetch them) and the recording links."""
    found = await asyncio.to_thread(annotations_of, state.read_db(), seq)
    relays = await asyncio.to_thread(relays_of, state.read_db(), seq)
    return EventAnnotations(
        event=seq,
        relays=relays,
        actions=found.actions,
        snapshots=found.snapshots,
        skipped=found.skipped,
        links=found.links,
    )


@router.get(
    "/evidence/{sha256}.jpg",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **answers(404)},
)
async def evidence_image(
    state: State,
    sha256: Annotated[str, PathParam(pattern=SHA256_PATTERN, description="the SHA-256, hex")],
) -> FileResponse:
    """A snapshot, by its SHA-256 (as its annotation names it)."""
    path = await asyncio.to_thread(image_path, state.settings, sha256)
    if path is None:
        raise NotFoundError(
            f"no snapshot {sha256}: it was never stored here, or the evidence quota or "
            "retention removed it (the log keeps its hash)"
        )
    return FileResponse(
        path,
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=86400, immutable"},
    )
