"""The tables of the event log database.

This module is the *current* shape of the database, used by queries and by
``alembic check``; :mod:`app.eventlog.rows` maps rows to events. Migrations never
import it: each migration spells out the tables as they were at its revision
(see ``migrations/versions``).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

events = Table(
    "events",
    metadata,
    # AUTOINCREMENT: a sequence number is never reused, even after eviction.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("utc_us", Integer, nullable=False),
    Column("mono_ns", Integer, nullable=False),
    Column("boot_id", Text, nullable=False),
    Column("clock_synced", Boolean, nullable=False),
    Column("kind", Text, nullable=False),
    Column("channel", Text, nullable=True),
    Column("state", Text, nullable=False),
    Column("cause", Text, nullable=False),
    Column("source", Text, nullable=True),
    Column("dvr_channel", Text, nullable=True),
    Column("detail", Text, nullable=True),  # JSON
    # SHA-256 of the previous row's hash and this row (app/eventlog/chain.py)
    Column("hash", LargeBinary, nullable=True),
    # "newest N for a channel in a time range", keyset-paged on (utc_us, seq)
    Index("ix_events_channel_utc_us_seq", "channel", "utc_us", "seq"),
    # the same without a channel
    Index("ix_events_utc_us_seq", "utc_us", "seq"),
    sqlite_autoincrement=True,
)

config = Table(
    "config",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("schema_version", Integer, nullable=False),
    Column("body", Text, nullable=False),  # JSON
    Column("updated_utc_us", Integer, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

latches = Table(
    "latches",
    metadata,
    Column("output", Text, primary_key=True),
    Column("started_utc_us", Integer, nullable=False),
    Column("source", Text, nullable=True),
)

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),  # JSON
)
