"""uploads.size_announced: whether the client announced the size (POST /uploads) or not (the /s3 routes).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every upload so far announced its size; a constant default adds the column without a rewrite.
    op.add_column(
        "uploads", sa.Column("size_announced", sa.Boolean(), nullable=False, server_default=sa.true())
    )


def downgrade() -> None:
    op.drop_column("uploads", "size_announced")
