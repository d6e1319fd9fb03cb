"""The stored network settings (app.network.netsettings), in the network process's
own ``network.db`` beside the cursors (app.network.outbox): never in the event log,
so the secrets stay with the one process that uses them (on the Pi the web user
cannot read this file).

One row, replaced in one transaction (WAL, ``synchronous=FULL``: app.sqlite): a
kill or a power cut during a save leaves the old document or the new one, never
part of either.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

from pydantic import ValidationError

from app.network.netsettings import NetSettings
from app.sqlite import set_up

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS net_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    document TEXT NOT NULL,          -- NetSettings as JSON, secrets in clear
    saved_us INTEGER NOT NULL,       -- when (UTC us)
    saved_by TEXT NOT NULL,          -- who (the web user, or "import")
    version INTEGER NOT NULL         -- 1, 2, ...: each save
)
"""


class SettingsStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        set_up(self._db)
        self._db.execute(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def load(self) -> tuple[NetSettings, int]:
        """The stored document and its version (an empty document, 0, if none). A
        document this version cannot read (a downgrade) is logged and not used."""
        row = self._db.execute("SELECT document, version FROM net_settings").fetchone()
        if row is None:
            return NetSettings(), 0
        try:
            return NetSettings.model_validate(json.loads(row[0])), int(row[1])
        except (ValueError, ValidationError) as exc:
            log.error("the stored network settings cannot be read, none are used: %s", exc)
            return NetSettings(), int(row[1])

    def save(self, settings: NetSettings, who: str) -> int:
        """Replace the document (one transaction); its new version."""
        text = settings.model_dump_json()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT version FROM net_settings").fetchone()
            version = 1 if row is None else int(row[0]) + 1
            self._db.execute(
                "INSERT OR REPLACE INTO net_settings (id, document, saved_us, saved_by, version) "
                "VALUES (1, ?, ?, ?, ?)",
                (text, time.time_ns() // 1000, who[:100], version),
            )
        return version
