"""The journal's expired default-partition rows deleted by a SECURITY DEFINER function, so the
application role needs no DELETE on object_events at all.

The journal is append-only by grant, not by convention: landing.db.roles gives the application role
SELECT and INSERT on object_events and its partitions, never UPDATE, DELETE or TRUNCATE. Retention
still works: whole months go through landing_journal_drop_partition (revision 0008), and the few rows
the default partition holds past the cutoff through this function, owned by the migration user, with
EXECUTE revoked from PUBLIC and granted to the application role by landing.db.roles.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# search_path is pinned so a caller cannot redirect the names the function uses.
EXPIRE_DEFAULT = """
CREATE FUNCTION landing_journal_expire_default(cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    expired bigint;
BEGIN
    DELETE FROM object_events_default WHERE record_timestamp < cutoff;
    GET DIAGNOSTICS expired = ROW_COUNT;
    RETURN expired;
END
$$"""
SIGNATURE = "landing_journal_expire_default(timestamptz)"


def upgrade() -> None:
    schema = op.get_bind().execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one()
    op.execute(sa.text(EXPIRE_DEFAULT.replace("{schema}", schema)))
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
