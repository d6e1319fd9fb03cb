"""A page of the event log as the API's JSON, built straight from the rows.

``GET /api/v1/events`` is what the event log page and integrations ask for most.
Its body is made here, in the worker thread that ran the query: each row becomes
a plain dict in :class:`~app.web.models.EventOut`'s field order (no
:class:`~app.events.Event` copy, no per-event model), local times come from the
zone's cached offset (:class:`~app.timefmt.LocalTimes`), and the page is encoded
once by the C JSON encoder. The event loop only sends the bytes. The model still
documents the response in the OpenAPI schema, and a test holds the two equal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from sqlalchemy import Row

from app.eventlog.queries import COLUMN
from app.timefmt import local_times, utc_iso
from app.web.models import EventPage
from app.web.summary import summary

_SEQ, _UTC_US, _MONO_NS = COLUMN["seq"], COLUMN["utc_us"], COLUMN["mono_ns"]
_BOOT_ID, _SYNCED, _KIND = COLUMN["boot_id"], COLUMN["clock_synced"], COLUMN["kind"]
_STATE, _CAUSE, _CHANNEL = COLUMN["state"], COLUMN["cause"], COLUMN["channel"]
_DVR, _SOURCE, _DETAIL = COLUMN["dvr_channel"], COLUMN["source"], COLUMN["detail"]


def event_dicts(rows: Sequence[Row[Any]], tz: tzinfo) -> list[dict[str, Any]]:
    """Each ``events`` row as the API shows it (the fields of ``EventOut``, in order)."""
    times = local_times(tz)
    out = []
    for row in rows:
        utc_us = row[_UTC_US]
        detail = row[_DETAIL]
        event = {
            "seq": row[_SEQ],
            "utc": utc_iso(utc_us),
            "local": times.iso(utc_us),
            "utc_us": utc_us,
            "mono_ns": row[_MONO_NS],
            "boot_id": row[_BOOT_ID],
            "clock_synced": bool(row[_SYNCED]),
            "kind": row[_KIND],
            "state": row[_STATE],
            "cause": row[_CAUSE],
            "channel": row[_CHANNEL],
            "dvr_channel": row[_DVR],
            "source": row[_SOURCE],
            "detail": None if detail is None else json.loads(detail),
        }
        event["summary"] = summary(event, tz)
        out.append(event)
    return out


def page_json(rows: Sequence[Row[Any]], next_cursor: str | None, tz: tzinfo) -> bytes:
    """The body of ``GET /api/v1/events`` (an ``EventPage``) for ``rows``."""
    page = {"events": event_dicts(rows, tz), "next_cursor": next_cursor}
    try:
        text = json.dumps(page, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN or infinity in a detail: the model writes them as null
        return EventPage.model_validate(page).model_dump_json().encode()
    return text.encode()
