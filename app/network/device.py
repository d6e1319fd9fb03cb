"""The appliance's stable device id: made once, kept in the network process's directory.

It names the MQTT topics (``alarmbridge/<device id>``), the Home Assistant device and
every idempotency key (``<device id>-<seq>``), so it must not change across restarts or
upgrades: it is written once (atomically, synced) and read from then on. A damaged file
is an error, not a new id: a new id would make every receiver see a new device.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

FILE_NAME = "device-id"
_ID = re.compile(r"^ab-[0-9a-f]{12}$")


class DeviceIdError(Exception):
    """The device id file exists but does not hold a device id."""


def device_id(directory: Path) -> str:
    """This appliance's id (``ab-`` and 12 hex digits), made on first use.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     first = device_id(Path(d))
    ...     first == device_id(Path(d)), bool(_ID.match(first))
    (True, True)
    """
    path = directory / FILE_NAME
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return _create(path)
    if not _ID.match(text):
        raise DeviceIdError(
            f"{path} does not hold a device id ({text[:20]!r}); restore it from a backup, or "
            "delete it to make a new one (receivers will then see a new device)"
        )
    return text


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = f"ab-{secrets.token_hex(6)}"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(new + "\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # never replaces an id another process made meanwhile
    except FileExistsError:
        tmp.unlink()
        return device_id(path.parent)
    tmp.unlink()
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return new
