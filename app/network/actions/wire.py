"""The exact request each vendor documents, for one phase (alarm or clear) of one action.

Pure functions: no sockets here, so every request can be checked byte for byte.
Answers are checked the way each vendor reports success (Hikvision's
``ResponseStatus``, Dahua's ``OK``, Frigate's JSON), not only by the HTTP status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from string import Template

from app.events import Event
from app.network.actions.model import (
    AxisVirtualInput,
    DahuaOutput,
    DahuaRecord,
    FrigateEvent,
    GenericEvent,
    GenericHttp,
    HikvisionOutput,
    HikvisionRecord,
    HttpAction,
    Phase,
    ZoneMinderTrigger,
)

_ISAPI_XML = "application/xml"
_ISAPI_NS = "http://www.isapi.org/ver20/XMLSchema"
_ANSWER_CHARS = 300


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request, relative to the action's ``base_url``."""

    method: str
    target: str  # path and query, as sent on the request line
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the peer's answer means: taken or not, in a line, and any reference it gave."""

    ok: bool
    summary: str
    ref: str | None = None  # Frigate's event id, ZoneMinder's event id


def event_fields(event: Event, key: str) -> dict[str, str]:
    """The placeholders a template may use, all as text."""
    when = datetime.fromtimestamp(event.utc_us / 1_000_000, tz=UTC)
    return {
        "seq": str(event.seq),
        "key": key,
        "kind": str(event.kind),
        "state": event.state,
        "cause": str(event.cause),
        "channel": event.channel or "",
        "dvr_channel": event.dvr_channel or "",
        "source": event.source or "",
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "utc_us": str(event.utc_us),
    }


def fill(template: str, fields: Mapping[str, str]) -> str:
    """``$name`` placeholders filled; unknown ones are left as written (no error at alarm time)."""
    return Template(template).safe_substitute(fields)


def http_request(
    action: HttpAction, phase: Phase, fields: Mapping[str, str], ref: str | None = None
) -> HttpRequest | None:
    """The request for this phase, or None when the action sends nothing then."""
    on = phase == "alarm"
    match action:
        case HikvisionOutput():
            state = "high" if on else "low"
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>'
                f'<IOPortData version="2.0" xmlns="{_ISAPI_NS}">'
                f"<outputState>{state}</outputState></IOPortData>"
            )
            return HttpRequest(
                "PUT",
                f"/ISAPI/System/IO/outputs/{action.output_id}/trigger",
                body.encode(),
                {"Content-Type": _ISAPI_XML},
            )
        case HikvisionRecord():
            verb = "start" if on else "stop"
            track = action.channel * 100 + 1
            return HttpRequest(
                "PUT", f"/ISAPI/ContentMgmt/record/control/manual/{verb}/tracks/{track}"
            )
        case DahuaOutput():
            mode = 1 if on else 0
            return HttpRequest(
                "GET",
                f"/cgi-bin/configManager.cgi?action=setConfig&AlarmOut[{action.index}].Mode={mode}",
            )
        case DahuaRecord():
            mode = 1 if on else 0
            return HttpRequest(
                "GET",
                f"/cgi-bin/configManager.cgi?action=setConfig&RecordMode[{action.channel}].Mode={mode}",
            )
        case AxisVirtualInput():
            verb = "activate" if on else "deactivate"
            return HttpRequest(
                "GET", f"/axis-cgi/virtualinput/{verb}.cgi?schemaversion=1&port={action.port}"
            )
        case FrigateEvent():
            if on:
                payload = {
                    "source_type": "api",
                    "sub_label": fill("AlarmBridge $channel $state (#$seq)", fields)[:100],
                    "duration": action.duration_s,
                    "include_recording": True,
                }
                return HttpRequest(
                    "POST",
                    f"/api/events/{action.camera}/{action.label}/create",
                    json.dumps(payload).encode(),
                    {"Content-Type": "application/json"},
                )
            if ref is None or action.duration_s is not None:
                return None  # nothing was created, or Frigate ends it by itself
            return HttpRequest("PUT", f"/api/events/{ref}/end")
        case GenericHttp():
            template = action.alarm_body if on else action.clear_body
            if template is None:
                return None
            headers = {name: fill(value, fields) for name, value in action.headers.items()}
            return HttpRequest(
                action.method, fill(action.path, fields), fill(template, fields).encode(), headers
            )
    raise AssertionError(f"unknown action {action!r}")  # pragma: no cover - the union is closed


def _short(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    text = re.sub(r"\s+", " ", text)
    return text[:_ANSWER_CHARS]


def check_answer(action: HttpAction, status: int, body: bytes) -> Answer:
    """Whether the peer did it, judged as its vendor reports success."""
    text = _short(body)
    if not 200 <= status < 300:
        return Answer(False, f"HTTP {status}: {text}" if text else f"HTTP {status}")
    match action:
        case HikvisionOutput() | HikvisionRecord():
            code = re.search(r"<statusCode>\s*(\d+)\s*</statusCode>", text)
            if code is not None and code.group(1) != "1":
                sub = re.search(r"<subStatusCode>\s*([^<]*)</subStatusCode>", text)
                detail = sub.group(1) if sub else text
                return Answer(False, f"refused: statusCode {code.group(1)} ({detail})")
            return Answer(True, "OK")
        case DahuaOutput() | DahuaRecord():
            if text.upper().startswith("OK"):
                return Answer(True, "OK")
            return Answer(False, f"refused: {text or 'empty answer'}")
        case AxisVirtualInput():
            if "error" in text.lower():
                return Answer(False, f"refused: {text}")
            return Answer(True, text or "OK")
        case FrigateEvent():
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                return Answer(False, f"not JSON: {text}")
            if not isinstance(data, dict) or data.get("success") is False:
                return Answer(False, f"refused: {text}")
            event_id = data.get("event_id")
            return Answer(
                True, str(data.get("message") or "OK"), str(event_id) if event_id else None
            )
        case GenericHttp():
            return Answer(True, f"HTTP {status}")
    raise AssertionError(f"unknown action {action!r}")  # pragma: no cover


def zoneminder_line(action: ZoneMinderTrigger, phase: Phase, fields: Mapping[str, str]) -> str:
    """The zmtrigger command line (no ``|`` may appear inside a field: it is the separator)."""
    if phase == "clear":
        return f"{action.monitor}|cancel"
    cause = fill("AlarmBridge $channel", fields).replace("|", "/")[:32]
    text = fill("$channel $state seq $seq", fields).replace("|", "/")[:256]
    on = f"on+{action.duration_s}" if action.duration_s else "on"
    return f"{action.monitor}|{on}|{action.score}|{cause}|{text}"


def zoneminder_event_id(line: str, monitor: int) -> str | None:
    """The event id from zmtrigger's ``<monitor>|on|<time>|<event id>`` report, if it is one."""
    parts = line.strip().split("|")
    if len(parts) == 4 and parts[0] == str(monitor) and parts[1] == "on" and parts[3].isdigit():
        return parts[3]
    return None


def generic_text(action: GenericEvent, phase: Phase, fields: Mapping[str, str]) -> str | None:
    """The generic event's text for this phase, or None when nothing is sent."""
    template = action.alarm_text if phase == "alarm" else action.clear_text
    return None if template is None else fill(template, fields)
