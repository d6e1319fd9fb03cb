"""Snapshots from a real RTSP stream and an HTTP snapshot URL, checked and stored (issue #20)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.network.actions.model import Auth
from app.network.evidence.jpeg import inspect_jpeg
from app.network.evidence.sources import HttpSnapshot, RtspSnapshot, SnapshotError, grab
from app.network.evidence.store import EvidenceStore
from tests.actions.peer import Reply, running_peer
from tests.evidence.conftest import RtspCamera


def decode_jpeg(data: bytes) -> tuple[int, int]:
    """Decode the JPEG with FFmpeg's own decoder (PyAV): proof it is a real image."""
    import av

    decoder: Any = av.CodecContext.create("mjpeg", "r")
    frames = decoder.decode(av.Packet(data))
    assert frames, "the JPEG did not decode"
    return frames[0].width, frames[0].height


def test_rtsp_snapshot_is_a_decodable_jpeg_taken_now(
    rtsp_camera: RtspCamera, tmp_path: Path
) -> None:
    alarm_us = time.time_ns() // 1000
    shot = asyncio.run(grab(RtspSnapshot(camera="CH1", url=rtsp_camera.url, timeout_s=15)))
    assert decode_jpeg(shot.data) == (rtsp_camera.width, rtsp_camera.height)
    assert 0 <= shot.taken_utc_us - alarm_us < 15_000_000
    stored = EvidenceStore(tmp_path, quota_bytes=10_000_000, retain_days=30).put(shot.data)
    assert (stored.width, stored.height) == (rtsp_camera.width, rtsp_camera.height)
    assert (tmp_path / stored.name).read_bytes() == shot.data


def test_rtsp_unknown_path_and_closed_port_are_clear_errors(rtsp_camera: RtspCamera) -> None:
    wrong = rtsp_camera.url.replace("/live", "/nothing")
    with pytest.raises(SnapshotError, match="CH2: could not open the stream"):
        asyncio.run(grab(RtspSnapshot(camera="CH2", url=wrong, timeout_s=5)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SnapshotError, match="CH3: could not open the stream"):
        asyncio.run(grab(RtspSnapshot(camera="CH3", url=f"rtsp://127.0.0.1:{port}/x", timeout_s=2)))


def test_http_snapshot_with_digest_auth(rtsp_camera: RtspCamera) -> None:
    # An image the RTSP camera produced, served as Hikvision serves its snapshot picture.
    image = asyncio.run(grab(RtspSnapshot(camera="CH1", url=rtsp_camera.url, timeout_s=15))).data
    with running_peer("digest") as peer:
        peer.answer("GET", "/ISAPI/Streaming/channels/101/picture", Reply(200, image, "image/jpeg"))
        source = HttpSnapshot(
            camera="CH1",
            url=f"{peer.url}/ISAPI/Streaming/channels/101/picture",
            auth=Auth(scheme="digest", user="admin", password=SecretStr("s3cret-Pass")),
        )
        shot = asyncio.run(grab(source))
    assert shot.data == image
    assert [seen.authorized for seen in peer.seen] == [False, True]


def test_http_snapshot_that_is_not_an_image_is_refused() -> None:
    with running_peer() as peer:
        peer.answer("GET", "/snapshot.cgi", Reply(200, b"<html>Login required</html>", "text/html"))
        peer.answer("GET", "/cut.jpg", Reply(200, b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"))
        with pytest.raises(SnapshotError, match=r"cam: not a JPEG \(starts with b'<html>Lo'\)"):
            asyncio.run(grab(HttpSnapshot(camera="cam", url=f"{peer.url}/snapshot.cgi")))
        with pytest.raises(SnapshotError, match="cam: a cut-off JPEG"):
            asyncio.run(grab(HttpSnapshot(camera="cam", url=f"{peer.url}/cut.jpg")))
        with pytest.raises(SnapshotError, match="cam: HTTP 404 from the camera"):
            asyncio.run(grab(HttpSnapshot(camera="cam", url=f"{peer.url}/missing.jpg")))


def test_jpeg_inspection_reads_the_frame_size(rtsp_camera: RtspCamera) -> None:
    image = asyncio.run(grab(RtspSnapshot(camera="CH1", url=rtsp_camera.url, timeout_s=15))).data
    info = inspect_jpeg(image)
    assert (info.width, info.height) == (rtsp_camera.width, rtsp_camera.height)
