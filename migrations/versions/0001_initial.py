"""The initial schema: events, config, latches, meta.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00

Only ``op`` and ``sa`` here: never import the application's schema or models,
which describe the newest revision, not this one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("utc_us", sa.Integer(), nullable=False),
        sa.Column("mono_ns", sa.Integer(), nullable=False),
        sa.Column("boot_id", sa.Text(), nullable=False),
        sa.Column("clock_synced", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("dvr_channel", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_events_channel_utc_us_seq"), "events", ["channel", "utc_us", "seq"])
    op.create_index(op.f("ix_events_utc_us_seq"), "events", ["utc_us", "seq"])

    op.create_table(
        "config",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_utc_us", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_config_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config")),
    )
    op.create_table(
        "latches",
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("started_utc_us", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("output", name=op.f("pk_latches")),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_table("latches")
    op.drop_table("config")
    op.drop_index(op.f("ix_events_utc_us_seq"), table_name="events")
    op.drop_index(op.f("ix_events_channel_utc_us_seq"), table_name="events")
    op.drop_table("events")
