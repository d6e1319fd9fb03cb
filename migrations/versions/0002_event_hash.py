"""Each event carries a hash chained to the one before it (a tamper-evident log).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 00:00:00

Rows written before this revision have no hash; the chain starts at the first row
written after it. Only ``op`` and ``sa`` here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("hash", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("hash")
