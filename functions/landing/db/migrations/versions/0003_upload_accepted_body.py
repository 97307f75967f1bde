"""Uploads remember the object body they were decided on (e_tag, version_id), so a replay is told apart.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and without a default: adding them rewrites nothing. Uploads decided before this
    # revision keep NULL (nothing to compare a replay with); ingest fills them from now on.
    op.add_column("uploads", sa.Column("e_tag", sa.Text()))
    op.add_column("uploads", sa.Column("version_id", sa.Text()))


def downgrade() -> None:
    op.drop_column("uploads", "version_id")
    op.drop_column("uploads", "e_tag")
