"""The settings file on the SD card's boot partition, ``alarmbridge.txt``.

Users edit it on whatever computer they have (Notepad, TextEdit, a phone), so it is
read forgivingly: Windows or old Mac line endings, a byte-order mark, spaces around
``=``, quotes around a value, keys in any case. Every value is checked before
anything is applied; a bad line is reported with its line number and skipped, and
the rest still applies.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
import string
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hardware import PRESETS

FILE_NAME = "alarmbridge.txt"
REPORT_NAME = "alarmbridge-report.txt"
SETUP_CODE_NAME = "alarmbridge-setup-code.txt"

KEYS = (
    "hostname",
    "timezone",
    "board",
    "wifi_ssid",
    "wifi_password",
    "wifi_country",
    "ssh_key",
)
SECRET_KEYS = frozenset({"wifi_password"})

TEMPLATE = """\
# AlarmBridge first-boot settings. Edit on any computer, save, put the card in the Pi.
# One KEY=VALUE per line; lines starting with # are ignored.
# Leave a value empty to keep what the appliance has. After each start, read
# alarmbridge-report.txt for what was applied, and alarmbridge-setup-code.txt.
#
# The name to browse to: http://NAME.local/ (letters, digits, dashes)
hostname=alarmbridge
# Time zone for pages and schedules, e.g. Europe/London, America/New_York, UTC
timezone=
# Relay board: default, waveshare-rpi-relay, waveshare-relay-b,
# pimoroni-automation-hat, sb-pirelay (see docs/wiring.md)
board=default
# Wi-Fi (leave empty for Ethernet). The password is removed from this file once
# applied. The country is a two-letter code such as GB, BE, US.
wifi_ssid=
wifi_password=
wifi_country=
# SSH stays off unless you give a public key (one line from your .pub file);
# it is then on for root with that key only.
ssh_key=
"""

_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SSH_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)


@dataclass
class BootFile:
    """What the file asks for (valid values only), and what was wrong with it."""

    values: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def decode(raw: bytes) -> tuple[str, str | None]:
    """The file's text, and a note when it was not UTF-8.

    >>> decode(b"\\xef\\xbb\\xbfhostname=a\\r\\n")
    ('hostname=a\\r\\n', None)
    >>> decode(b"wifi_ssid=caf\\xe9")[0]
    'wifi_ssid=café'
    """
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), (
            "the file is not UTF-8; it was read as Windows-1252 (save it as UTF-8 if a "
            "name or password has accents)"
        )


def lines(text: str) -> list[str]:
    """Split on any line ending: ``\\r\\n``, ``\\n`` or a lone ``\\r``."""
    return re.split(r"\r\n|\r|\n", text)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse(text: str) -> BootFile:
    """Read and check every line.

    >>> found = parse('Hostname = "Gate-House"\\r\\nwifi_pasword=x\\n')
    >>> found.values
    {'hostname': 'gate-house'}
    >>> found.problems
    ["line 2: unknown setting 'wifi_pasword' (did you mean 'wifi_password'?); ignored"]
    """
    found = BootFile()
    seen: dict[str, int] = {}
    for number, line in enumerate(lines(text), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep:
            found.problems.append(f"line {number}: expected KEY=VALUE, found {stripped[:40]!r}")
            continue
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            found.problems.append(f"line {number}: unknown setting {key!r}{hint}; ignored")
            continue
        if key in seen:
            found.notes.append(
                f"line {number}: {key} is also on line {seen[key]}; the later line counts"
            )
        seen[key] = number
        value = _unquote(value.strip())
        if key == "ssh_key":
            value = " ".join(value.split())
        if not value:
            found.values.pop(key, None)
            continue
        try:
            found.values[key] = check(key, value)
        except ValueError as exc:
            found.values.pop(key, None)
            found.problems.append(f"line {number}: {key}: {exc}; ignored")
    if "wifi_password" in found.values and "wifi_ssid" not in found.values:
        found.problems.append("wifi_password is set but wifi_ssid is empty; Wi-Fi not changed")
        del found.values["wifi_password"]
    return found


def check(key: str, value: str) -> str:
    """The value to apply, or ValueError saying what is wrong."""
    if key == "hostname":
        name = value.lower()
        if not _HOSTNAME.match(name):
            raise ValueError(
                f"{value!r} is not a valid name: use 1-63 letters, digits and dashes, "
                "not starting or ending with a dash"
            )
        return name
    if key == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use a name such as Europe/London or UTC"
            ) from None
        return value
    if key == "board":
        if value not in PRESETS:
            raise ValueError(f"unknown board {value!r}: choose one of {', '.join(PRESETS)}")
        return value
    if key == "wifi_ssid":
        if len(value.encode()) > 32:
            raise ValueError("a Wi-Fi network name is at most 32 bytes")
        return value
    if key == "wifi_password":
        hex_key = len(value) == 64 and all(c in string.hexdigits for c in value)
        if not hex_key and not 8 <= len(value) <= 63:
            raise ValueError("a WPA password has 8 to 63 characters")
        if not hex_key and any(not (" " <= c <= "~") for c in value):
            raise ValueError("a WPA password uses printable ASCII characters only")
        return value
    if key == "wifi_country":
        country = value.upper()
        if not _COUNTRY.match(country):
            raise ValueError(f"{value!r} is not a two-letter country code such as GB or BE")
        return country
    if key == "ssh_key":
        return _check_ssh_key(value)
    raise ValueError(f"unknown setting {key!r}")


def _check_ssh_key(value: str) -> str:
    parts = value.split(" ")
    if len(parts) < 2 or parts[0] not in _SSH_TYPES:
        raise ValueError(
            "expected a public key line such as 'ssh-ed25519 AAAA... you@laptop' "
            "(the contents of your .pub file)"
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise ValueError("the key's base64 part is damaged") from None
    if len(blob) < 4 or blob[4 : 4 + len(parts[0])] != parts[0].encode():
        raise ValueError("the key's base64 part does not match its type")
    return value


def blank_secrets(text: str, note: str) -> str | None:
    """``text`` with every secret's value removed (and ``note`` as a comment above
    it), keeping everything else and the file's line endings; None when there was
    nothing to remove."""
    newline = "\r\n" if "\r\n" in text else ("\r" if "\r" in text else "\n")
    out: list[str] = []
    changed = False
    for line in lines(text):
        key, sep, value = line.strip().partition("=")
        if sep and key.strip().lower().replace("-", "_") in SECRET_KEYS and value.strip():
            out.append(f"# {note}")
            out.append(f"{key.strip()}=")
            changed = True
        else:
            out.append(line)
    return newline.join(out) if changed else None
