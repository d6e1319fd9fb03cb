"""Alembic environment for the event log database (SQLite).

The database: a connection in ``config.attributes["connection"]`` (the service
and the tests migrate programmatically), else ``-x db=PATH``, else the log of the
settings (``$ALARMBRIDGE_DATA_DIR/alarmbridge.db``, ``./data/alarmbridge.db`` by
default).
"""

from __future__ import annotations

from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import Connection

from app.eventlog.database import make_engine, use_immediate
from app.eventlog.schema import metadata
from app.settings import Settings

config = context.config
target_metadata = metadata

# Only the command line configures logging: a programmatic caller (the service,
# pytest) has its own, which fileConfig would replace.
if config.config_file_name is not None and config.cmd_opts is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_path() -> Path:
    """Where the database is, when no connection was handed over."""
    db = context.get_x_argument(as_dictionary=True).get("db")
    if db:
        return Path(db)
    return Settings().db_path  # ALARMBRIDGE_DATA_DIR, as the appliance reads it


def configure(**kwargs: object) -> None:
    """Configure the migration context the same way online and offline."""
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: copy-and-move tables
        compare_type=True,
        # app.eventlog.database emits BEGIN itself, so SQLite's DDL is transactional:
        # a failed upgrade leaves the database as it was.
        transactional_ddl=True,
        **kwargs,
    )


def run_on(connection: Connection) -> None:
    """Migrate on ``connection``."""
    configure(connection=connection)
    # Joins the caller's transaction if there is one, else begins and commits its own.
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """``alembic upgrade --sql``: print the SQL instead of running it."""
    configure(url=f"sqlite:///{database_path()}", literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate the caller's connection, or the database file found by :func:`database_path`."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    path = database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(path)
    try:
        with engine.connect() as connection:
            run_on(use_immediate(connection))
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
