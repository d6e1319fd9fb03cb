"""Grab one snapshot from a camera: an HTTP snapshot URL or an RTSP stream.

HTTP sources are what Hikvision (``/ISAPI/Streaming/channels/<ch>01/picture``),
Dahua (``/cgi-bin/snapshot.cgi?channel=<n>``), ONVIF's ``GetSnapshotUri`` and
Frigate (``/api/<camera>/latest.jpg``) offer, with Basic or Digest authentication.
RTSP sources are read with PyAV (the optional ``rtsp`` extra): the first key frame
is decoded and encoded as a JPEG. Both return checked JPEG bytes or raise
:class:`SnapshotError` with a message for the installer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.network.actions import onvif
from app.network.actions.model import Auth
from app.network.actions.send import http_auth, tls_context
from app.network.evidence.jpeg import NotAJpegError, inspect_jpeg


class SnapshotError(Exception):
    """No snapshot: the message says why (unreachable, refused, not an image...)."""


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    camera: str = Field(min_length=1, max_length=40, description="the camera's name in the log")
    url: str
    timeout_s: float = Field(default=5.0, ge=0.5, le=60.0)


class HttpSnapshot(_Source):
    kind: Literal["http"] = "http"
    auth: Auth = Auth()
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// snapshot address")
        return value


class RtspSnapshot(_Source):
    kind: Literal["rtsp"] = "rtsp"
    transport: Literal["tcp", "udp"] = "tcp"

    @field_validator("url")
    @classmethod
    def _rtsp(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("rtsp", "rtsps") or not parts.hostname:
            raise ValueError(f"{value!r} is not an rtsp:// address")
        return value


class OnvifSnapshot(_Source):
    """An ONVIF camera that publishes no fixed snapshot URL: its Media service is asked for
    one (``GetCapabilities`` -> ``GetProfiles`` -> ``GetSnapshotUri``, ONVIF Media Service
    Specification), kept until a grab fails, and the JPEG fetched as for ``http``.

    ``url`` is the device's address (``http://192.0.2.30`` or with its ONVIF port);
    ``auth`` gives the WS-Security UsernameToken for the SOAP requests and, with
    ``scheme`` ``digest`` or ``basic``, the HTTP authentication of every request
    (cameras want Digest for the JPEG).
    """

    kind: Literal["onvif"] = "onvif"
    auth: Auth = Auth()
    verify_tls: bool = True
    profile: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the media profile's token; none: the device's first profile",
    )
    device_path: str = Field(default="/onvif/device_service", pattern=r"^/[^?#\s]*$")

    @field_validator("url")
    @classmethod
    def _device(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not the camera's http:// or https:// address")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(
                f"{value!r}: give the camera's address only (scheme, host, port); "
                "its service path is device_path"
            )
        return value.rstrip("/")


CameraSource = HttpSnapshot | RtspSnapshot | OnvifSnapshot
SnapshotSource = Annotated[CameraSource, Field(discriminator="kind")]


@dataclass(frozen=True, slots=True)
class Snapshot:
    camera: str
    data: bytes
    taken_utc_us: int  # when the image arrived (the camera's own time is not trusted)
    elapsed_ms: float


async def grab(source: CameraSource) -> Snapshot:
    """One checked JPEG from ``source``, or SnapshotError."""
    started = time.monotonic()
    if isinstance(source, HttpSnapshot):
        data = await _grab_http(source)
    elif isinstance(source, OnvifSnapshot):
        data = await _grab_onvif(source)
    else:
        data = await asyncio.to_thread(_grab_rtsp, source)
    try:
        inspect_jpeg(data)
    except NotAJpegError as error:
        raise SnapshotError(f"{source.camera}: {error}") from None
    return Snapshot(
        source.camera, data, time.time_ns() // 1000, (time.monotonic() - started) * 1000
    )


async def _grab_http(source: HttpSnapshot | OnvifSnapshot, url: str | None = None) -> bytes:
    try:
        async with httpx.AsyncClient(
            auth=http_auth(source.auth),
            timeout=source.timeout_s,
            verify=tls_context(source.verify_tls),
        ) as client:
            response = await client.get(url or source.url)
    except httpx.TimeoutException:
        raise SnapshotError(f"{source.camera}: no answer within {source.timeout_s:g} s") from None
    except httpx.HTTPError as error:
        raise SnapshotError(f"{source.camera}: could not reach the camera: {error}") from None
    if response.status_code != 200:
        raise SnapshotError(f"{source.camera}: HTTP {response.status_code} from the camera")
    return response.content


_snapshot_uris: dict[OnvifSnapshot, str] = {}


async def onvif_snapshot_uri(source: OnvifSnapshot) -> str:
    """The camera's snapshot URI, asked once (three SOAP requests) and kept."""
    known = _snapshot_uris.get(source)
    if known is not None:
        return known
    device_url = source.url + source.device_path
    device = onvif.device_for(device_url, source.auth, source.timeout_s, source.verify_tls)
    what = "GetCapabilities"
    try:
        answer = await device.call(
            device_url,
            f"{onvif.TDS}/GetCapabilities",
            onvif.get_capabilities("Media"),
        )
        media = onvif.on_host_of(onvif.media_xaddr(answer), source.url)
        what = "GetProfiles"
        answer = await device.call(media, f"{onvif.TRT}/GetProfiles", onvif.get_profiles())
        tokens = onvif.profile_tokens(answer)
        if source.profile is not None and source.profile not in tokens:
            raise SnapshotError(
                f"{source.camera}: no media profile {source.profile!r} "
                f"(the camera's: {', '.join(tokens) or 'none'})"
            )
        if not tokens:
            raise SnapshotError(f"{source.camera}: the camera has no media profile")
        what = "GetSnapshotUri"
        answer = await device.call(
            media,
            f"{onvif.TRT}/GetSnapshotUri",
            onvif.get_snapshot_uri(source.profile or tokens[0]),
        )
        uri = onvif.on_host_of(onvif.snapshot_uri(answer), source.url)
    except onvif.OnvifError as error:
        raise SnapshotError(f"{source.camera}: ONVIF {what}: {error}") from None
    except httpx.TimeoutException:
        raise SnapshotError(
            f"{source.camera}: ONVIF {what}: no answer within {source.timeout_s:g} s"
        ) from None
    except httpx.HTTPError as error:
        raise SnapshotError(f"{source.camera}: ONVIF {what}: could not reach it: {error}") from None
    _snapshot_uris[source] = uri
    return uri


async def _grab_onvif(source: OnvifSnapshot) -> bytes:
    uri = await onvif_snapshot_uri(source)
    try:
        return await _grab_http(source, uri)
    except SnapshotError:
        _snapshot_uris.pop(source, None)  # the camera may have moved it: ask again next time
        raise


def _grab_rtsp(source: RtspSnapshot) -> bytes:
    try:
        import av
    except ImportError:
        raise SnapshotError(
            f"{source.camera}: RTSP snapshots need PyAV: install AlarmBridge with the 'rtsp' extra"
        ) from None
    # Probing for stream details costs about 3 s with FFmpeg's defaults (and still 3 s with
    # 32 KiB); the decoder learns the size from the key frame, so probe as little as possible:
    # 0.2-0.3 s to the first packet against a local GStreamer server.
    options = {"rtsp_transport": source.transport, "probesize": "32", "analyzeduration": "0"}
    deadline = time.monotonic() + source.timeout_s
    try:
        container: Any = av.open(source.url, options=options, timeout=source.timeout_s)
    except av.FFmpegError as error:
        raise SnapshotError(f"{source.camera}: could not open the stream: {error}") from None
    try:
        stream = container.streams.video[0]
        keyframe_seen = False
        for packet in container.demux(stream):
            if time.monotonic() > deadline:
                break
            keyframe_seen = keyframe_seen or bool(packet.is_keyframe)
            if not keyframe_seen:
                continue  # frames before the first key frame decode as grey smears
            for frame in packet.decode():
                return _encode_jpeg(frame)
    except (av.FFmpegError, IndexError) as error:
        raise SnapshotError(f"{source.camera}: the stream failed: {error}") from None
    finally:
        container.close()
    raise SnapshotError(f"{source.camera}: no key frame within {source.timeout_s:g} s")


def _encode_jpeg(frame: Any) -> bytes:
    import av

    encoder: Any = av.CodecContext.create("mjpeg", "w")
    encoder.width = frame.width
    encoder.height = frame.height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    picture = frame.reformat(format="yuvj420p")
    packets = [*encoder.encode(picture), *encoder.encode(None)]
    return b"".join(bytes(packet) for packet in packets)
