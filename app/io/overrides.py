"""Keeping the operator's overrides (bypasses, an arming override) in the log's
database, so they survive a restart of the io process (app/overrides.py).

They are read before the engine starts (so a bypassed input never blips its
relay at start-up), written after every override command before it is answered,
and written again, off the engine thread, when one ends by itself.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from sqlalchemy import Engine, LargeBinary, cast, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from app.engine import Engine as AlarmEngine
from app.engine import EngineRunner
from app.eventlog.database import immediate
from app.eventlog.schema import meta
from app.overrides import META_KEY

log = logging.getLogger(__name__)


def load_overrides(db: Engine) -> Any:
    """The stored overrides' JSON document, or None (damage is logged, not raised)."""
    try:
        with db.connect() as conn:
            raw = conn.execute(
                select(cast(meta.c.value, LargeBinary)).where(meta.c.key == META_KEY)
            ).scalar()
        return None if raw is None else json.loads(bytes(raw))
    except (SQLAlchemyError, ValueError):
        log.exception("the stored overrides cannot be read: none are restored")
        return None


class OverrideStore:
    """Restores ``engine``'s overrides now; stores them on every change."""

    def __init__(self, db: Engine, engine: AlarmEngine, runner: EngineRunner) -> None:
        self.db = db
        self.runner = runner
        self.engine = engine
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        stored = load_overrides(db)
        engine.restore_overrides(stored)
        engine.on_overrides = self._wake.set  # on the engine thread: only a flag
        if stored is not None and engine.overrides.to_json() != stored:
            self._wake.set()  # some ended while stopped: store that once the engine runs
        self._thread = threading.Thread(target=self._run, name="overrides", daemon=True)
        self._thread.start()

    def save(self) -> None:
        """Store the overrides as they are now (read on the engine thread)."""
        with self._lock:  # one read-and-write at a time: the last write is the newest
            data = self.runner.call(self.engine.overrides.to_json)
            value = json.dumps(data, separators=(",", ":"))
            with immediate(self.db) as conn:
                conn.execute(delete(meta).where(meta.c.key == META_KEY))
                conn.execute(insert(meta).values(key=META_KEY, value=value))

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            try:
                self.save()
            except Exception:
                log.exception("storing the overrides failed; the next change tries again")

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(2.0)
