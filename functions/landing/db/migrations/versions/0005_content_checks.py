"""Content checks: detected types, malware scan verdicts (objects, uploads, a scan journal), quarantine.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.Text(collation="C")
TS = sa.DateTime(timezone=True)
OLD_STATUSES = ("pending", "uploaded", "rejected", "expired")
STATUSES = (*OLD_STATUSES, "quarantined", "scanning")
CLEAR_VERDICT_FUNCTION = """
CREATE FUNCTION objects_clear_verdict() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.scan_status := NULL;
    NEW.scanned_at := NULL;
    RETURN NEW;
END
$$
"""
SCAN_RESULTS = ("NO_THREATS_FOUND", "THREATS_FOUND", "UNSUPPORTED", "ACCESS_DENIED", "FAILED")


def upgrade() -> None:
    op.drop_constraint("ck_uploads_status", "uploads", type_="check")
    op.create_check_constraint("ck_uploads_status", "uploads", f"status IN {STATUSES}")
    for table in ("objects", "uploads"):
        op.add_column(table, sa.Column("scan_status", sa.String(16)))
        op.add_column(table, sa.Column("scanned_at", TS))
        op.add_column(table, sa.Column("detected_type", sa.Text()))
        op.create_check_constraint(
            f"ck_{table}_scan_status", table, f"scan_status IS NULL OR scan_status IN {SCAN_RESULTS}"
        )
    op.create_table(
        "object_scans",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("key", KEY, nullable=False),
        sa.Column("version_id", sa.Text()),
        sa.Column("e_tag", sa.Text()),
        sa.Column("scan_status", sa.String(32), nullable=False),
        sa.Column("scan_result_status", sa.String(16), nullable=False),
        sa.Column("threats", JSONB()),
        sa.Column("record_timestamp", TS, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("event_id", name="uq_object_scans_event_id"),
        sa.CheckConstraint(f"scan_result_status IN {SCAN_RESULTS}", name="ck_object_scans_result"),
    )
    op.create_index("ix_object_scans_bucket_key", "object_scans", ["bucket", "key"])
    # A verdict describes one body: whatever replaces or deletes that body (an event, a reconcile
    # repair, a hand-written UPDATE) clears it. The WHEN clause keeps rows without a verdict, the
    # ingest hot path, from paying for a function call.
    op.execute(CLEAR_VERDICT_FUNCTION)
    op.execute(
        "CREATE TRIGGER objects_clear_verdict BEFORE UPDATE ON objects FOR EACH ROW "
        "WHEN (OLD.scan_status IS NOT NULL AND (NEW.e_tag IS DISTINCT FROM OLD.e_tag "
        "OR NEW.version_id IS DISTINCT FROM OLD.version_id OR NEW.is_deleted)) "
        "EXECUTE FUNCTION objects_clear_verdict()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER objects_clear_verdict ON objects")
    op.execute("DROP FUNCTION objects_clear_verdict()")
    op.drop_table("object_scans")
    for table in ("uploads", "objects"):
        op.drop_constraint(f"ck_{table}_scan_status", table, type_="check")
        op.drop_column(table, "detected_type")
        op.drop_column(table, "scanned_at")
        op.drop_column(table, "scan_status")
    op.execute(
        "UPDATE uploads SET status = 'rejected', rejection_reason = 'quarantined: ' || "
        "coalesce(rejection_reason, 'malware found') WHERE status = 'quarantined'"
    )
    op.execute("UPDATE uploads SET status = 'uploaded' WHERE status = 'scanning'")
    op.drop_constraint("ck_uploads_status", "uploads", type_="check")
    op.create_check_constraint("ck_uploads_status", "uploads", f"status IN {OLD_STATUSES}")
