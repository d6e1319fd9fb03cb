"""Real peers for the recorders' tests: a real io process on simulated pins and the
network process (tests/network's fixtures), the recorder peer with real Digest
authentication (tests/actions/peer.py) and, where GStreamer is installed, the live
RTSP camera (tests/evidence)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.eventlog.database import make_engine
from app.eventlog.queries import events_after
from app.events import Event
from app.io.commands import ANNOTATION_KINDS
from tests.actions.peer import Peer, Reply, running_peer
from tests.evidence.conftest import rtsp_camera  # noqa: F401  (a session fixture)
from tests.io.conftest import IoProc
from tests.network.conftest import io_proc, network, network_env, tokens, web  # noqa: F401


def small_jpeg(width: int = 64, height: int = 48) -> bytes:
    """A real JPEG made by FFmpeg's MJPEG encoder (PyAV), as a camera would serve it."""
    import av

    from app.network.evidence.sources import _encode_jpeg

    frame = av.VideoFrame(width, height, "yuv420p")
    luma, *chroma = frame.planes
    ramp = bytes(x * 255 // max(luma.line_size - 1, 1) for x in range(luma.line_size))
    luma.update(ramp * height)  # a grey ramp, left to right
    for plane in chroma:
        plane.update(b"\x80" * plane.buffer_size)  # no colour
    return _encode_jpeg(frame)


def write_recorders(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def log_events(io: IoProc) -> list[Event]:
    engine = make_engine(io.data_dir / "alarmbridge.db", read_only=True)
    try:
        return events_after(engine, 0, limit=10_000)
    finally:
        engine.dispose()


def annotations_in(io: IoProc, seq: int | None = None) -> list[Event]:
    return [
        e
        for e in log_events(io)
        if e.kind == "system"
        and e.state in ANNOTATION_KINDS
        and (seq is None or (e.detail or {}).get("event") == seq)
    ]


def input_name(io: IoProc, n: int = 1) -> str:
    name: str = io.client.request("config-get")["inputs"][n - 1]["name"]
    return name


# -- the recorder peers and helpers shared by the recorders' tests ---------------------

ISAPI_OK = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">\n'
    b"<requestURL>/ISAPI</requestURL>\n<statusCode>1</statusCode>\n"
    b"<statusString>OK</statusString>\n<subStatusCode>ok</subStatusCode>\n</ResponseStatus>\n"
)
START = "/ISAPI/ContentMgmt/record/control/manual/start/tracks/301"
STOP = "/ISAPI/ContentMgmt/record/control/manual/stop/tracks/301"
PICTURE = "/ISAPI/Streaming/channels/301/picture"
FRIGATE_ID = "1733.5-abc"
DIGEST = {"scheme": "digest", "user": "admin", "password": "s3cret-Pass"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def nvr() -> Iterator[Peer]:
    """A Hikvision NVR: manual recording on channel 3 and its snapshot picture, Digest."""
    with running_peer("digest") as peer:
        peer.answer("PUT", START, Reply(200, ISAPI_OK, "application/xml"))
        peer.answer("PUT", STOP, Reply(200, ISAPI_OK, "application/xml"))
        peer.answer("GET", PICTURE, Reply(200, small_jpeg(), "image/jpeg"))
        yield peer


@pytest.fixture
def frigate() -> Iterator[Peer]:
    """Frigate's HTTP API: create a manual event, end it (Frigate HTTP API docs)."""
    created = {"success": True, "message": "Successfully created event.", "event_id": FRIGATE_ID}
    ended = {"success": True, "message": "Event successfully ended."}
    with running_peer() as peer:
        peer.answer(
            "POST",
            "/api/events/front/alarm/create",
            Reply(200, json.dumps(created).encode(), "application/json"),
        )
        peer.answer("PUT", f"/api/events/{FRIGATE_ID}/end", Reply(200, json.dumps(ended).encode()))
        yield peer


def recorders_doc(io: IoProc, nvr: Peer, frigate: Peer, **extra: Any) -> dict[str, Any]:
    return {
        "actions": [
            {
                "kind": "hikvision-record",
                "name": "NVR CH3",
                "base_url": nvr.url,
                "channel": 3,
                "auth": DIGEST,
            },
            {
                "kind": "frigate-event",
                "name": "Frigate front",
                "base_url": frigate.url,
                "camera": "front",
            },
        ],
        "cameras": [{"kind": "http", "camera": "CH3", "url": nvr.url + PICTURE, "auth": DIGEST}],
        "links": {
            input_name(io): {
                "on_alarm": ["NVR CH3", "Frigate front"],
                "on_clear": ["NVR CH3", "Frigate front"],
                "cameras": ["CH3"],
                "offsets_s": [0, 1],
            }
        },
        **extra,
    }


def annotated(io: IoProc, count: int) -> bool:
    return len(annotations_in(io)) >= count


def faults(io: IoProc) -> dict[str, str]:
    return {f["key"]: f["message"] for f in io.client.request("status")["faults"]}


def seen(peer: Peer, method: str, target: str) -> list[Any]:
    return [s for s in peer.authorized_requests() if (s.method, s.target) == (method, target)]


def the_alarm(io: IoProc) -> int:
    name = input_name(io)
    found = [e for e in log_events(io) if e.kind == "input" and e.channel == name]
    assert found and found[-1].state == "alarm", [(e.state, e.channel) for e in found]
    return found[-1].seq
