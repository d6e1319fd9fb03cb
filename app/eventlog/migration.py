"""The event log's schema: Alembic migrations, a copy before each upgrade.

Alembic (and Mako with it) is imported only when a migration is due: a start on
a log already at :data:`HEAD_REVISION`, the usual case, reads the revision with
one query and keeps Alembic out of the io process (a test holds the constant to
the migrations' head).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, inspect

from app.eventlog.database import MigrationError, use_immediate
from app.eventlog.files import free_name, remove_db_files, utc_stamp
from app.eventlog.rows import insert_events
from app.events import Cause, Event, EventStamper, Kind

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
EVENTLOG_CHANNEL = "eventlog"  # the channel of the log's own events
#: the newest revision in migrations/versions (tests/eventlog/test_migrations.py
#: checks it against Alembic's own idea of the head)
HEAD_REVISION = "0002"


def alembic_config(
    migrations_dir: Path | None = None, connection: Connection | None = None
) -> Config:
    """An Alembic config for the migrations, optionally bound to ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir or MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision(migrations_dir: Path | None = None) -> str:
    """The newest schema revision this version of the code knows."""
    if migrations_dir is None:
        return HEAD_REVISION
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(migrations_dir)).get_current_head()
    if head is None:
        raise MigrationError("no migrations found")
    return head


def upgrade(connection: Connection, migrations_dir: Path | None) -> str:
    """Upgrade to head inside the caller's transaction; return the head revision."""
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(migrations_dir, connection)
    command.upgrade(config, "head")
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _current_revision(engine: Engine) -> str | None:
    """The revision recorded in the log (None: none yet), read without Alembic."""
    with engine.connect() as connection:
        found = connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).first()
        if found is None:
            return None
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    return str(versions[0][0]) if len(versions) == 1 else None


def _backup(connection: Connection, target: Path) -> None:
    """A consistent copy of the database behind ``connection`` (SQLite's backup API)."""
    source = connection.connection.dbapi_connection
    assert isinstance(source, sqlite3.Connection)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()


def migrate(
    engine: Engine,
    path: Path,
    *,
    existed: bool,
    stamper: EventStamper,
    migrations_dir: Path | None,
) -> list[Event]:
    """Upgrade an existing or new (empty) log to head; back it up first if it has data."""
    if migrations_dir is None and _current_revision(engine) == HEAD_REVISION:
        return []  # the usual start: nothing to do, and no Alembic to import
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(migrations_dir))
    head = script.get_current_head()
    with engine.connect() as connection:
        use_immediate(connection)
        with connection.begin():
            current = MigrationContext.configure(connection).get_current_revision()
            tables = inspect(connection).get_table_names()
        if current == head:
            return []
        if current is not None:
            try:
                script.get_revision(current)
            except Exception as exc:
                raise MigrationError(
                    f"{path} is at schema revision {current!r}, which this version does "
                    "not know (written by a newer version?). Install that version again "
                    "or restore the .bak copy made before it upgraded the file."
                ) from exc
        backup = None
        if tables:  # (outside a transaction: the backup API reads the source itself)
            stamp = utc_stamp(stamper.clock.utc_us())
            backup = free_name(path.with_name(f"{path.name}.pre-{current or 'base'}-{stamp}.bak"))
            try:
                _backup(connection, backup)
            except sqlite3.Error as exc:
                remove_db_files(backup)
                raise MigrationError(
                    f"could not copy {path} to {backup.name} before upgrading it: {exc}"
                ) from exc
        with connection.begin():
            if MigrationContext.configure(connection).get_current_revision() != current:
                raise MigrationError(f"{path} changed while it was being copied; try again")
            try:
                revision = upgrade(connection, migrations_dir)
            except Exception as exc:
                raise MigrationError(
                    f"upgrading {path} from {current or 'an empty file'} to {head} failed "
                    f"({exc}); it is unchanged"
                    + (f", and a copy is in {backup.name}" if backup else "")
                ) from exc
            if current is None:
                # A file that existed but held no tables (a crash during the very first
                # start) is initialised in place: it held no events to lose.
                detail: dict[str, Any] = {"revision": revision, "found_empty_file": existed}
                state = "log-created"
            else:
                detail = {"from": current, "to": revision, "backup": backup and backup.name}
                state = "log-migrated"
            event = stamper.make(
                Kind.SYSTEM, state, Cause.SYSTEM, channel=EVENTLOG_CHANNEL, detail=detail
            )
            return insert_events(connection, [event])
