"""Event exports as CSV and JSON lines: one format for the CLI and the web API."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import tzinfo
from typing import Any

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
    """Text a spreadsheet would run as a formula gets a leading apostrophe.

    >>> _cell("=HYPERLINK(1)"), _cell("IN1"), _cell(-3)
    ("'=HYPERLINK(1)", 'IN1', -3)
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


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


def jsonl_lines(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    for event in events:
        yield json.dumps(event, separators=(",", ":")) + "\n"
