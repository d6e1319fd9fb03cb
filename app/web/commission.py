"""What the commissioning pieces of the pages need (issue #19): the recorder
profiles, as objects for the templates and as JSON for commission.js."""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Any

from app.recorders import PROFILES
from app.timefmt import local_text, parse_moment


def template_globals() -> dict[str, Any]:
    profiles = {
        key: {
            "title": p.title,
            "menu": p.menu,
            "close": p.close,
            "open": p.open,
            "verified": p.verified,
            "source": p.source,
        }
        for key, p in PROFILES.items()
    }
    # "</" cannot end the <script> element it is put in
    text = json.dumps(profiles, ensure_ascii=True).replace("</", "<\\/")
    return {"PROFILES": PROFILES, "profiles_json": text}


def _until(detail: dict[str, Any], key: str, tz: tzinfo) -> str:
    try:
        return local_text(parse_moment(str(detail[key]), tz), tz)
    except (KeyError, ValueError):
        return "?"


def summary(event: dict[str, Any], tz: tzinfo) -> str | None:
    """The event tables' line for issue #19's rows (None: not one of them)."""
    kind, state = event["kind"], event["state"]
    detail: dict[str, Any] = event.get("detail") or {}
    if kind == "input" and state in ("armed", "disarmed") and "override" in detail:
        return (
            "by an operator's arming override"
            if detail["override"] == "set"
            else "the arming override ended"
        ) + (" while in alarm" if detail.get("in_alarm") else "")
    if kind == "input" and state == "alarm-bypassed":
        return "bypassed: its outputs were not driven"
    if kind == "output" and state == "holding":
        return f"held {detail.get('hold_ms', 0) / 1000:g} s after the alarm cleared"
    if kind != "operator":
        return None
    if state == "bypass":
        reason = f" ({detail['reason']})" if detail.get("reason") else ""
        return f"drives nothing until {_until(detail, 'until', tz)}{reason}"
    if state == "arming-override":
        what = "armed" if detail.get("armed") else "disarmed"
        return f"every alarm input {what} until {_until(detail, 'until', tz)}"
    if state in ("bypass-ended", "arming-override-ended"):
        return str(detail.get("why") or "ended by hand")
    if state.startswith("walk-test-channel-"):
        return ("the recorder marked an alarm" if detail.get("marked_alarm") else
                "the recorder did NOT mark an alarm") + (
            f": {detail['note']}" if detail.get("note") else "")  # fmt: skip
    if state == "walk-test-ended":
        tested = sum(1 for i in detail.get("inputs", []) if i.get("tested"))
        return f"{tested} of {len(detail.get('inputs', []))} inputs tested; the report is here"
    return None
