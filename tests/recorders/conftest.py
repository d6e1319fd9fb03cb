"""Real peers for the recorders' tests: a real io process on simulated pins and the
network process (tests/network's fixtures), the recorder peer with real Digest
authentication (tests/actions/peer.py) and, where GStreamer is installed, the live
RTSP camera (tests/evidence)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.eventlog.database import make_engine
from app.eventlog.queries import events_after
from app.events import Event
from app.io.commands import ANNOTATION_KINDS
from tests.evidence.conftest import rtsp_camera  # noqa: F401  (a session fixture)
from tests.io.conftest import IoProc
from tests.network.conftest import io_proc  # noqa: F401  (a fixture)


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
