"""objects.metadata_read_at: when S3 was asked for the metadata the row holds, so that of two metadata
updates processed at once the later read wins, whichever commits last. A nullable column without a
default on objects: recorded in the catalog only, no row rewritten.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("ALTER TABLE objects ADD COLUMN metadata_read_at timestamptz")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("ALTER TABLE objects DROP COLUMN metadata_read_at")
