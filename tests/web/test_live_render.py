"""Each live event is rendered once for every stream that sends it: the feed hands
the same item to all subscribers, the first stream renders it, the others send that."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from app.io.protocol import Client
from app.web.api.events import _sse, present
from app.web.live import LiveFeed, LiveItem
from tests.support import wait_for
from tests.web.test_live_access import Stream

BRUSSELS = ZoneInfo("Europe/Brussels")


def test_every_subscriber_gets_the_same_item_and_it_is_rendered_once(tmp_path: Path) -> None:
    event = {
        "seq": 7,
        "utc_us": 1_763_712_000_000_000,
        "mono_ns": 1,
        "boot_id": "b",
        "clock_synced": True,
        "kind": "fault",
        "state": "raised",
        "cause": "system",
        "channel": "eventlog",
        "dvr_channel": None,
        "source": None,
        "detail": {"message": "disque plein ✓", "x": float("nan")},
    }

    async def fan_out() -> list[LiveItem | None]:
        feed = LiveFeed(Client(tmp_path / "no.sock"), None, tmp_path / "no.db")  # type: ignore[arg-type]
        queues = [feed.subscribe() for _ in range(3)]
        feed._fan_out([LiveItem("event", event)])
        return [q.get_nowait() for q in queues]

    items = asyncio.run(fan_out())
    assert items[0] is not None
    assert all(item is items[0] for item in items)
    first = _sse(items[0], BRUSSELS)
    assert all(_sse(item, BRUSSELS) is first for item in items if item is not None)
    assert (first.event, first.id) == ("event", "7")
    assert first.raw_data is not None
    sent = json.loads(first.raw_data)
    expected = {**present(event, BRUSSELS), "detail": {"message": "disque plein ✓", "x": None}}
    assert sent == expected
    assert sent["local"] == "2025-11-21T09:00:00.000+01:00"


def _events(stream: Stream) -> list[tuple[str, dict[str, Any]]]:
    """(id, data) of each ``event`` message the stream has received."""
    found = []
    lines = list(stream.lines)
    for i, line in enumerate(lines):
        if line == "event: event" and i + 2 < len(lines):
            data = next((x for x in lines[i:] if x.startswith("data: ")), None)
            ident = next((x for x in lines[i:] if x.startswith("id: ")), None)
            if data and ident:
                found.append((ident[4:], json.loads(data[6:])))
    return found


def test_two_streams_receive_the_same_rendering(client: TestClient) -> None:
    streams = [Stream(client, {}), Stream(client, {}), Stream(client, {})]
    response = client.post("/api/v1/simulation/inputs/1", json={"closed": True})
    assert response.status_code == 200

    def input_event(stream: Stream) -> tuple[str, dict[str, Any]] | None:
        return next(((i, d) for i, d in _events(stream) if d["kind"] == "input"), None)

    got = [wait_for(partial(input_event, stream), timeout=10) for stream in streams]
    assert got[0] == got[1] == got[2]
    ident, data = got[0]
    assert ident == str(data["seq"])
    assert data["channel"] == "IN1" and data["local"].startswith(data["utc"][:4])
    assert {"utc", "local", "summary"} <= data.keys()
