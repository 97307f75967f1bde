"""Reconcile state: where the scheduled reconcile of each (bucket, prefix) resumes, and who holds it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.Text(collation="C")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reconcile_state",
        sa.Column("bucket", sa.Text(), primary_key=True),
        sa.Column("prefix", KEY, primary_key=True),
        sa.Column("after_key", KEY),
        sa.Column("run_started_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", TS),
        sa.Column("owner", sa.Text()),
        sa.Column("lease_expires_at", TS),
        sa.Column("scanned", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("inserted", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("updated", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("deleted", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("left_alone", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("reconcile_state")
