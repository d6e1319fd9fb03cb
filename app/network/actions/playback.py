"""The recording at an alarm's time, where the recorder has an address for it (issue #20).

- Frigate: the event's clip, ``<base_url>/api/events/<id>/clip.mp4`` (Frigate HTTP API).
- ZoneMinder: its web UI's event page, ``http://<host>/zm/index.php?view=event&eid=<id>``.
- Hikvision: the RTSP playback URI of the channel's main-stream track from the alarm's
  time, ``rtsp://<host>:<port>/Streaming/tracks/<ch>01?starttime=YYYYMMDDTHHMMSSZ``, the
  form Hikvision's ISAPI gives as a recording's ``playbackURI`` (ContentMgmt search) and
  its RTSP document describes. The time is the alarm's (less a pre-roll) on the
  recorder's clock (``recorder_tz``): recorders read it as their own local time. It
  opens in VLC or Hikvision's own players; the web UI has no documented page address
  that takes a channel and a time (docs/recorders.md). No user or password is put in
  the link: the player asks for them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from app.events import Event
from app.network.actions.model import FrigateEvent, HikvisionRecord, ZoneMinderTrigger


def hikvision_playback(action: HikvisionRecord, utc_us: int) -> str:
    """The RTSP playback URI of ``action``'s channel from the alarm's time (see the module)."""
    host = urlsplit(action.base_url).hostname or ""
    if ":" in host:
        host = f"[{host}]"
    start = datetime.fromtimestamp(utc_us / 1_000_000, tz=UTC) - timedelta(
        seconds=action.playback_preroll_s
    )
    local = start.astimezone(ZoneInfo(action.recorder_tz))
    track = action.channel * 100 + 1
    return (
        f"rtsp://{host}:{action.rtsp_port}/Streaming/tracks/{track}"
        f"?starttime={local.strftime('%Y%m%dT%H%M%S')}Z"
    )


def recording_link(action: Any, ref: str | None, event: Event | None = None) -> str | None:
    """The recording at the event's time, where the recorder has an address for it."""
    if isinstance(action, HikvisionRecord) and event is not None:
        return hikvision_playback(action, event.utc_us)
    if ref is None:
        return None
    if isinstance(action, FrigateEvent):
        return f"{action.base_url}/api/events/{ref}/clip.mp4"
    if isinstance(action, ZoneMinderTrigger):  # ZoneMinder's web UI at its default path
        return f"http://{action.host}/zm/index.php?view=event&eid={ref}"
    return None
