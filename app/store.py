"""Configuration and manual latches, kept in the same SQLite file as the event log.

Writes run in ``BEGIN IMMEDIATE`` transactions on the caller's thread: they come
from operator commands, never from the relay path.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, delete, insert, select

from app.config import Config
from app.eventlog.database import immediate
from app.eventlog.schema import config as config_table
from app.eventlog.schema import latches as latches_table


class ConfigError(ValueError):
    """A configuration that cannot be used; the message lists every problem."""


def parse_config(data: Any) -> Config:
    """Validate a configuration document, with one readable message on failure."""
    try:
        return Config.model_validate(data)
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
    """Store ``new`` as the configuration."""
    with immediate(db) as conn:
        conn.execute(delete(config_table).where(config_table.c.id == 1))
        conn.execute(
            insert(config_table).values(
                id=1,
                schema_version=new.schema_version,
                body=new.model_dump_json(),
                updated_utc_us=utc_us,
            )
        )


def load_latches(db: Engine) -> list[str]:
    """Outputs started by hand "until stopped", which survive a restart."""
    with db.connect() as conn:
        return [r.output for r in conn.execute(select(latches_table.c.output))]


def save_latches(db: Engine, outputs: list[str], utc_us: int, source: str | None) -> None:
    with immediate(db) as conn:
        kept = {r.output for r in conn.execute(select(latches_table.c.output))}
        conn.execute(delete(latches_table).where(latches_table.c.output.not_in(outputs)))
        for name in outputs:
            if name not in kept:
                conn.execute(
                    insert(latches_table).values(output=name, started_utc_us=utc_us, source=source)
                )
