"""Event exports as CSV and JSON lines: one format for the CLI and the web API;
and the one-line form the console and ``alarmbridge events`` print.

Text in an event may come from outside (a user name someone typed at the login
page, a name in an imported configuration) and from before names were checked,
so nothing here writes it raw: CSV cells and printed lines spell control and bidi
characters out (app/text.py), and JSON escapes them by itself.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any

from app.text import printable
from app.timefmt import local_iso, utc_iso

CSV_FIELDS = [
    "seq",
    "utc",
    "local",
    "kind",
    "channel",
    "state",
    "cause",
    "source",
    "dvr_channel",
    "clock_synced",
    "boot_id",
    "mono_ns",
    "detail",
]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe; control
    and bidi characters are spelt out.

    >>> _cell("=HYPERLINK(1)"), _cell("IN1"), _cell(-3), _cell("a\\nb")
    ("'=HYPERLINK(1)", 'IN1', -3, 'a\\\\nb')
    """
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_START):
        value = "'" + value
    return printable(value)


def csv_row(event: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    row = {
        **event,
        "utc": utc_iso(event["utc_us"]),
        "local": local_iso(event["utc_us"], tz),
        "detail": json.dumps(event["detail"]) if event.get("detail") else "",
    }
    return {key: _cell(value) for key, value in row.items()}


def _format(row: dict[str, Any] | None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, extrasaction="ignore")
    if row is None:
        writer.writeheader()
    else:
        writer.writerow(row)
    return buffer.getvalue()


def csv_header() -> str:
    return _format(None)


def csv_line(event: dict[str, Any], tz: tzinfo) -> str:
    return _format(csv_row(event, tz))


def csv_lines(events: Iterable[dict[str, Any]], tz: tzinfo) -> Iterator[str]:
    """A header line, then one line per event."""
    yield csv_header()
    for event in events:
        yield csv_line(event, tz)


def _utc(utc_us: int) -> str:
    return datetime.fromtimestamp(utc_us / 1e6, UTC).isoformat(timespec="milliseconds")


def event_line(event: dict[str, Any]) -> str:
    """An event on one line, for a terminal or a journal.

    >>> event_line({"seq": 7, "utc_us": 0, "kind": "security", "channel": None,
    ...             "state": "login-failed", "cause": "user", "source": "eve\\n#8 forged"})
    '#7 1970-01-01T00:00:00.000+00:00 security - login-failed (user: eve\\\\n#8 forged)'
    """
    source = event.get("source")
    parts = [
        f"#{event['seq']}",
        _utc(event["utc_us"]),
        printable(event["kind"]),
        printable(event.get("channel") or "-"),
        printable(event["state"]),
        f"({printable(event['cause'])}{': ' + printable(source) if source else ''})",
    ]
    if event.get("dvr_channel"):
        parts.append(f"-> DVR {printable(event['dvr_channel'])}")
    return " ".join(parts)


def jsonl_lines(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    for event in events:
        yield json.dumps(event, separators=(",", ":")) + "\n"
