"""The journal's last_modified_date (S3 Metadata's journal has it): the record's version as HeadObject
dated it. A nullable column without a default: recorded in the catalog only, no row rewritten, no
index touched. The partition upkeep function moves rows column by column: redefined with it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK_TIMEOUT = "5s"


def _columns() -> tuple[str, str]:
    """(0010's column list for moving rows, the same with last_modified_date)."""
    previous = importlib.import_module("landing.db.migrations.versions.0010_s3_metadata_columns")
    moved = importlib.import_module("landing.db.migrations.versions.0008_journal_maintenance_functions")
    new = ", ".join(name for name, _ in (*previous.JOURNAL_ONLY, *previous.METADATA))
    columns = f"{moved.ALL_COLUMNS}, {new}"
    return columns, f"{columns}, last_modified_date"


def _redefine(columns: str) -> None:
    previous = importlib.import_module("landing.db.migrations.versions.0010_s3_metadata_columns")
    op.execute(sa.text(previous._create_partition_function(columns)))


def upgrade() -> None:
    op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    op.execute("ALTER TABLE object_events ADD COLUMN last_modified_date timestamptz")
    _redefine(_columns()[1])


def downgrade() -> None:
    op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    _redefine(_columns()[0])
    op.execute("ALTER TABLE object_events DROP COLUMN last_modified_date")
