"""Configuration and manual latches, kept in the same SQLite file as the event log.

Writes run in ``BEGIN IMMEDIATE`` transactions on the caller's thread: they come
from operator commands, never from the relay path.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, LargeBinary, cast, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from app.config import Config, upgrade_document
from app.eventlog.database import immediate
from app.eventlog.schema import config as config_table
from app.eventlog.schema import latches as latches_table
from app.eventlog.schema import meta
from hardware import BoardSpec

log = logging.getLogger(__name__)
GOOD_KEY = "config.last-good"  # the last configuration that was valid for the board


class ConfigError(ValueError):
    """A configuration that cannot be used; the message lists every problem."""


def parse_config(data: Any) -> Config:
    """Validate a configuration document (a stored or exported one from an older
    version is upgraded first: :func:`app.config.upgrade_document`), with one
    readable message on failure."""
    try:
        return Config.model_validate(upgrade_document(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "config"
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def load_config(db: Engine) -> Config | None:
    """The stored configuration, or None on a fresh appliance."""
    with db.connect() as conn:
        row = conn.execute(select(config_table.c.body).where(config_table.c.id == 1)).first()
    return None if row is None else parse_config(json.loads(row.body))


def save_config(db: Engine, new: Config, utc_us: int) -> None:
    """Store ``new`` as the configuration (and as the last good one: the caller has
    checked that it fits the board)."""
    body = new.model_dump_json()
    with immediate(db) as conn:
        conn.execute(delete(config_table).where(config_table.c.id == 1))
        conn.execute(
            insert(config_table).values(
                id=1,
                schema_version=new.schema_version,
                body=body,
                updated_utc_us=utc_us,
            )
        )
        _keep_good(conn, body, utc_us)


def _keep_good(conn: Connection, body: str, utc_us: int) -> None:
    value = json.dumps({"body": body, "saved_utc_us": utc_us})
    conn.execute(delete(meta).where(meta.c.key == GOOD_KEY))
    conn.execute(insert(meta).values(key=GOOD_KEY, value=value))


@dataclass(frozen=True, slots=True)
class StartupConfig:
    """The configuration the io process starts on, and what was wrong, if anything."""

    config: Config | None  # None: a fresh appliance (nothing stored)
    problem: str | None = None  # why the stored configuration was not used
    used: str = "stored"  # "stored", "last good" or "defaults"

    def message(self, rejected: Path) -> str:
        """What the fault says: what was wrong, what runs, how to repair it."""
        running = "the last good configuration" if self.used == "last good" else "defaults"
        return (
            f"The stored configuration could not be used ({self.problem}). Running on "
            f"{running}; the rejected copy is in {rejected.name}. Save a configuration "
            "(Inputs and Outputs pages, or 'alarmbridge config import') to clear this."
        )


def load_startup_config(db: Engine, spec: BoardSpec, rejected: Path) -> StartupConfig:
    """The stored configuration if it is valid and fits ``spec``; else the last good
    one, else None (the caller uses the defaults), with the problem. A rejected
    configuration is kept, as it was stored, in the file ``rejected``.

    Never raises for bad stored data: the relays must not be dead because of it.
    Text is read as bytes and decoded here, so damaged bytes in the row (not
    UTF-8) are a problem to report, not an exception.
    """
    try:
        with db.connect() as conn:
            row = conn.execute(
                select(cast(config_table.c.body, LargeBinary), config_table.c.updated_utc_us).where(
                    config_table.c.id == 1
                )
            ).first()
            good_raw = conn.execute(
                select(cast(meta.c.value, LargeBinary)).where(meta.c.key == GOOD_KEY)
            ).scalar()
    except SQLAlchemyError as exc:
        return StartupConfig(None, f"it cannot be read ({exc})", "defaults")
    if row is None:
        return StartupConfig(None)
    raw = bytes(row[0] or b"")
    config, problem = _usable(raw, spec)
    if config is not None:
        if good_raw is None and isinstance(row[1], int):  # a log from before last-good copies
            with immediate(db) as conn:
                _keep_good(conn, raw.decode(), row[1])
        return StartupConfig(config)
    rejected.write_bytes(raw)
    if good_raw is not None:
        try:
            good_body = json.loads(bytes(good_raw))["body"]
        except (ValueError, KeyError, TypeError):
            good_body = None
        good, _ = _usable(good_body, spec) if isinstance(good_body, str) else (None, None)
        if good is not None:
            return StartupConfig(good, problem, "last good")
    return StartupConfig(None, problem, "defaults")


def _usable(body: str | bytes, spec: BoardSpec) -> tuple[Config | None, str | None]:
    if isinstance(body, bytes):
        try:
            body = body.decode()
        except UnicodeDecodeError as exc:
            return None, f"it is damaged: not UTF-8 text ({exc.reason} at byte {exc.start})"
    try:
        document = json.loads(body)
    except (ValueError, TypeError) as exc:
        return None, f"not valid JSON ({exc})"
    try:
        config = parse_config(document)
    except ConfigError as exc:
        return None, " ".join(str(exc).split())[:500]
    problems = config.fits(spec)
    if problems:
        return None, f"it does not fit board {spec.name}: " + "; ".join(problems)
    return config, None


def load_latches(db: Engine) -> list[str]:
    """Outputs started by hand "until stopped", which survive a restart. A name with
    damaged bytes matches no output (it is read, not refused)."""
    try:
        with db.connect() as conn:
            found = conn.execute(select(cast(latches_table.c.output, LargeBinary))).scalars()
            return [bytes(name).decode(errors="replace") for name in found]
    except SQLAlchemyError:
        log.exception("the latched outputs cannot be read: none are restored")
        return []
