"""Event outbox: every upload status change writes the lifecycle event it publishes, in the same transaction.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A trigger rather than application code: every path that moves an upload (ingest's decision, the
# bulk expiry UPDATE, an abort, a quarantine, an operator's psql session) writes its event by
# construction, in the transaction that makes the change, so a rollback takes the event with it.
# Timestamps are rendered as the API renders them (UTC, milliseconds, Z).
UPLOAD_EVENT_FUNCTION = """
CREATE FUNCTION landing_upload_status_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_outbox (upload_id, detail_type, detail)
    VALUES (
        NEW.id,
        CASE NEW.status
            WHEN 'uploaded' THEN 'Upload Completed'
            WHEN 'rejected' THEN 'Upload Rejected'
            WHEN 'expired' THEN 'Upload Expired'
            WHEN 'quarantined' THEN 'Upload Quarantined'
        END,
        jsonb_build_object(
            'upload_id', NEW.id,
            'bucket', NEW.bucket,
            'key', NEW.key,
            'status', NEW.status,
            'previous_status', OLD.status,
            'size', NEW.size,
            'content_type', NEW.content_type,
            'owner', NEW.owner,
            'filename', NEW.filename,
            'method', NEW.method,
            'rejection_reason', NEW.rejection_reason,
            'metadata', NEW.user_metadata,
            'created_at', to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'expires_at', to_char(NEW.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'completed_at', to_char(NEW.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'changed_at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        )
    );
    RETURN NULL;
END
$$
"""

# The statuses an application is told about; a waiting state (pending, or one a later migration adds)
# publishes nothing.
PUBLISHED_STATUSES = ("uploaded", "rejected", "expired", "quarantined")

UPLOAD_EVENT_TRIGGER = f"""
CREATE TRIGGER uploads_status_event
AFTER UPDATE OF status ON uploads
FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN {PUBLISHED_STATUSES})
EXECUTE FUNCTION landing_upload_status_event()
"""


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        # Publishing order: oldest first.
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        # What consumers deduplicate on: the same for every delivery of one status change.
        sa.Column(
            "event_id",
            UUID(as_uuid=True),
            nullable=False,
            unique=True,
            server_default=sa.text("gen_random_uuid()"),
        ),
        # No foreign key: an upload row may be pruned before its last event is published.
        sa.Column("upload_id", UUID(as_uuid=True), nullable=False),
        sa.Column("detail_type", sa.Text(), nullable=False),
        sa.Column("detail", JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text()),
    )
    # The publish-right-after-commit path claims the rows of the uploads it just changed.
    op.create_index("ix_event_outbox_upload_id", "event_outbox", ["upload_id"])
    op.execute(UPLOAD_EVENT_FUNCTION)
    op.execute(UPLOAD_EVENT_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER uploads_status_event ON uploads")
    op.execute("DROP FUNCTION landing_upload_status_event()")
    op.drop_table("event_outbox")
