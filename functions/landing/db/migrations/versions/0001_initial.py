"""Initial schema: uploads, objects (current state), object_events (journal).

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.Text(collation="C")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("key", KEY, nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("max_size", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("completed_at", TS),
        sa.Column("filename", sa.Text()),
        sa.Column("method", sa.String(16)),
        sa.Column("checksum_sha256", sa.Text()),
        sa.Column("user_metadata", postgresql.JSONB()),
        sa.Column("multipart_upload_id", sa.Text()),
        sa.Column("size", sa.BigInteger()),
        sa.Column("rejection_reason", sa.Text()),
        sa.UniqueConstraint("bucket", "key", name="uq_uploads_bucket_key"),
        sa.CheckConstraint(
            "status IN ('pending', 'uploaded', 'rejected', 'expired')", name="ck_uploads_status"
        ),
        sa.CheckConstraint("max_size > 0", name="ck_uploads_max_size"),
    )
    op.create_index("ix_uploads_owner_status_created", "uploads", ["owner", "status", "created_at"])
    op.create_index(
        "ix_uploads_pending_expires",
        "uploads",
        ["expires_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "objects",
        sa.Column("bucket", sa.Text(), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("version_id", sa.Text()),
        sa.Column("sequence_number", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger()),
        sa.Column("e_tag", sa.Text()),
        sa.Column("content_type", sa.Text()),
        sa.Column("storage_class", sa.Text()),
        sa.Column("user_metadata", postgresql.JSONB()),
        sa.Column("checksum_algorithm", sa.Text()),
        sa.Column("last_modified_date", TS),
        sa.Column("is_deleted", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("deleted_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column(
            "upload_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("uploads.id", ondelete="SET NULL"),
        ),
    )
    op.create_index("ix_objects_updated_at", "objects", ["updated_at"])
    op.create_index(
        "ix_objects_upload_id",
        "objects",
        ["upload_id"],
        postgresql_where=sa.text("upload_id IS NOT NULL"),
    )

    op.create_table(
        "object_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("key", KEY, nullable=False),
        sa.Column("sequence_number", sa.Text(), nullable=False),
        sa.Column("record_type", sa.String(8), nullable=False),
        sa.Column("event_name", sa.Text(), nullable=False),
        sa.Column("record_timestamp", TS, nullable=False),
        sa.Column("version_id", sa.Text()),
        sa.Column("size", sa.BigInteger()),
        sa.Column("e_tag", sa.Text()),
        sa.Column("request_id", sa.Text()),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint(
            "bucket", "key", "sequence_number", "record_type", name="uq_object_events_identity"
        ),
        sa.CheckConstraint("record_type IN ('CREATE', 'DELETE')", name="ck_object_events_record_type"),
        sa.CheckConstraint(
            "source IN ('s3', 'sqs', 'eventbridge', 'reconcile')", name="ck_object_events_source"
        ),
    )
    op.create_index("ix_object_events_record_timestamp", "object_events", ["record_timestamp"])


def downgrade() -> None:
    op.drop_table("object_events")
    op.drop_table("objects")
    op.drop_table("uploads")
